// Command gateway measures what "groq serve" adds to a call: the same calls go
// to a zero-latency upstream on loopback directly, and through the gateway (a
// groq.Client with no limit to wait for, behind the OpenAI-compatible handler),
// in one run; it prints the latency percentiles of both, what the gateway adds,
// its throughput, and the heap after a tenth of the calls and after all of them.
//
//	cd bench && go run ./gateway -n 100000 -workers 16
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/internal/gateway"
)

const answer = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"An answer."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12},"x_groq":{"id":"req_1"}}`

func main() {
	n := flag.Int("n", 100000, "calls through the gateway at full load (and a fifth as many direct)")
	workers := flag.Int("workers", 16, "callers at once, for the throughput")
	probes := flag.Int("latency-calls", 5000, "calls from one caller, for the latency")
	closed := flag.Bool("closed", false, "the closed-loop table: direct, groq serve (a child process) and each -other gateway at each -c, -n calls a row")
	var cc closedConfig
	conc := flag.String("c", "1,16,64", "with -closed: the callers at once, one row each")
	flag.Var(&cc.others, "other", "with -closed: another gateway's chat URL, as NAME=URL, pointed at -upstream (repeatable)")
	flag.StringVar(&cc.upstream, "upstream", "", "with -closed: the upstream's listen address (host:port), for -other gateways to point at; default any port")
	flag.IntVar(&cc.maxProcs, "gomaxprocs", 1, "with -closed: the gateway's GOMAXPROCS")
	flag.StringVar(&cc.taskset, "taskset", "", "with -closed: the CPU list the gateway runs on (taskset -c), as 1")
	flag.StringVar(&cc.cpuProfile, "cpuprofile", "", "with -closed: write the gateway's CPU profile to this file")
	flag.StringVar(&cc.gatewayArgs, "gateway-args", "", "with -closed: more flags for groq serve, space-separated")
	child := flag.Bool("serve-child", false, "internal: run as the gateway")
	flag.Parse()
	if *child {
		os.Exit(serveChild(flag.Args(), cc.cpuProfile))
	}
	if *closed {
		cc.n = *n
		for _, f := range strings.Split(*conc, ",") {
			c, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || c < 1 {
				log.Fatalf("-c %q: a list of positive numbers", *conc)
			}
			cc.conc = append(cc.conc, c)
		}
		if err := runClosed(cc); err != nil {
			log.Fatal(err)
		}
		return
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req_1")
		io.WriteString(w, answer)
	}))
	defer up.Close()
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_bench"), groq.WithBaseURL(up.URL), groq.WithModelLimits("m", groq.Limits{}), groq.WithRPM(0),
		groq.WithMaxConcurrency(4**workers), groq.WithMaxQueue(0))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	gw, err := gateway.New(c, gateway.Config{Tokens: []gateway.Token{{Name: "bench", Secret: "gw_bench"}}})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: gw}
	go srv.Serve(ln)
	defer srv.Close()

	body := []byte(`{"model":"m","messages":[{"role":"user","content":"What is red teaming?"}]}`)
	directURL, gwURL := up.URL+"/chat/completions", "http://"+ln.Addr().String()+"/openai/v1/chat/completions"
	// Latency: one caller, the two paths in turn, so that both see the same machine.
	var dl, gl result
	for range 5 {
		dl = dl.merge(load(directURL, "gsk_bench", body, *probes/5, 1, nil))
		gl = gl.merge(load(gwURL, "gw_bench", body, *probes/5, 1, nil))
	}
	// Throughput and memory: many callers.
	direct := load(directURL, "gsk_bench", body, max(*n/5, 1000), *workers, nil)
	var heap10 uint64
	through := load(gwURL, "gw_bench", body, *n, *workers, func(done int) {
		if done == *n/10 {
			heap10 = heapInUse()
		}
	})
	heapEnd := heapInUse()
	fmt.Printf("gateway overhead: zero-latency upstream on loopback, %s, GOMAXPROCS %d\n", runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Printf("  latency, one caller, %d calls each way:\n", *probes)
	fmt.Printf("    direct   p50 %8s  p99 %8s\n", us(dl.p(50)), us(dl.p(99)))
	fmt.Printf("    gateway  p50 %8s  p99 %8s\n", us(gl.p(50)), us(gl.p(99)))
	fmt.Printf("    added    p50 %8s  p99 %8s\n", us(gl.p(50)-dl.p(50)), us(gl.p(99)-dl.p(99)))
	fmt.Printf("  throughput, %d callers: direct %.0f calls/s (%d calls), gateway %.0f calls/s (%d calls)\n", *workers, direct.rate, len(direct.lat), through.rate, *n)
	fmt.Printf("  heap in use after GC: %.1f MB at %d calls through the gateway, %.1f MB at %d\n", float64(heap10)/1e6, *n/10, float64(heapEnd)/1e6, *n)
	if failed := through.failed + direct.failed + dl.failed + gl.failed; failed > 0 {
		fmt.Printf("  FAILED: %d calls\n", failed)
		os.Exit(1)
	}
}

type result struct {
	lat    []time.Duration
	rate   float64
	failed int64
}

func (r result) p(q int) time.Duration { return r.lat[min(len(r.lat)-1, len(r.lat)*q/100)] }

// merge is r and o's calls together, sorted.
func (r result) merge(o result) result {
	r.lat = append(r.lat, o.lat...)
	slices.Sort(r.lat)
	r.failed += o.failed
	return r
}

// load sends n POSTs of body to url from workers callers and measures each.
func load(url, token string, body []byte, n, workers int, progress func(done int)) result {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2}}
	lat := make([]time.Duration, n)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				t := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				lat[i] = time.Since(t)
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
				}
				if progress != nil {
					mu.Lock()
					progress(i + 1)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	hc.CloseIdleConnections()
	slices.Sort(lat)
	return result{lat: lat, rate: float64(n) / took.Seconds(), failed: failed.Load()}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }
