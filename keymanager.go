package groq

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"
)

// This file chooses the quota (a key, or an organization's keys) that serves a
// request, keeps each quota's cooldowns, and defines the seam between the scheduler
// and the state of a quota's buckets.

// bucketStore is the rate-limit state of one quota, for all its models. The
// scheduler calls it under its own mutex, so an implementation need not lock. It is
// the seam where a store shared between processes plugs in.
type bucketStore interface {
	// fits reports whether a request of tokens can ever be admitted for model.
	fits(model string, tokens int) bool
	// readyAt is the earliest time at which a request of tokens may be sent, pacing
	// margin and cooldown included.
	readyAt(now time.Time, model string, tokens int) (time.Time, bool)
	// reserve takes one request and tokens from every bucket of model and returns
	// what the buckets held before.
	reserve(now time.Time, model string, tokens int) sendLevels
	// reconcile settles a reservation with what the request really used.
	reconcile(now time.Time, model string, sent sendLevels, reserved, used int, counted bool)
	// coolDown holds model back until t (only ever extended).
	coolDown(model string, t time.Time)
	// coolingUntil is when model's cooldown ends (zero: none).
	coolingUntil(now time.Time, model string) time.Time
	// observe corrects the buckets from a response's headers, and returns the
	// tokens the headers showed others spent and the limits whose other program
	// started or stopped being seen (foreign.go). refused: the headers came with
	// a refusal.
	observe(now time.Time, model string, info RateLimitInfo, refused bool) (seen int, changed []limitKind)
	// rateLimited learns from a 429 that named its limit (see refusal).
	rateLimited(now time.Time, model string, r refusal) lesson
	// level is what model's bucket for limit k holds now.
	level(now time.Time, model string, k limitKind) float64
	// members records a QuotaStore's count of every member's spending on model,
	// and returns the limits whose other program started or stopped being seen.
	members(now time.Time, model string, requests, tokens int64) []limitKind
	// hintBurst applies a burst another quota learnt for model.
	hintBurst(now time.Time, model string, k limitKind, n int)
	// settled lets what was learnt for model recover after a quiet spell.
	settled(now time.Time, model string) bool
	// limits are model's limits in force.
	limits(now time.Time, model string) Limits
	// bursts are the depths of model's RPM and TPM buckets in force.
	bursts(now time.Time, model string) Limits
	// snapshot describes model's buckets.
	snapshot(now time.Time, model string) QuotaSnapshot
	// reconfigure re-reads the configured limits of every model it holds and
	// changes its limiters in place.
	reconfigure(now time.Time)
}

// memoryStore is the in-process bucketStore.
type memoryStore struct {
	limitsFor func(model string) Limits
	margin    time.Duration
	shared    bool // a QuotaStore is in use: its members' spending is not foreign
	models    map[string]*modelBuckets
}

func newMemoryStore(limitsFor func(string) Limits, margin time.Duration, shared bool) *memoryStore {
	return &memoryStore{limitsFor: limitsFor, margin: margin, shared: shared, models: map[string]*modelBuckets{}}
}

func (m *memoryStore) buckets(now time.Time, model string) *modelBuckets {
	b, ok := m.models[model]
	if !ok {
		b = newModelBuckets(now, m.limitsFor(model), m.margin)
		b.members.store = m.shared
		m.models[model] = b
	}
	return b
}

func (m *memoryStore) fits(model string, tokens int) bool {
	return m.buckets(time.Now(), model).fits(tokens)
}

func (m *memoryStore) readyAt(now time.Time, model string, tokens int) (time.Time, bool) {
	return m.buckets(now, model).readyAt(now, tokens)
}

func (m *memoryStore) reserve(now time.Time, model string, tokens int) sendLevels {
	return m.buckets(now, model).reserve(now, tokens)
}

func (m *memoryStore) reconcile(now time.Time, model string, sent sendLevels, reserved, used int, counted bool) {
	m.buckets(now, model).reconcile(now, sent, reserved, used, counted)
}

func (m *memoryStore) coolDown(model string, t time.Time) {
	m.buckets(time.Now(), model).coolDown(t)
}

func (m *memoryStore) coolingUntil(now time.Time, model string) time.Time {
	return m.buckets(now, model).coolUntil
}

func (m *memoryStore) observe(now time.Time, model string, info RateLimitInfo, refused bool) (int, []limitKind) {
	return m.buckets(now, model).observe(now, info, refused)
}

func (m *memoryStore) rateLimited(now time.Time, model string, r refusal) lesson {
	return m.buckets(now, model).rateLimited(now, r)
}

func (m *memoryStore) level(now time.Time, model string, k limitKind) float64 {
	return m.buckets(now, model).level(now, k)
}

func (m *memoryStore) members(now time.Time, model string, requests, tokens int64) []limitKind {
	return m.buckets(now, model).membersCounted(now, requests, tokens)
}

// hintBurst applies a burst that another quota serving the same model learnt: the
// same server most likely shapes this quota's bucket the same way, and a quota
// that has sent a wave of its own should not wait for its own refusals to know it.
// Like a learnt burst, it grows back after quiet minutes.
func (m *memoryStore) hintBurst(now time.Time, model string, k limitKind, n int) {
	m.buckets(now, model).lowerBurst(now, k, n)
}

func (m *memoryStore) settled(now time.Time, model string) bool {
	return m.buckets(now, model).settled(now)
}

func (m *memoryStore) reconfigure(now time.Time) {
	for model, b := range m.models {
		b.configured = m.limitsFor(model)
		b.apply(now)
	}
}

func (m *memoryStore) bursts(now time.Time, model string) Limits {
	return m.buckets(now, model).bursts()
}

func (m *memoryStore) limits(now time.Time, model string) Limits {
	return m.buckets(now, model).limits()
}

func (m *memoryStore) snapshot(now time.Time, model string) QuotaSnapshot {
	b := m.buckets(now, model)
	s := QuotaSnapshot{Limits: b.limits(), Burst: b.bursts(), PacingMargin: b.margin, LastHeaders: b.last}
	s.Foreign = b.foreign.snapshot(now, s.Burst)
	if b.coolUntil.After(now) {
		s.CoolingUntil = b.coolUntil
	}
	used := func(k limitKind) int {
		lim := b.lim[k]
		if lim == nil {
			return -1
		}
		return max(0, lim.Burst()-int(lim.TokensAt(now)))
	}
	s.RequestsThisMinute, s.RequestsToday = used(kindRPM), used(kindRPD)
	s.TokensThisMinute, s.TokensToday = used(kindTPM), used(kindTPD)
	return s
}

// coolDown holds a quota's model back until t, after a 429 asked it to wait; a
// cooldown is only ever extended. readyAt honours it.
func (b *modelBuckets) coolDown(t time.Time) {
	if t.After(b.coolUntil) {
		b.coolUntil = t
	}
}

// coolNow holds g's quota and model back until t: as soon as a 429's header is
// read (the grant is settled later; share sends the cooldown to the QuotaStore),
// or for the wait a QuotaStore asked for.
func (s *scheduler) coolNow(g grant, t time.Time, share bool) {
	s.mu.Lock()
	s.quotas[g.quota].store.coolDown(g.model, t)
	s.changed(g.model)
	s.mu.Unlock()
	if share && s.shared != nil {
		if err := s.shared.store.CoolDown(context.Background(), g.sharedReq.Quota, g.model, time.Until(t)); err != nil {
			s.shared.failed("CoolDown", err)
		}
	}
}

// cooling reports whether g's quota and model are cooling down now.
func (s *scheduler) cooling(g grant) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	return s.quotas[g.quota].store.coolingUntil(now, g.model).After(now)
}

// quota is a set of keys that share limits: one organization, or one key alone.
type quota struct {
	name    string
	keys    []int // indexes into the client's keys
	nextKey int   // round-robin among the quota's keys
	store   bucketStore
	models  map[string]bool // the models it serves; nil: all
	retired bool            // removed by Reload: serves nothing, settles what it sent
	shared  string          // its name in a QuotaStore (see sharedName)
}

func (q *quota) serves(model string) bool {
	return !q.retired && (q.models == nil || q.models[model])
}

// buildQuotas groups the keys: each organization is one quota, every other key is a
// quota of its own. It returns the full key list (organization keys added when they
// were not given) and the quotas.
func buildQuotas(keys []string, orgs []orgDecl, newStore func() bucketStore) ([]string, []*quota, error) {
	index := map[string]int{}
	var all []string
	add := func(k string) int {
		if i, ok := index[k]; ok {
			return i
		}
		index[k] = len(all)
		all = append(all, k)
		return len(all) - 1
	}
	for i, k := range keys {
		if _, dup := index[k]; dup {
			return nil, nil, &OptionError{Option: "WithAPIKeys", Reason: "key #" + strconv.Itoa(i) + " is given twice"}
		}
		add(k)
	}
	owner := map[int]string{}
	var quotas []*quota
	for _, o := range orgs {
		q := &quota{name: o.name, store: newStore()}
		for _, k := range o.keys {
			i := add(k)
			if prev, taken := owner[i]; taken {
				return nil, nil, &OptionError{Option: "WithOrganization",
					Reason: "key #" + strconv.Itoa(i) + " is in organizations " + strconv.Quote(prev) + " and " + strconv.Quote(o.name)}
			}
			owner[i] = o.name
			q.keys = append(q.keys, i)
		}
		quotas = append(quotas, q)
	}
	for i := range all {
		if _, inOrg := owner[i]; !inOrg {
			quotas = append(quotas, &quota{name: "key#" + strconv.Itoa(i), keys: []int{i}, store: newStore()})
		}
	}
	return all, quotas, nil
}

// QuotaSnapshot describes one quota's buckets for one model. A used figure is -1
// when that limit is unknown.
type QuotaSnapshot struct {
	Name string // organization name, or "key#N"
	Keys []int  // indexes of the quota's keys

	Limits Limits // in force: configured, lowered by what Groq said
	// Burst is the depth of each bucket in force: the period's limit, or less where
	// a 429 showed the server's bucket to be shallower (learnt, and growing back
	// after a quiet minute). ContextWindow is unset.
	Burst Limits
	// PacingMargin is how long after its bucket allows it a request that waited for
	// refill is sent: WithPacingMargin's value, or wider after a 429 that timing
	// explains (narrowing back after a quiet minute).
	PacingMargin time.Duration

	RequestsThisMinute int // consumed and not yet refilled (of Burst)
	TokensThisMinute   int
	RequestsToday      int
	TokensToday        int
	CoolingUntil       time.Time // zero when not cooling down
	LastHeaders        RateLimitInfo
	// Foreign is what programs the client cannot see are estimated to spend from
	// this quota and model, and what the client leaves them (see ForeignSpending).
	Foreign ForeignSpending
	// Shared is what the QuotaStore's buckets hold (every process's use), when
	// the client has one (WithQuotaStore) and it answered; nil otherwise.
	Shared *QuotaUsage
}

// RateLimitSnapshot is the client's view of one model's capacity, answered without a
// network call.
type RateLimitSnapshot struct {
	Model    string
	Quotas   []QuotaSnapshot
	Queued   map[int]int // waiting calls by priority, all models (only priorities with waiters)
	InFlight int

	// What the client has learnt of this model's request cost (see WithPacingMargin
	// and WithCompletionReserve): PromptRatio is the server's prompt token count
	// over the local estimate (0 before the first answer; estimates are multiplied
	// by it), CompletionReserve what a call without max tokens reserves for its
	// answer.
	PromptRatio       float64
	CompletionReserve int
}

// pick chooses, among the quotas that serve w's model, the one that can admit w
// soonest; ties go round-robin from s.rr. ok is false when none can ever admit it.
// s.mu is held.
func (s *scheduler) pick(now time.Time, w *waiter) (qi int, at time.Time, ok bool) {
	qi = -1
	n := len(s.quotas)
	for k := 0; k < n; k++ {
		i := (s.rr + k) % n
		if !s.quotas[i].serves(w.model) {
			continue
		}
		t, fits := s.quotas[i].store.readyAt(now, w.model, w.tokens)
		if !fits {
			continue
		}
		if qi < 0 || t.Before(at) {
			qi, at = i, t
		}
	}
	return qi, at, qi >= 0
}

// urlFor is where requests for model are sent.
func (s *scheduler) urlFor(model string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.urlLocked(model)
}

func (s *scheduler) urlLocked(model string) string {
	if url, ok := s.urls[model]; ok {
		return url
	}
	return s.defURL
}

// take reserves w's cost in quota qi and chooses the key that sends it: the
// quota's keys take turns. The next choice among quotas starts after qi. s.mu is
// held.
func (s *scheduler) take(now time.Time, w *waiter, qi int) grant {
	q := s.quotas[qi]
	sent := q.store.reserve(now, w.model, w.tokens)
	s.changed(w.model)
	s.rr = (qi + 1) % len(s.quotas)
	key := q.keys[q.nextKey%len(q.keys)]
	q.nextKey++
	g := grant{quota: qi, keyIndex: key, key: s.keys[key], url: s.urlLocked(w.model), model: w.model, quotaName: q.name, reserved: w.tokens, sent: sent, settled: new(atomic.Bool)}
	if s.shared != nil {
		g.sharedReq = QuotaRequest{Quota: s.sharedName(q), Model: w.model, Limits: q.store.limits(now, w.model), Burst: q.store.bursts(now, w.model),
			Tokens: w.tokens, Priority: w.priority}
		if next := s.groups[w.model]; next != nil && len(next.q) > 0 {
			g.sharedReq.NextPriority = next.q[0].priority
		}
	}
	return g
}

// orgKey is the key for calls that no chat limit governs and that are about the
// organization's objects (models, files, batches): the first quota's keys in turn,
// so that a file uploaded by one call is found by the next (keys of one quota
// belong to one organization).
func (s *scheduler) orgKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.quotas {
		if !q.retired && len(q.keys) > 0 {
			k := q.keys[q.nextKey%len(q.keys)]
			q.nextKey++
			return s.keys[k]
		}
	}
	return ""
}
