package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// This file is -preset models: a work list whose calls accept three models of
// different quotas (Groq's limits are per model), run with this client's
// WithModels against the reactive fallback LiteLLM's router and hand-written
// loops do (send to the first model; on a 429, the next; when all refused, wait
// the shortest Retry-After and start again).

// modelQuota is one model of the server: its RPM (a minute's bucket, Groq's
// shape), RPD, and the part of its day spent before the run (WithSpentToday).
type modelQuota struct {
	Name       string
	RPM, RPD   int
	SpentToday int
}

// dayLeft is what the model's day has left at the start.
func (m modelQuota) dayLeft() int {
	if m.RPD == 0 {
		return int(^uint(0) >> 1)
	}
	return m.RPD - m.SpentToday
}

// modelsScenario is -preset models' workload: Requests calls, each accepting
// every model of Models in order, from Concurrency callers, on one key.
type modelsScenario struct {
	Name        string
	Models      []modelQuota
	Requests    int
	Concurrency int
	Latency     time.Duration
	Deadline    time.Duration // calls not done by then fail
}

// modelsPreset: the preferred model has 50 requests left today, the second a
// minute's bucket of 240, the third one of 480; 800 calls.
var modelsPreset = modelsScenario{
	Name: "three models of different quotas, calls that accept all three",
	Models: []modelQuota{
		{Name: "bench-large", RPM: 120, RPD: 1000, SpentToday: 950},
		{Name: "bench-medium", RPM: 240, RPD: 1000},
		{Name: "bench-small", RPM: 480, RPD: 14_400},
	},
	Requests: 800, Concurrency: 32, Latency: 20 * time.Millisecond, Deadline: 30 * time.Second,
}

func (ms modelsScenario) names() []string {
	out := make([]string, len(ms.Models))
	for i, m := range ms.Models {
		out[i] = m.Name
	}
	return out
}

// Minimum is the least time any client can take: each model serves what its
// minute's bucket holds at once, then its refill, up to what its day has left
// (the day's own refill, a request every 86 s or more, is left out), and the
// callers have Concurrency requests in flight, each taking Latency.
func (ms modelsScenario) Minimum() time.Duration {
	served := func(t time.Duration) int {
		n := 0
		for _, m := range ms.Models {
			n += min(m.dayLeft(), m.RPM+int(float64(m.RPM)*t.Minutes()))
		}
		return n
	}
	lo, hi := time.Duration(0), 24*time.Hour
	switch {
	case served(hi) < ms.Requests:
		return hi
	case served(0) >= ms.Requests:
		hi = 0
	}
	for hi-lo > time.Millisecond {
		mid := (lo + hi) / 2
		if served(mid) >= ms.Requests {
			hi = mid
		} else {
			lo = mid
		}
	}
	waves := (ms.Requests + ms.Concurrency - 1) / ms.Concurrency
	return max(hi, time.Duration(waves-1)*ms.Latency) + ms.Latency
}

// modelsResult is one client's run of the models scenario.
type modelsResult struct {
	Client   string         `json:"client"`
	Scenario string         `json:"scenario"`
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
	Attempts int            `json:"http_attempts"`
	Limited  int            `json:"http_429s"`
	Makespan time.Duration  `json:"makespan_ns"`
	Minimum  time.Duration  `json:"minimum_ns"`
	Ratio    float64        `json:"ratio"`
	Served   map[string]int `json:"served"` // the 200s of each model
	FirstErr string         `json:"first_error,omitempty"`
}

// modelsClient is a contender of the models scenario.
type modelsClient struct {
	name  string
	build func(ms modelsScenario, url, key string, hc *http.Client) (call caller, done func(), err error)
}

var modelsClients = []modelsClient{
	{"groqkit (WithModels)", buildGroqModels},
	{"reactive fallback", buildReactive},
}

// buildGroqModels is this module's client given each model's RPM and RPD (the
// limits a user configures; what the day has left it reads from the answers'
// headers), each call made with WithModels over the list.
func buildGroqModels(ms modelsScenario, url, key string, hc *http.Client) (caller, func(), error) {
	opts := []groq.Option{groq.WithAPIKeys(key), groq.WithBaseURL(url), groq.WithHTTPClient(hc),
		groq.WithMaxConcurrency(ms.Concurrency), groq.WithDefaultModel(ms.Models[0].Name)}
	for _, m := range ms.Models {
		opts = append(opts, groq.WithModelLimits(m.Name, groq.Limits{RPM: m.RPM, RPD: m.RPD}))
	}
	c, err := groq.NewClient(opts...)
	if err != nil {
		return nil, nil, err
	}
	list := groq.WithModels(ms.names()...)
	call := func(ctx context.Context, i int) error {
		_, err := c.Chat(ctx, []groq.Message{groq.User(fmt.Sprintf("question %d", i))}, list)
		return err
	}
	return call, func() { c.Close() }, nil
}

// buildReactive is the fallback people write (LiteLLM's router's fallbacks, the
// loops in Groq users' projects): send to the first model; on a 429 or a 5xx,
// send to the next; when every model refused, wait the shortest Retry-After
// they gave (at least 1 s) and go round again, ten rounds at most.
func buildReactive(ms modelsScenario, url, key string, hc *http.Client) (caller, func(), error) {
	names := ms.names()
	call := func(ctx context.Context, i int) error {
		prompt := fmt.Sprintf("question %d", i)
		var last error
		for range 10 {
			wait := time.Duration(0)
			for _, m := range names {
				status, ra, err := post(ctx, hc, url, key, m, prompt)
				switch {
				case err != nil:
					last = err
					if ctx.Err() != nil {
						return err
					}
					continue
				case status == http.StatusOK:
					return nil
				case status == http.StatusTooManyRequests || status >= 500:
					last = fmt.Errorf("%s: status %d", m, status)
					secs, _ := strconv.ParseFloat(ra, 64)
					if d := time.Duration(secs * float64(time.Second)); d > 0 && (wait == 0 || d < wait) {
						wait = d
					}
					continue
				}
				return fmt.Errorf("%s: status %d", m, status)
			}
			if err := sleepCtx(ctx, max(wait, time.Second)); err != nil {
				return err
			}
		}
		return last
	}
	return call, func() {}, nil
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// server starts a loopback groqtest server with the scenario's models.
func (ms modelsScenario) server(key string) *groqtest.Server {
	opts := []groqtest.Option{groqtest.WithKeys(key), groqtest.WithLatency(ms.Latency, 0)}
	for _, m := range ms.Models {
		opts = append(opts, groqtest.WithModel(m.Name, groqtest.Limits{RPM: m.RPM, RPD: m.RPD}))
		if m.SpentToday > 0 {
			opts = append(opts, groqtest.WithSpentToday(m.Name, m.SpentToday, 0))
		}
	}
	return groqtest.NewServer(opts...)
}

// runModels runs the scenario once with cl on a fresh server.
func runModels(ms modelsScenario, cl modelsClient) (modelsResult, error) {
	const key = "gsk_bench_models"
	srv := ms.server(key)
	defer srv.Close()
	rec := newRecorder()
	defer rec.close()
	call, done, err := cl.build(ms, srv.URL(), key, &http.Client{Transport: rec})
	if err != nil {
		return modelsResult{}, fmt.Errorf("%s: %w", cl.name, err)
	}
	defer done()
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	ctx, stop := context.WithDeadline(context.Background(), start.Add(ms.Deadline))
	defer stop()
	for range ms.Concurrency {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < ms.Requests; i = int(next.Add(1)) - 1 {
				if err := call(ctx, i); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	wg.Wait()
	r := modelsResult{Client: cl.name, Scenario: ms.Name, Failed: int(failed.Load()), OK: ms.Requests - int(failed.Load()),
		Makespan: time.Since(start), Minimum: ms.Minimum(), Served: map[string]int{}}
	st := srv.Stats()
	r.Attempts, r.Limited = st.Requests, st.RateLimited
	for _, a := range srv.Arrivals() {
		if a.Status == http.StatusOK {
			r.Served[a.Model]++
		}
	}
	r.Ratio = float64(r.Makespan) / float64(r.Minimum)
	if e, ok := firstErr.Load().(string); ok {
		r.FirstErr = e
	}
	return r, nil
}

// modelsScenarioFor is the preset with the flags given (-n, -concurrency,
// -latency, -deadline) applied.
func modelsScenarioFor(cfg config) modelsScenario {
	ms := modelsPreset
	ms.Models = slices.Clone(ms.Models)
	if cfg.set["n"] {
		ms.Requests = cfg.sc.Requests
	}
	if cfg.set["concurrency"] {
		ms.Concurrency = cfg.sc.Concurrency
	}
	if cfg.set["latency"] {
		ms.Latency = cfg.sc.Latency
	}
	if cfg.set["deadline"] {
		ms.Deadline = cfg.sc.Deadline
	}
	return ms
}

// runModelsTable runs -preset models: each contender cfg.runs times (the run
// with the median makespan is shown), and one table.
func runModelsTable(out io.Writer, cfg config) ([]modelsResult, error) {
	ms := modelsScenarioFor(cfg)
	var rows []modelsResult
	for _, cl := range modelsClients {
		var rs []modelsResult
		for range cfg.runs {
			r, err := runModels(ms, cl)
			if err != nil {
				return nil, err
			}
			rs = append(rs, r)
		}
		slices.SortFunc(rs, func(a, b modelsResult) int { return int(a.Makespan - b.Makespan) })
		rows = append(rows, rs[len(rs)/2])
	}
	printModelsTable(out, ms, rows, cfg.runs)
	return rows, nil
}

func printModelsTable(out io.Writer, ms modelsScenario, rows []modelsResult, runs int) {
	var quotas []string
	for _, m := range ms.Models {
		q := fmt.Sprintf("%s (RPM %d, RPD %d", m.Name, m.RPM, m.RPD)
		if m.SpentToday > 0 {
			q += fmt.Sprintf(", %d left today", m.dayLeft())
		}
		quotas = append(quotas, q+")")
	}
	fmt.Fprintf(out, "\n%s: %d calls, %d callers, latency %v, one key; models in order of preference: %s; theoretical minimum %v",
		ms.Name, ms.Requests, ms.Concurrency, ms.Latency, strings.Join(quotas, ", "), ms.Minimum().Round(time.Millisecond))
	if runs > 1 {
		fmt.Fprintf(out, "; the run of median makespan of %d", runs)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "client\tok\tfailed\tHTTP attempts\t429s\tmakespan\tratio\t"
	for _, m := range ms.Models {
		head += "served by " + m.Name + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%v\t%.3f\t", r.Client, r.OK, r.Failed, r.Attempts, r.Limited, r.Makespan.Round(time.Millisecond), r.Ratio)
		for _, m := range ms.Models {
			fmt.Fprintf(tw, "%d\t", r.Served[m.Name])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, r := range rows {
		if r.FirstErr != "" {
			fmt.Fprintf(out, "%s: first error: %s\n", r.Client, r.FirstErr)
		}
	}
}
