package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/groqkit/groq/groqtest"
)

// Scenario is one workload and the server it runs against.
type Scenario struct {
	Name        string
	Requests    int           // calls to make
	Keys        int           // API keys, each its own organization
	RPM         int           // the server's requests per minute, per key
	Burst       int           // the server's RPM bucket depth; 0: a minute's worth (Groq's shape)
	Latency     time.Duration // the server's answer time
	Jitter      time.Duration // arrival jitter: random delay before the server counts a request
	FirstConn   time.Duration // extra delay of each connection's first request
	FaultRate   float64       // fraction of requests that get a fault (500, 502, 503, 498, dropped, slow)
	Rolling     bool          // sliding window instead of a token bucket
	LimitsKnown bool          // whether the clients that take limits are given the RPM
	Concurrency int           // callers
	Seed        uint64
	Margin      time.Duration // this module's pacing margin; negative: its default

	RPD        int // the server's requests per day, per key (0: none); every answer then says how many the day has left
	TPM        int // the server's tokens per minute, per key (0: none)
	PromptSize int // characters of each prompt (0: just "question N")
	// OtherShare: another program, which no client sees, spends this share of
	// each key's RPM in requests of one token, or with OtherTokens, of its TPM in
	// requests of OtherTokens each (groqtest.OtherProgram).
	OtherShare  float64
	OtherTokens int
}

// prompt is the i-th request's prompt.
func (sc Scenario) prompt(i int) string {
	p := fmt.Sprintf("question %d", i)
	if n := sc.PromptSize - len(p); n > 0 {
		p += " " + strings.Repeat("x", n-1)
	}
	return p
}

// otherKey is the key of the program that spends key i's quota.
func otherKey(i int) string { return fmt.Sprintf("gsk_other_%d", i) }

// tokenBound reports whether the other program spends the TPM (not the RPM).
func (sc Scenario) tokenBound() bool { return sc.OtherShare > 0 && sc.OtherTokens > 0 && sc.TPM > 0 }

const benchModel = "bench-model"

// Result is one client's run of a scenario.
type Result struct {
	Client    string        `json:"client"`
	Scenario  string        `json:"scenario"`
	OK        int           `json:"ok"`
	Failed    int           `json:"failed"`
	Attempts  int           `json:"http_attempts"`
	Limited   int           `json:"http_429s"`
	MaxPerKey int           `json:"max_429s_per_key"`
	Early     int           `json:"sent_before_retry_after"`
	Makespan  time.Duration `json:"makespan_ns"`
	Minimum   time.Duration `json:"minimum_ns"`
	Ratio     float64       `json:"ratio"`
	FirstErr  string        `json:"first_error,omitempty"`
	// The other program's requests, and how many of them the server refused.
	OtherRequests int `json:"other_requests,omitempty"`
	OtherRefused  int `json:"other_refused,omitempty"`
}

// OtherRefusedShare is the share of the other program's requests refused.
func (r Result) OtherRefusedShare() float64 {
	if r.OtherRequests == 0 {
		return 0
	}
	return float64(r.OtherRefused) / float64(r.OtherRequests)
}

// caller makes one chat call with the i-th request of the workload.
type caller func(ctx context.Context, i int) error

// client builds a caller for a scenario against the server at url (the API root,
// …/openai/v1) with the given keys, sending through hc; done releases it.
type client struct {
	name  string
	build func(sc Scenario, url string, keys []string, hc *http.Client) (call caller, done func(), err error)
}

// server starts a loopback groqtest server shaped by the scenario.
func (sc Scenario) server(keys []string) *groqtest.Server {
	opts := []groqtest.Option{
		groqtest.WithModel(benchModel, groqtest.Limits{RPM: sc.RPM, Burst: sc.Burst, RPD: sc.RPD, TPM: sc.TPM}),
		groqtest.WithLatency(sc.Latency, 0),
		groqtest.WithArrivalJitter(sc.Jitter),
		groqtest.WithFirstConnectionDelay(sc.FirstConn),
		groqtest.WithSeed(sc.Seed),
	}
	if sc.Rolling {
		opts = append(opts, groqtest.WithBucketShape(groqtest.RollingWindow))
	}
	for i, k := range keys {
		if sc.OtherShare == 0 {
			opts = append(opts, groqtest.WithKeys(k))
			continue
		}
		opts = append(opts, groqtest.WithOrganization(fmt.Sprintf("org_bench_%d", i), k, otherKey(i)))
		p := groqtest.OtherProgram{Key: otherKey(i), Model: benchModel, RequestsPerMinute: sc.OtherShare * float64(sc.RPM)}
		if sc.tokenBound() {
			p.Tokens, p.RequestsPerMinute = sc.OtherTokens, sc.OtherShare*float64(sc.TPM)/float64(sc.OtherTokens)
		}
		opts = append(opts, groqtest.WithOtherProgram(p))
	}
	if sc.FaultRate > 0 {
		kinds := []groqtest.Fault{
			{Kind: groqtest.Fault500}, {Kind: groqtest.Fault502}, {Kind: groqtest.Fault503},
			{Kind: groqtest.FaultCapacity}, {Kind: groqtest.FaultDisconnect},
			{Kind: groqtest.FaultSlow, Delay: 10 * sc.Latency},
		}
		// The kinds are drawn in turn: each one's rate is conditional on the ones
		// before it not having fired, so that each gets an equal share of FaultRate.
		share := sc.FaultRate / float64(len(kinds))
		for i, f := range kinds {
			opts = append(opts, groqtest.WithFaultRate(f, share/(1-float64(i)*share)))
		}
	}
	return groqtest.NewServer(opts...)
}

func (sc Scenario) keys() []string {
	keys := make([]string, sc.Keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("gsk_bench_%d", i)
	}
	return keys
}

// Minimum is the least time any client can take: each key's bucket admits its
// share (the depth at once, then one per refill interval), and the callers can
// have only Concurrency requests in flight, each taking Latency. With another
// program on the RPM, the key's rest is what it leaves: the depth less its first
// request, then the rest of the refill.
func (sc Scenario) Minimum() time.Duration {
	perKey := (sc.Requests + sc.Keys - 1) / sc.Keys
	var refill time.Duration
	if sc.Rolling {
		refill = time.Duration((perKey-1)/sc.RPM) * time.Minute
	} else {
		depth := sc.Burst
		if depth == 0 {
			depth = sc.RPM
		}
		rpm := float64(sc.RPM)
		if sc.OtherShare > 0 && !sc.tokenBound() {
			depth, rpm = depth-1, rpm*(1-sc.OtherShare)
		}
		if perKey > depth {
			refill = time.Duration(float64(perKey-depth) / rpm * float64(time.Minute))
		}
	}
	waves := (sc.Requests + sc.Concurrency - 1) / sc.Concurrency
	return max(refill, time.Duration(waves-1)*sc.Latency) + sc.Latency
}

// tokenMinimum is the least time when another program spends the TPM and each
// call costs perCall tokens: each key's bucket admits its depth less the other
// program's first request at once, then the rest of the refill.
func (sc Scenario) tokenMinimum(perCall float64) time.Duration {
	perKey := float64((sc.Requests+sc.Keys-1)/sc.Keys) * perCall
	rest := float64(sc.TPM) * (1 - sc.OtherShare) / 60
	need := perKey - float64(sc.TPM-sc.OtherTokens)
	return max(time.Duration(need/rest*float64(time.Second)), 0) + sc.Latency
}

// run runs the scenario with one client on a fresh server.
func run(sc Scenario, cl client) (Result, error) {
	keys := sc.keys()
	srv := sc.server(keys)
	defer srv.Close()
	rec := newRecorder()
	defer rec.close()
	call, done, err := cl.build(sc, srv.URL(), keys, &http.Client{Transport: rec})
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", cl.name, err)
	}
	defer done()

	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range sc.Concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= sc.Requests {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				if err := call(ctx, i); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				cancel()
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	st := srv.Stats()
	per := map[string]int{}
	for _, a := range srv.Arrivals() {
		if a.Status == http.StatusTooManyRequests {
			per[a.Key]++
		}
	}
	maxPer := 0
	for _, n := range per {
		maxPer = max(maxPer, n)
	}
	r := Result{
		Client: cl.name, Scenario: sc.Name, Failed: int(failed.Load()), OK: sc.Requests - int(failed.Load()),
		Attempts: st.Requests, Limited: st.RateLimited, MaxPerKey: maxPer, Early: rec.sentEarly(),
		Makespan: took, Minimum: sc.Minimum(), OtherRequests: st.Other.Requests, OtherRefused: st.Other.Refused,
	}
	if sc.tokenBound() && st.Successes > 0 {
		r.Minimum = max(r.Minimum, sc.tokenMinimum(float64(st.Tokens)/float64(st.Successes)))
	}
	r.Ratio = float64(r.Makespan) / float64(r.Minimum)
	if e, ok := firstErr.Load().(string); ok {
		r.FirstErr = e
	}
	return r, nil
}

// median combines several runs of one client: the median of each figure.
func median(runs []Result) Result {
	if len(runs) == 1 {
		return runs[0]
	}
	out := runs[0]
	med := func(f func(Result) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		slices.Sort(xs)
		if len(xs)%2 == 1 {
			return xs[len(xs)/2]
		}
		return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	ri := func(f func(Result) int) int {
		return int(math.Round(med(func(r Result) float64 { return float64(f(r)) })))
	}
	out.OK = ri(func(r Result) int { return r.OK })
	out.Failed = ri(func(r Result) int { return r.Failed })
	out.Attempts = ri(func(r Result) int { return r.Attempts })
	out.Limited = ri(func(r Result) int { return r.Limited })
	out.MaxPerKey = ri(func(r Result) int { return r.MaxPerKey })
	out.Early = ri(func(r Result) int { return r.Early })
	out.Makespan = time.Duration(med(func(r Result) float64 { return float64(r.Makespan) }))
	out.Ratio = med(func(r Result) float64 { return r.Ratio })
	out.OtherRequests = ri(func(r Result) int { return r.OtherRequests })
	out.OtherRefused = ri(func(r Result) int { return r.OtherRefused })
	return out
}
