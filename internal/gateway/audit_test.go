package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/metrics"
)

// setupGW is setup for an upstream URL of the test's own, returning the
// gateway so that a test can shorten its bounds (before its first call).
func setupGW(t *testing.T, upstream string, tokens []Token, copts ...groq.Option) (*Gateway, *httptest.Server) {
	t.Helper()
	m := metrics.New()
	c, err := groq.NewClient(append([]groq.Option{groq.WithAPIKeys("gsk_upstream_secret"), groq.WithBaseURL(upstream),
		groq.WithMaxConcurrency(64), groq.WithObserver(m.Observer()), ClientOption()}, copts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	m.SetClient(c)
	gw, err := New(c, Config{Tokens: tokens, Metrics: m})
	require.NoError(t, err)
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	return gw, front
}

func errorCode(t *testing.T, data []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code string }
	}
	require.NoError(t, json.Unmarshal(data, &e), string(data))
	return e.Error.Code
}

// TestModelNamesAreBounded (audit 1): a model name past 256 bytes is a 400, and
// names Groq does not list are 404s that reach neither Groq nor the metrics.
func TestModelNamesAreBounded(t *testing.T) {
	srv, front, _ := setup(t, nil, nil)
	resp, data := post(t, http.DefaultClient, front.URL, "", `{"model":"`+strings.Repeat("m", 1<<20)+`","messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Less(t, len(data), 1000, "the answer does not echo the name")
	for i := range 50 {
		resp, data = post(t, http.DefaultClient, front.URL, "", fmt.Sprintf(`{"model":"rnd-model-%d","messages":[{"role":"user","content":"hi"}]}`, i))
		require.Equal(t, http.StatusNotFound, resp.StatusCode, string(data))
		assert.Equal(t, "model_not_found", errorCode(t, data))
	}
	assert.Zero(t, srv.Stats().Requests, "no call reached Groq")
	resp, data = post(t, http.DefaultClient, front.URL, "", hello)
	require.Equal(t, 200, resp.StatusCode, string(data))
	mresp, err := http.Get(front.URL + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	assert.NotContains(t, string(body), "rnd-model-", "no series for a refused name")
	assert.Contains(t, string(body), "go_goroutines", "Go runtime metrics")
}

// endlessStream is an upstream that streams 4 KB chunks until its caller goes.
func endlessStream(t *testing.T) *httptest.Server {
	t.Helper()
	content := strings.Repeat("x", 4096)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/models" {
			io.WriteString(w, `{"object":"list","data":[{"id":"m","object":"model"}]}`)
			return
		}
		var req struct{ Stream bool }
		json.NewDecoder(r.Body).Decode(&req)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for r.Context().Err() == nil {
			if _, err := fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", content); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(up.Close)
	return up
}

// stuckReader sends a streamed chat and never reads the answer.
func stuckReader(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	conn.(*net.TCPConn).SetReadBuffer(4096)
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)
	return conn
}

// TestStuckStreamReadersFreeTheirSlots (audit 2): with 2 slots, two callers that
// stop reading their streams hold them only for the write bound: another call
// is then answered.
func TestStuckStreamReadersFreeTheirSlots(t *testing.T) {
	up := endlessStream(t)
	gw, slow := setupGW(t, up.URL, nil, groq.WithMaxConcurrency(2), groq.WithModelLimits("m", groq.Limits{RPM: 1_000_000, TPM: 1_000_000_000}))
	gw.writeTimeout = 300 * time.Millisecond
	// The same gateway behind small socket buffers, which a stuck reader fills sooner.
	front := httptest.NewUnstartedServer(gw)
	front.Listener = smallBuffers{front.Listener}
	front.Start()
	defer front.Close()
	slow.Close()
	addr := strings.TrimPrefix(front.URL, "http://")
	for range 2 {
		defer stuckReader(t, addr).Close()
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	resp, data := post(t, http.DefaultClient, front.URL, "", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "X-Groq-Timeout", "30s")
	require.Equal(t, 200, resp.StatusCode, string(data))
	assert.Less(t, time.Since(start), 20*time.Second)
	t.Logf("answered after %s", time.Since(start).Round(time.Millisecond))
}

// smallBuffers gives each accepted connection a 16 KB send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// TestLoopbackGatewayRefusesWebPages (audit 5): without tokens, a Host that is
// not loopback, a foreign browser Origin and a chat body that is not JSON are
// refused before anything reaches Groq; an allowed Origin passes.
func TestLoopbackGatewayRefusesWebPages(t *testing.T) {
	srv := groqtest.NewServer()
	defer srv.Close()
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_upstream_secret"), groq.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	defer c.Close()
	gw, err := New(c, Config{AllowedOrigins: []string{"http://localhost:3000"}})
	require.NoError(t, err)
	front := httptest.NewServer(gw)
	defer front.Close()
	send := func(host, origin, ctype string) int {
		req, _ := http.NewRequest(http.MethodPost, front.URL+"/v1/chat/completions", strings.NewReader(hello))
		req.Host = host
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	addr := strings.TrimPrefix(front.URL, "http://")
	assert.Equal(t, http.StatusForbidden, send("evil.example:8080", "", "application/json"), "DNS rebinding")
	assert.Equal(t, http.StatusForbidden, send(addr, "http://evil.example", "application/json"), "a foreign page")
	assert.Equal(t, http.StatusUnsupportedMediaType, send(addr, "", "application/x-www-form-urlencoded"), "a plain HTML form")
	assert.Equal(t, http.StatusUnsupportedMediaType, send(addr, "", "text/plain"), "a plain HTML form")
	assert.Zero(t, srv.Stats().Requests, "nothing reached Groq")
	assert.Equal(t, 200, send(addr, "http://localhost:3000", "application/json; charset=utf-8"))
	assert.Equal(t, 200, send("localhost:8080", "", "application/json"))
}

// TestSlowBodiesAreBounded (audit 6): a body that stalls is cut at the read
// bound, and bodies wait for room among those in flight: past it, a 503.
func TestSlowBodiesAreBounded(t *testing.T) {
	srv := groqtest.NewServer()
	defer srv.Close()
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_upstream_secret"), groq.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	defer c.Close()
	gw, err := New(c, Config{MaxBodiesInFlight: 1 << 20, Tokens: []Token{{Name: "a", Secret: "ta"}}})
	require.NoError(t, err)
	gw.bodyTimeout, gw.bodyWait = 300*time.Millisecond, 100*time.Millisecond
	front := httptest.NewServer(gw)
	defer front.Close()
	addr := strings.TrimPrefix(front.URL, "http://")
	stall := func(n int) net.Conn {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer ta\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"mo", addr, n)
		return conn
	}
	a := stall(700 << 10)
	defer a.Close()
	time.Sleep(50 * time.Millisecond)
	b := stall(700 << 10) // does not fit beside a
	defer b.Close()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, _ := http.ReadResponse(bufio.NewReader(b), nil)
	require.NotNil(t, status, "an answer to the body that does not fit")
	assert.Equal(t, http.StatusServiceUnavailable, status.StatusCode)
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(a), nil)
	if err == nil {
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "the stalled body is cut")
	}
	assert.Less(t, time.Since(start), 2*time.Second, "the stalled body's connection ends at the read bound")
	resp2, data := post(t, http.DefaultClient, front.URL, "ta", hello)
	assert.Equal(t, 200, resp2.StatusCode, string(data), "room again once they are gone")
}

// TestBudgetIsReservedBeforeSending (audit 7): 30 concurrent calls on a
// 100-token budget spend about the budget, not 30 calls' worth; a stream
// abandoned after its first chunk is charged.
func TestBudgetIsReservedBeforeSending(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithLatency(time.Second, 0), groqtest.WithStreamChunkDelay(50*time.Millisecond))
	defer srv.Close()
	gw, front := setupGW(t, srv.URL(), []Token{{Name: "a", Secret: "ta", DailyTokens: 100}, {Name: "b", Secret: "tb", DailyTokens: 100_000}})
	var wg sync.WaitGroup
	var ok, spent atomic.Int64
	for range 30 {
		wg.Go(func() {
			resp, data := post(t, http.DefaultClient, front.URL, "ta", hello)
			if resp.StatusCode == 200 {
				ok.Add(1)
				var r groq.ChatResponse
				json.Unmarshal(data, &r)
				spent.Add(int64(r.Usage.TotalTokens))
			}
		})
	}
	wg.Wait()
	assert.GreaterOrEqual(t, ok.Load(), int64(1))
	assert.LessOrEqual(t, ok.Load(), int64(2), "calls past the budget are refused, not sent")

	req, _ := http.NewRequest(http.MethodPost, front.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"llama-3.1-8b-instant","stream":true,"messages":[{"role":"user","content":"tell me a long story about the sea please"}]}`))
	req.Header.Set("Authorization", "Bearer tb")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	require.True(t, strings.HasPrefix(line, "data: "), line)
	resp.Body.Close() // abandoned after the first chunk
	b := gw.tokens[1]
	require.Eventually(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.used > 0 && b.reserved == 0 }, 5*time.Second, 10*time.Millisecond,
		"the abandoned stream is charged")
}

// TestGatewayErrorsSayWhatHappened (audit 10): a wrong method is a 405 with
// Allow; X-Groq-Timeout past 10 minutes is a 400; Groq refusing the gateway's
// key is a 502, not the caller's invalid key; an unreachable Groq is a 502 that
// does not show its address; a wait for a slot past X-Groq-Timeout is a 429;
// /metrics asks for a token when the gateway has tokens.
func TestGatewayErrorsSayWhatHappened(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithKeys("gsk_other"))
	defer srv.Close()
	_, front := setupGW(t, srv.URL(), []Token{{Name: "a", Secret: "ta"}})
	req, _ := http.NewRequest(http.MethodGet, front.URL+"/v1/chat/completions", nil)
	req.Header.Set("Authorization", "Bearer ta")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "POST", resp.Header.Get("Allow"))

	resp, data := post(t, http.DefaultClient, front.URL, "ta", hello, "X-Groq-Timeout", "11m")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, string(data))
	resp, data = post(t, http.DefaultClient, front.URL, "ta", hello)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, string(data))
	assert.Equal(t, "upstream_auth_failed", errorCode(t, data))

	resp, err = http.Get(front.URL + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "/metrics without a token")
	req, _ = http.NewRequest(http.MethodGet, front.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer ta")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	gw3, front3 := setupGW(t, deadURL, nil, groq.WithMaxRetries(0))
	gw3.cfg.Configured = func(string) bool { return true }
	resp, data = post(t, http.DefaultClient, front3.URL, "", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, string(data))
	assert.NotContains(t, string(data), strings.TrimPrefix(deadURL, "http://"), "Groq's address")
}

// TestSlotWaitPastTimeoutIs429 (audit 10): with one slot busy, a call whose
// X-Groq-Timeout passes while it waits for the slot gets a 429 with
// Retry-After (waiting helps), not a 504.
func TestSlotWaitPastTimeoutIs429(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithLatency(2*time.Second, 0))
	defer srv.Close()
	gw, front := setupGW(t, srv.URL(), nil, groq.WithMaxConcurrency(1))
	first := make(chan struct{})
	go func() { defer close(first); post(t, http.DefaultClient, front.URL, "", hello) }()
	require.Eventually(t, func() bool { return gw.c.RateLimits("").InFlight == 1 }, 5*time.Second, 5*time.Millisecond)
	resp, data := post(t, http.DefaultClient, front.URL, "", hello, "X-Groq-Timeout", "300ms")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, string(data))
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	<-first // its slot is free again
	resp, data = post(t, http.DefaultClient, front.URL, "", hello, "X-Groq-Timeout", "1s")
	assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode, "a call sent, whose answer comes too late: %s", data)
}

// TestNoDoneAfterAMidStreamError (audit 10): a stream that breaks after its
// first chunk ends with an error event, not with [DONE].
func TestNoDoneAfterAMidStreamError(t *testing.T) {
	_, front, _ := setup(t, []groqtest.Option{groqtest.WithFaultRate(groqtest.Fault{Kind: groqtest.FaultStreamCut}, 1)}, nil, groq.WithMaxRetries(0))
	resp, data := post(t, http.DefaultClient, front.URL, "", `{"model":"llama-3.1-8b-instant","stream":true,"messages":[{"role":"user","content":"tell me a long story please"}]}`)
	require.Equal(t, 200, resp.StatusCode, string(data))
	assert.Contains(t, string(data), `"error"`)
	assert.NotContains(t, string(data), "[DONE]")
}

// TestCacheIsPerToken (audit 10): with a cache on, one token is not answered
// from another's cached call; the same token is.
func TestCacheIsPerToken(t *testing.T) {
	srv, front, _ := setup(t, nil, []Token{{Name: "a", Secret: "ta"}, {Name: "b", Secret: "tb"}}, groq.WithCache(groq.NewMemoryCache(time.Hour, 100)))
	for _, tok := range []string{"ta", "tb", "ta"} {
		resp, data := post(t, http.DefaultClient, front.URL, tok, hello)
		require.Equal(t, 200, resp.StatusCode, string(data))
	}
	assert.Equal(t, 2, srv.Stats().Requests, "b's call is not a's cached one; a's second is")
}

// TestAnswerBytesPassThrough: a plain answer reaches the caller as the
// upstream sent it, byte for byte (its field order and spacing too): the
// gateway does not encode it again.
func TestAnswerBytesPassThrough(t *testing.T) {
	const answer = `{"object": "chat.completion", "id":"c1","model":"m",  "choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4},"zzz_new_field":[1,2]}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/models" {
			io.WriteString(w, `{"object":"list","data":[{"id":"m","object":"model"}]}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	defer up.Close()
	_, front := setupGW(t, up.URL, nil)
	resp, data := post(t, http.DefaultClient, front.URL, "", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, resp.StatusCode, string(data))
	assert.Equal(t, answer, string(data))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
}

// TestTokensAreComparedAsDigests (audit 10): the gateway compares fixed-size
// digests of the secrets, not the secrets themselves (whose comparison's time
// told their length): with the secret itself gone from memory, the right one
// is still let in and a wrong one of any length refused.
func TestTokensAreComparedAsDigests(t *testing.T) {
	gw, err := New(nil, Config{Tokens: []Token{{Name: "a", Secret: "gw_right_secret"}}})
	require.NoError(t, err)
	gw.tokens[0].Secret = ""
	for secret, want := range map[string]bool{"gw_right_secret": true, "gw_right_secreT": false, "gw": false, "": false, strings.Repeat("x", 1000): false} {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
		r.Header.Set("Authorization", "Bearer "+secret)
		assert.Equal(t, want, gw.caller(r) != nil, "secret %.20q", secret)
	}
}
