// Command tracerec records traces of what the client sees (each send, each answer
// with its x-ratelimit-* headers) against groqtest servers of the shapes that
// GROQ_API.md lists, on loopback with real sockets, for the replay tests of the
// root package (learn_trace_internal_test.go):
//
//	go run ./internal/tracerec -o testdata/traces
//
// Each file's first line says the server's limits and what the replay must find;
// every other line is one event.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// Header is a trace's first line.
type Header struct {
	Shape   string      `json:"shape"`
	Limits  groq.Limits `json:"limits"`  // what the client is configured with
	Foreign float64     `json:"foreign"` // the most others' spending may be estimated at, as a share of each limit
	Burst   groq.Limits `json:"burst"`   // the depths the replay must learn (0: the limit's)
}

// Event is one send or answer, at T since the trace began.
type Event struct {
	T       time.Duration     `json:"t"`
	Ev      string            `json:"ev"` // "send" or "answer"
	ID      int64             `json:"id"`
	Status  int               `json:"status,omitempty"`
	Tokens  int               `json:"tokens,omitempty"` // what the server counted (answers)
	Headers map[string]string `json:"headers,omitempty"`
}

type recorder struct {
	mu     sync.Mutex
	start  time.Time
	events []Event
	next   atomic.Int64
	base   http.RoundTripper
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.T = time.Since(r.start)
	r.events = append(r.events, e)
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	id := r.next.Add(1)
	r.add(Event{Ev: "send", ID: id})
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var usage struct {
		Usage struct {
			Total int `json:"total_tokens"`
		} `json:"usage"`
	}
	_ = json.Unmarshal(body, &usage)
	h := map[string]string{}
	for k := range resp.Header {
		if len(k) > 12 && http.CanonicalHeaderKey(k)[:12] == "X-Ratelimit-" {
			h[http.CanonicalHeaderKey(k)] = resp.Header.Get(k)
		}
	}
	r.add(Event{Ev: "answer", ID: id, Status: resp.StatusCode, Tokens: usage.Usage.Total, Headers: h})
	return resp, nil
}

type shape struct {
	name   string
	server groqtest.Limits
	opts   []groqtest.Option
	head   Header
}

func main() {
	out := flag.String("o", "testdata/traces", "the directory to write the traces to")
	n := flag.Int("n", 200, "calls per trace")
	flag.Parse()
	const model = "trace-model"
	shapes := []shape{
		{name: "second-deep-tpm", server: groqtest.Limits{RPM: 600, Burst: 10, RPD: 14_400, TPM: 10_000_000, TokenBurst: 10_000_000 / 60},
			opts: []groqtest.Option{groqtest.WithLatency(20*time.Millisecond, 0)},
			head: Header{Limits: groq.Limits{RPM: 600, TPM: 10_000_000}, Foreign: 0.02, Burst: groq.Limits{TPM: 10_000_000 / 60}}},
		{name: "out-of-order", server: groqtest.Limits{RPM: 120, RPD: 14_400, TPM: 100_000},
			opts: []groqtest.Option{groqtest.WithLatency(10*time.Millisecond, 40*time.Millisecond)},
			head: Header{Limits: groq.Limits{RPM: 120}, Foreign: 0.02}},
	}
	for _, sh := range shapes {
		sh.head.Shape = sh.name
		if err := record(filepath.Join(*out, sh.name+".jsonl"), model, sh, *n); err != nil {
			fmt.Fprintln(os.Stderr, "tracerec:", err)
			os.Exit(1)
		}
	}
}

func record(path, model string, sh shape, n int) error {
	srv := groqtest.NewServer(append([]groqtest.Option{groqtest.WithKeys("gsk_trace"), groqtest.WithModel(model, sh.server)}, sh.opts...)...)
	defer srv.Close()
	rec := &recorder{start: time.Now(), base: http.DefaultTransport.(*http.Transport).Clone()}
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_trace"), groq.WithBaseURL(srv.URL()), groq.WithDefaultModel(model),
		groq.WithHTTPClient(&http.Client{Transport: rec}), groq.WithModelLimits(model, sh.head.Limits), groq.WithMaxConcurrency(16))
	if err != nil {
		return err
	}
	defer c.Close()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				_, _ = c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprintf("question %d", i))})
			}
		})
	}
	wg.Wait()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(sh.head); err != nil {
		return err
	}
	for _, e := range rec.events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
