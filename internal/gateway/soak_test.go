package gateway

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// TestSoak runs mixed load through the gateway for GROQ_SOAK (a Go duration;
// CI sets 60s; default 3s): plain and streamed calls on an upstream with
// faults (500s, 503s, cut streams, dropped connections), callers that stop
// reading their streams, bodies that stall, and random model names. Every call
// is answered with a status its case allows; goroutines and the heap are flat
// from the first quarter to the end; no random name reaches the metrics.
func TestSoak(t *testing.T) {
	d := 3 * time.Second
	if v := os.Getenv("GROQ_SOAK"); v != "" {
		var err error
		d, err = time.ParseDuration(v)
		require.NoError(t, err, "GROQ_SOAK is a Go duration (60s)")
	}
	up := groqtest.NewServer(groqtest.WithModel("m", groqtest.Limits{}), groqtest.WithLatency(2*time.Millisecond, 2*time.Millisecond), groqtest.WithStreamChunkDelay(time.Millisecond),
		groqtest.WithFaultRate(groqtest.Fault{Kind: groqtest.Fault500}, 0.02), groqtest.WithFaultRate(groqtest.Fault{Kind: groqtest.Fault503}, 0.02),
		groqtest.WithFaultRate(groqtest.Fault{Kind: groqtest.FaultStreamCut}, 0.02), groqtest.WithFaultRate(groqtest.Fault{Kind: groqtest.FaultDisconnect}, 0.01))
	defer up.Close()
	gw, front := setupGW(t, up.URL(), nil, groq.WithMaxConcurrency(16), groq.WithMaxRetries(1),
		groq.WithModelLimits("m", groq.Limits{RPM: 10_000_000, TPM: 1_000_000_000}))
	gw.writeTimeout, gw.bodyTimeout, gw.bodyWait = 300*time.Millisecond, 300*time.Millisecond, 200*time.Millisecond
	addr := strings.TrimPrefix(front.URL, "http://")
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()

	var s soakStats
	stop := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(n int, f func(r *rand.Rand)) {
		for i := range n {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(i), 7))
				for {
					select {
					case <-stop:
						return
					default:
						f(r)
					}
				}
			})
		}
	}
	loop(6, func(*rand.Rand) { s.plain(hc, front.URL) })
	loop(3, func(*rand.Rand) { s.streamed(hc, front.URL) })
	loop(1, func(r *rand.Rand) { s.randomModel(hc, front.URL, r) })
	loop(1, func(*rand.Rand) { s.stuck(addr) })
	loop(1, func(*rand.Rand) { s.stall(addr) })

	time.Sleep(d / 4)
	g1, h1 := settled(hc)
	rss1 := selfRSS()
	time.Sleep(d - d/4)
	rss2 := selfRSS()
	close(stop)
	wg.Wait()
	g2, h2 := settled(hc)
	t.Logf("%s: %d plain, %d streamed, %d random names, %d stuck readers, %d stalled bodies; goroutines %d → %d, heap %.1f → %.1f MB, RSS (the test's process) %.1f → %.1f MB; statuses %v",
		d, s.plainN.Load(), s.streamN.Load(), s.modelN.Load(), s.stuckN.Load(), s.stallN.Load(), g1, g2, float64(h1)/1e6, float64(h2)/1e6, float64(rss1)/1e6, float64(rss2)/1e6, s.statuses())
	if os.Getenv("GROQ_SOAK") != "" { // the long run, without -race (whose shadow memory grows on its own)
		assert.LessOrEqual(t, rss2, rss1+32<<20, "RSS flat")
	}
	assert.Zero(t, s.bad.Load(), "calls answered with a status their case does not allow, or not answered: %v", s.badOnes())
	assert.LessOrEqual(t, g2, g1+10, "goroutines flat")
	assert.LessOrEqual(t, h2, h1+8<<20, "heap flat")
	resp, err := hc.Get(front.URL + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.NotContains(t, string(body), "soak-rnd-", "a random name in the metrics")
	assert.Greater(t, s.plainN.Load(), int64(10))
}

// settled is the goroutines and the heap in use once the callers' idle
// connections are closed and the gateway's handlers have ended.
func settled(hc *http.Client) (int, uint64) {
	hc.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m.HeapInuse
}

// selfRSS is this process's resident set size (0 where /proc does not say).
func selfRSS() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(v), &kb)
			return kb << 10
		}
	}
	return 0
}

type soakStats struct {
	plainN, streamN, modelN, stuckN, stallN, bad atomic.Int64
	mu                                           sync.Mutex
	seen                                         map[int]int
	wrong                                        []string
}

func (s *soakStats) note(status int, ok bool, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[int]int{}
	}
	s.seen[status]++
	if !ok {
		s.bad.Add(1)
		if len(s.wrong) < 10 {
			s.wrong = append(s.wrong, what)
		}
	}
}

func (s *soakStats) statuses() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

func (s *soakStats) badOnes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wrong
}

// upstreamFault is what a call may get from the faults: Groq's 500 or 503
// passed on (after the retry), or a 502 for a dropped connection or cut body.
func upstreamFault(status int) bool {
	return status == 500 || status == 502 || status == 503
}

func (s *soakStats) plain(hc *http.Client, url string) {
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	s.plainN.Add(1)
	if err != nil {
		s.note(0, false, "plain: "+err.Error())
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s.note(resp.StatusCode, resp.StatusCode == 200 || upstreamFault(resp.StatusCode), fmt.Sprint("plain: ", resp.StatusCode))
}

func (s *soakStats) streamed(hc *http.Client, url string) {
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"tell me a story"}]}`
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	s.streamN.Add(1)
	if err != nil {
		s.note(0, false, "stream: "+err.Error())
		return
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(data)
	switch {
	case err != nil:
		s.note(resp.StatusCode, false, "stream read: "+err.Error())
	case resp.StatusCode == 200:
		ended := strings.HasSuffix(text, "data: [DONE]\n\n")
		broke := strings.Contains(text, `data: {"error"`) && !strings.Contains(text, "[DONE]")
		s.note(200, ended || broke, "stream: neither [DONE] nor an error event at its end")
	default:
		s.note(resp.StatusCode, upstreamFault(resp.StatusCode), fmt.Sprint("stream: ", resp.StatusCode))
	}
}

func (s *soakStats) randomModel(hc *http.Client, url string, r *rand.Rand) {
	name := fmt.Sprintf("soak-rnd-%d", r.Uint64())
	want := http.StatusNotFound
	if r.IntN(4) == 0 {
		name, want = strings.Repeat("x", 300+r.IntN(5000)), http.StatusBadRequest
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(`{"model":"`+name+`","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	s.modelN.Add(1)
	if err != nil {
		s.note(0, false, "model: "+err.Error())
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s.note(resp.StatusCode, resp.StatusCode == want, fmt.Sprint("random model: ", resp.StatusCode))
}

// stuck starts a stream, reads nothing for a while, and goes.
func (s *soakStats) stuck(addr string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		s.note(0, false, "stuck: "+err.Error())
		return
	}
	s.stuckN.Add(1)
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"tell me a long story about the sea"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)
	time.Sleep(400 * time.Millisecond)
	conn.Close()
}

// stall sends half a body and stops: the gateway answers a 400 at its read
// bound, or closes the connection.
func (s *soakStats) stall(addr string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		s.note(0, false, "stall: "+err.Error())
		return
	}
	defer conn.Close()
	s.stallN.Add(1)
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"model\":", addr)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	switch {
	case err == nil:
		resp.Body.Close()
		s.note(resp.StatusCode, resp.StatusCode == http.StatusBadRequest, fmt.Sprint("stalled body: ", resp.StatusCode))
	case isTimeout(err):
		s.note(0, false, "stalled body: still open after 3 s")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
