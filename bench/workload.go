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

	Model         string        // the model's name (default benchModel)
	Table         bool          // groqkit is given no limits at all: its built-in table (or DefaultRPM) for Model
	TokenBurst    int           // the server's TPM bucket depth; 0: a minute's worth
	LatencyJitter time.Duration // the server's answer time varies by up to this much more (answers out of order)
	TokenScale    float64       // the server counts a prompt's tokens this many times its usual count (0: 1)
	CPUHog        int           // busy processes taking the cores during each run
	ShowForeign   bool          // print groqkit's estimate of others' spending
	Shape         string        // the robustness matrix's server shape, if any
	VsNetHTTP     bool          // print each client's makespan over net/http's
	// Deadline ends the run: calls not done by then fail (0: 20 times the
	// theoretical minimum, at least a minute).
	Deadline time.Duration
	// File names the scenario's SVG (-svg): the preset's name, or the robust
	// cell's; "custom" when empty.
	File string
}

// model is the model's name.
func (sc Scenario) model() string {
	if sc.Model == "" {
		return benchModel
	}
	return sc.Model
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
	// Waves are the bursts of 429s: a 429 more than waveGap after the one before
	// it starts a new wave.
	Waves int `json:"http_429_waves"`
	// ForeignRPM and ForeignTPM are groqkit's highest estimate during the run of
	// what other programs spend (QuotaSnapshot.Foreign, the largest over its
	// quotas), in % of the server's RPM and TPM; the other clients have none.
	ForeignRPM float64 `json:"foreign_rpm_pct,omitempty"`
	ForeignTPM float64 `json:"foreign_tpm_pct,omitempty"`
	// Runs is how many runs the figures combine (medians), and Worst the worst
	// of them: each figure's worst (the largest ratio, 429s, failures...).
	Runs   int     `json:"runs,omitempty"`
	Worst  *Result `json:"worst,omitempty"`
	Shape  string  `json:"shape,omitempty"`
	CPUHog int     `json:"cpu_hog,omitempty"`

	trace *runTrace // what -svg draws: this run's (a combination's: its first run's)
}

// waveGap separates two waves of 429s.
const waveGap = 250 * time.Millisecond

// OtherRefusedShare is the share of the other program's requests refused.
func (r Result) OtherRefusedShare() float64 {
	if r.OtherRequests == 0 {
		return 0
	}
	return float64(r.OtherRefused) / float64(r.OtherRequests)
}

// caller makes one chat call with the i-th request of the workload.
type caller func(ctx context.Context, i int) error

// instance is one client built for a run: call makes a call, done releases it,
// and foreign, when set, is its estimate of other programs' spending now
// (requests and tokens a minute).
type instance struct {
	call    caller
	done    func()
	foreign func() (rpm, tpm float64)
}

// client builds an instance for a scenario against the server at url (the API
// root, …/openai/v1) with the given keys, sending through hc.
type client struct {
	name  string
	build func(sc Scenario, url string, keys []string, hc *http.Client) (instance, error)
}

// server starts a loopback groqtest server shaped by the scenario.
func (sc Scenario) server(keys []string) *groqtest.Server {
	opts := []groqtest.Option{
		groqtest.WithModel(sc.model(), groqtest.Limits{RPM: sc.RPM, Burst: sc.Burst, RPD: sc.RPD, TPM: sc.TPM, TokenBurst: sc.TokenBurst}),
		groqtest.WithLatency(sc.Latency, sc.LatencyJitter),
		groqtest.WithArrivalJitter(sc.Jitter),
		groqtest.WithFirstConnectionDelay(sc.FirstConn),
		groqtest.WithSeed(sc.Seed),
	}
	if sc.Rolling {
		opts = append(opts, groqtest.WithBucketShape(groqtest.RollingWindow))
	}
	if sc.TokenScale > 0 {
		opts = append(opts, groqtest.WithTokenScale(sc.TokenScale))
	}
	for i, k := range keys {
		if sc.OtherShare == 0 {
			opts = append(opts, groqtest.WithKeys(k))
			continue
		}
		opts = append(opts, groqtest.WithOrganization(fmt.Sprintf("org_bench_%d", i), k, otherKey(i)))
		p := groqtest.OtherProgram{Key: otherKey(i), Model: sc.model(), RequestsPerMinute: sc.OtherShare * float64(sc.RPM)}
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
	return max(refill, time.Duration(waves-1)*sc.meanLatency()) + sc.meanLatency()
}

// meanLatency is the server's mean answer time: with latency jitter, the
// minimum counts each answer at its mean, not its least.
func (sc Scenario) meanLatency() time.Duration { return sc.Latency + sc.LatencyJitter/2 }

// tokenMinimum is the least time when the server's TPM binds and each call
// costs perCall tokens (the server's count): each key's TPM bucket admits its
// depth at once (less the other program's first request, when one spends the
// TPM), then the refill (less the other program's share).
func (sc Scenario) tokenMinimum(perCall float64) time.Duration {
	perKey := float64((sc.Requests+sc.Keys-1)/sc.Keys) * perCall
	depth, rest := float64(sc.TPM), float64(sc.TPM)/60
	if sc.TokenBurst > 0 {
		depth = float64(sc.TokenBurst)
	}
	if sc.tokenBound() {
		depth, rest = depth-float64(sc.OtherTokens), rest*(1-sc.OtherShare)
	}
	return max(time.Duration((perKey-depth)/rest*float64(time.Second)), 0) + sc.meanLatency()
}

// run runs the scenario with one client on a fresh server, with sc.CPUHog busy
// processes started before it and stopped after it.
func run(sc Scenario, cl client) (Result, error) {
	if sc.CPUHog > 0 {
		h, err := startHog(sc.CPUHog)
		if err != nil {
			return Result{}, err
		}
		defer h.stop()
	}
	keys := sc.keys()
	srv := sc.server(keys)
	defer srv.Close()
	rec := newRecorder()
	defer rec.close()
	in, err := cl.build(sc, srv.URL(), keys, &http.Client{Transport: rec})
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", cl.name, err)
	}
	defer in.done()
	watch := watchForeign(in.foreign)

	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	var fails failTimes
	start := time.Now()
	runCtx, stop := context.WithDeadline(context.Background(), start.Add(sc.deadline()))
	defer stop()
	for range sc.Concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= sc.Requests {
					return
				}
				ctx, cancel := context.WithCancel(runCtx)
				if err := in.call(ctx, i); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					fails.add(time.Since(start))
				}
				cancel()
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	frpm, ftpm := watch()
	st := srv.Stats()
	r := Result{
		Client: cl.name, Scenario: sc.Name, Failed: int(failed.Load()), OK: sc.Requests - int(failed.Load()),
		Attempts: st.Requests, Limited: st.RateLimited, Early: rec.sentEarly(),
		Makespan: took, Minimum: sc.Minimum(), OtherRequests: st.Other.Requests, OtherRefused: st.Other.Refused,
		Runs: 1, Shape: sc.Shape, CPUHog: sc.CPUHog,
	}
	r.MaxPerKey, r.Waves = limitedPerKeyAndWaves(srv.Arrivals())
	r.trace = newTrace(srv.Arrivals(), start, took, fails.list(), st)
	if in.foreign != nil {
		r.ForeignRPM = 100 * frpm / float64(sc.RPM)
		if sc.TPM > 0 {
			r.ForeignTPM = 100 * ftpm / float64(sc.TPM)
		}
	}
	if sc.TPM > 0 && st.Successes > 0 {
		r.Minimum = max(r.Minimum, sc.tokenMinimum(float64(st.Tokens)/float64(st.Successes)))
	}
	r.Ratio = float64(r.Makespan) / float64(r.Minimum)
	if e, ok := firstErr.Load().(string); ok {
		r.FirstErr = e
	}
	return r, nil
}

// deadline is how long the run may take: Deadline, else 20 times the theoretical
// minimum, at least a minute.
func (sc Scenario) deadline() time.Duration {
	if sc.Deadline > 0 {
		return sc.Deadline
	}
	return max(20*sc.Minimum(), time.Minute)
}

// limitedPerKeyAndWaves is the most 429s any key drew, and how many waves the
// 429s came in (all keys together, in arrival order).
func limitedPerKeyAndWaves(arrivals []groqtest.Arrival) (maxPer, waves int) {
	per := map[string]int{}
	var last time.Time
	for _, a := range arrivals {
		if a.Status != http.StatusTooManyRequests {
			continue
		}
		per[a.Key]++
		if last.IsZero() || a.At.Sub(last) > waveGap {
			waves++
		}
		last = a.At
	}
	for _, n := range per {
		maxPer = max(maxPer, n)
	}
	return maxPer, waves
}

// watchForeign samples f every 20 ms until the returned stop is called, which
// samples it once more and returns the highest figures seen. A nil f gives zeros.
func watchForeign(f func() (rpm, tpm float64)) (stop func() (rpm, tpm float64)) {
	if f == nil {
		return func() (float64, float64) { return 0, 0 }
	}
	var mu sync.Mutex
	var hiR, hiT float64
	sample := func() {
		r, t := f()
		mu.Lock()
		hiR, hiT = max(hiR, r), max(hiT, t)
		mu.Unlock()
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	return func() (float64, float64) {
		close(quit)
		<-finished
		sample()
		return hiR, hiT
	}
}

// median combines several runs of one client: the median of each figure.
func median(runs []Result) Result {
	if len(runs) == 1 {
		out := runs[0]
		w := out
		out.Worst = &w
		return out
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
	out.Waves = ri(func(r Result) int { return r.Waves })
	out.ForeignRPM = med(func(r Result) float64 { return r.ForeignRPM })
	out.ForeignTPM = med(func(r Result) float64 { return r.ForeignTPM })
	out.Runs = len(runs)
	w := worst(runs)
	out.Worst = &w
	return out
}

// worst combines several runs of one client: the worst of each figure (the
// largest ratio, makespan, failures, 429s, early sends, waves, estimate of
// others' spending, share of the other program refused; the fewest calls that
// succeeded).
func worst(runs []Result) Result {
	out := runs[0]
	out.Worst = nil
	for _, r := range runs[1:] {
		out.OK = min(out.OK, r.OK)
		out.Failed = max(out.Failed, r.Failed)
		out.Attempts = max(out.Attempts, r.Attempts)
		out.Limited = max(out.Limited, r.Limited)
		out.MaxPerKey = max(out.MaxPerKey, r.MaxPerKey)
		out.Early = max(out.Early, r.Early)
		out.Waves = max(out.Waves, r.Waves)
		out.Makespan = max(out.Makespan, r.Makespan)
		out.Ratio = max(out.Ratio, r.Ratio)
		out.ForeignRPM = max(out.ForeignRPM, r.ForeignRPM)
		out.ForeignTPM = max(out.ForeignTPM, r.ForeignTPM)
		if r.OtherRefusedShare() > out.OtherRefusedShare() {
			out.OtherRequests, out.OtherRefused = r.OtherRequests, r.OtherRefused
		}
		if out.FirstErr == "" {
			out.FirstErr = r.FirstErr
		}
	}
	return out
}
