package groq

import (
	"math"
	"slices"
	"sync"
	"time"
)

// This file is the client's status at a glance (Client.Status): every model's
// quotas and buckets, its queue, and the 429s and retries of the last minutes,
// in one struct that encodes to JSON. The gateway serves it at /status.

// StatusWindow is how far back Status counts 429s and retries.
const StatusWindow = 5 * time.Minute

// Status is the client's state at one moment, for a person to read: what each
// model's quotas allow and where each limit came from, how full each bucket is,
// who waits, what is in flight, the 429s and retries of the last StatusWindow,
// and what other programs spend. It encodes to JSON with the field names in its
// tags (the gateway's GET /status serves it). Each model's figures are read under
// the scheduler's lock, one model after another, so two models' figures may be a
// few microseconds apart.
type Status struct {
	Time time.Time `json:"time"` // when it was taken
	// WindowSeconds is the span, in seconds, that RateLimited, Retries and
	// Recent cover (StatusWindow).
	WindowSeconds int `json:"window_seconds"`
	// Queued is the calls waiting for admission by priority (1 most urgent), all
	// models; only priorities with waiters appear.
	Queued   map[int]int `json:"queued"`
	InFlight int         `json:"in_flight"` // requests sent and not yet answered, all models
	// Budget is the client's daily token budget (WithDailyTokenBudget); nil
	// without one.
	Budget *BudgetView `json:"budget,omitempty"`
	// Models are the models the client has used, has waiters for, or serves by
	// default, sorted by name.
	Models []ModelStatus `json:"models"`
}

// BudgetView is BudgetStatus for JSON.
type BudgetView struct {
	Limit     int64     `json:"limit"`
	Used      int64     `json:"used"`
	Reserved  int64     `json:"reserved"`
	Remaining int64     `json:"remaining"`
	ResetAt   time.Time `json:"reset_at"`
}

// ModelStatus is one model's part of a Status.
type ModelStatus struct {
	Model string `json:"model"`
	// Queued is this model's calls waiting by priority (only priorities with
	// waiters appear; a call that accepts several models, WithModels, waits in
	// each of their queues and counts in each, but once in Status.Queued);
	// InFlight its requests sent and not yet answered.
	Queued   map[int]int `json:"queued"`
	InFlight int         `json:"in_flight"`
	// RateLimited is the 429s Groq answered for this model within the window;
	// Retries the attempts the client decided to make again (after a 429, a
	// server error or a transport failure).
	RateLimited int `json:"rate_limited"`
	Retries     int `json:"retries"`
	// Recent is the seconds of the window with a 429 or a retry, oldest first:
	// the marks on a timeline.
	Recent []StatusMark `json:"recent"`
	// Quotas are the quotas (organizations, or keys standing alone) that serve
	// the model, in the client's order.
	Quotas []QuotaStatus `json:"quotas"`
	// PromptRatio and CompletionReserve are what the client learnt of the
	// model's request cost (see RateLimitSnapshot).
	PromptRatio       float64 `json:"prompt_ratio"`
	CompletionReserve int     `json:"completion_reserve"`
}

// StatusMark is one second with 429s or retries.
type StatusMark struct {
	Time        time.Time `json:"time"` // the second's start
	RateLimited int       `json:"rate_limited"`
	Retries     int       `json:"retries"`
}

// QuotaStatus is one quota's buckets for one model.
type QuotaStatus struct {
	Name string `json:"name"` // the organization's name, or "key#N"
	Keys []int  `json:"keys"` // indexes of its keys (never the keys)
	// Buckets are the limits in force, in the order RPM, RPD, TPM, TPD, ASH,
	// ASD; a limit that is unknown (none is in force) is left out.
	Buckets []BucketStatus `json:"buckets"`
	// PacingMarginMS is the pacing margin in force, in milliseconds (see
	// QuotaSnapshot.PacingMargin).
	PacingMarginMS float64 `json:"pacing_margin_ms"`
	// CoolingUntil is when a 429's cooldown ends; nil when not cooling down.
	CoolingUntil *time.Time `json:"cooling_until,omitempty"`
	// Foreign is what programs the client cannot see spend (ForeignSpending).
	Foreign ForeignView `json:"foreign"`
}

// BucketStatus is one limit's bucket. A bucket holds Depth when full and
// refills at Limit per period; Used is what is spent and not yet refilled,
// Level what it holds now (Depth - Used; a bucket in debt shows 0).
type BucketStatus struct {
	Name          string      `json:"name"`           // "RPM", "RPD", "TPM", "TPD", "ASH" or "ASD"
	Limit         int         `json:"limit"`          // per period
	Source        LimitSource `json:"source"`         // where the limit came from
	PeriodSeconds int         `json:"period_seconds"` // 60, 3600 or 86400
	Depth         int         `json:"depth"`          // the period's limit, or a shallower learnt burst
	Used          int         `json:"used"`
	Level         int         `json:"level"`
}

// ForeignView is ForeignSpending for JSON.
type ForeignView struct {
	RequestsPerMinute float64 `json:"requests_per_minute"`
	TokensPerMinute   float64 `json:"tokens_per_minute"`
	ReserveRequests   int     `json:"reserve_requests"` // left in the RPM bucket for them
	ReserveTokens     int     `json:"reserve_tokens"`   // left in the TPM bucket for them
}

// Status returns the client's state (see Status). It makes no network call
// except, with a QuotaStore, asking the store for each quota's usage as
// RateLimits does; it is safe for concurrent use.
func (c *Client) Status() Status {
	now := time.Now()
	st := Status{Time: now, WindowSeconds: int(StatusWindow / time.Second), Models: []ModelStatus{}}
	models, queued, inFlight := c.sched.statusModels(c.cfg.defaultModel)
	st.Queued, st.InFlight = queued, inFlight
	if b := c.Budget(); b.Limit > 0 {
		st.Budget = &BudgetView{Limit: b.Limit, Used: b.Used, Reserved: b.Reserved, Remaining: b.Remaining, ResetAt: b.ResetAt}
	}
	for _, model := range models {
		snap := c.RateLimits(model)
		ms := ModelStatus{Model: model, Quotas: []QuotaStatus{}, PromptRatio: finite(snap.PromptRatio), CompletionReserve: snap.CompletionReserve}
		ms.Queued, ms.InFlight = c.sched.modelLoad(model)
		ms.RateLimited, ms.Retries, ms.Recent = c.recent.read(model, now)
		for _, q := range snap.Quotas {
			ms.Quotas = append(ms.Quotas, quotaStatus(q))
		}
		st.Models = append(st.Models, ms)
	}
	return st
}

// finite is x, or 0 when it is NaN or infinite (which JSON cannot carry).
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// quotaStatus is q as a QuotaStatus.
func quotaStatus(q QuotaSnapshot) QuotaStatus {
	out := QuotaStatus{Name: q.Name, Keys: q.Keys, Buckets: []BucketStatus{}, PacingMarginMS: float64(q.PacingMargin) / float64(time.Millisecond),
		Foreign: ForeignView{RequestsPerMinute: finite(q.Foreign.RequestsPerMinute), TokensPerMinute: finite(q.Foreign.TokensPerMinute),
			ReserveRequests: q.Foreign.Reserve.RPM, ReserveTokens: q.Foreign.Reserve.TPM}}
	if out.Keys == nil {
		out.Keys = []int{}
	}
	if !q.CoolingUntil.IsZero() {
		t := q.CoolingUntil
		out.CoolingUntil = &t
	}
	src := [numKinds]LimitSource{q.Sources.RPM, q.Sources.RPD, q.Sources.TPM, q.Sources.TPD, q.Sources.ASH, q.Sources.ASD}
	used := [numKinds]int{q.RequestsThisMinute, q.RequestsToday, q.TokensThisMinute, q.TokensToday, q.AudioThisHour, q.AudioToday}
	for k := range numKinds {
		limit := q.Limits.of(k)
		if limit <= 0 {
			continue
		}
		depth := q.Burst.of(k)
		u := max(used[k], 0)
		out.Buckets = append(out.Buckets, BucketStatus{Name: k.String(), Limit: limit, Source: src[k], PeriodSeconds: int(k.period() / time.Second),
			Depth: depth, Used: u, Level: max(depth-u, 0)})
	}
	return out
}

// recentEvents counts 429s and retries by model in a ring of one-second slots
// covering StatusWindow. The zero value is ready; it is safe for concurrent use.
type recentEvents struct {
	mu     sync.Mutex
	models map[string]*eventRing
}

// The kinds of event counted.
const (
	eventRateLimited = iota
	eventRetry
)

const ringSlots = int(StatusWindow / time.Second)

// eventRing is one model's slots: slot i holds the second stamp[i] (Unix).
type eventRing struct {
	stamp [ringSlots]int64
	count [ringSlots][2]int32
}

// add counts one event of kind for model at t.
func (r *recentEvents) add(model string, t time.Time, kind int) {
	sec := t.Unix()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.models == nil {
		r.models = map[string]*eventRing{}
	}
	e := r.models[model]
	if e == nil {
		if len(r.models) >= maxRingModels {
			r.prune(sec)
		}
		e = &eventRing{}
		r.models[model] = e
	}
	i := int(sec % int64(ringSlots))
	if e.stamp[i] != sec {
		e.stamp[i], e.count[i] = sec, [2]int32{}
	}
	e.count[i][kind]++
}

// maxRingModels is how many models' rings are kept before those with nothing
// in the window are dropped (a caller may name any model).
const maxRingModels = 256

// prune drops the rings with no event within the window before sec. r.mu is held.
func (r *recentEvents) prune(sec int64) {
	for m, e := range r.models {
		if slices.Max(e.stamp[:]) <= sec-int64(ringSlots) {
			delete(r.models, m)
		}
	}
}

// read is model's 429s and retries within the window before now, and the
// seconds that had any, oldest first.
func (r *recentEvents) read(model string, now time.Time) (limited, retries int, marks []StatusMark) {
	marks = []StatusMark{}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.models[model]
	if e == nil {
		return 0, 0, marks
	}
	end := now.Unix()
	for i := range ringSlots {
		sec := e.stamp[i]
		if sec <= end-int64(ringSlots) || sec > end || e.count[i] == [2]int32{} {
			continue
		}
		c := e.count[i]
		limited += int(c[eventRateLimited])
		retries += int(c[eventRetry])
		marks = append(marks, StatusMark{Time: time.Unix(sec, 0).UTC(), RateLimited: int(c[eventRateLimited]), Retries: int(c[eventRetry])})
	}
	slices.SortFunc(marks, func(a, b StatusMark) int { return a.Time.Compare(b.Time) })
	return limited, retries, marks
}

// Budget reports the daily token budget: used, reserved, remaining and when it
// resets. It is zero when no budget was set (WithDailyTokenBudget).
func (c *Client) Budget() BudgetStatus { return c.budget.status(time.Now()) }
