package groq

import (
	"strconv"
	"time"
)

// bucketStore is the rate-limit state of one quota, for all its models. The
// scheduler calls it under its own mutex, so an implementation need not lock. It is
// the seam where a store shared between processes (Redis, say) plugs in.
type bucketStore interface {
	// fits reports whether a request of tokens can ever be admitted for model.
	fits(model string, tokens int) bool
	// readyAt is the earliest time at which a request of tokens may be sent.
	readyAt(now time.Time, model string, tokens int) (time.Time, bool)
	// reserve takes one request and tokens from every bucket of model.
	reserve(now time.Time, model string, tokens int)
	// reconcile settles a reservation with what the request really used.
	reconcile(now time.Time, model string, reserved, used int, counted bool)
	// coolDown holds model back until t (only ever extended).
	coolDown(model string, t time.Time)
	// observe corrects the buckets from a response's headers and, for a 429, its
	// message.
	observe(now time.Time, model string, info RateLimitInfo, rateLimitMessage string)
	// limits are model's limits in force.
	limits(now time.Time, model string) Limits
	// snapshot describes model's buckets.
	snapshot(now time.Time, model string) QuotaSnapshot
	// reconfigure re-reads the configured limits of every model it holds and
	// changes its limiters in place.
	reconfigure(now time.Time)
}

// memoryStore is the in-process bucketStore.
type memoryStore struct {
	limitsFor func(model string) Limits
	models    map[string]*modelBuckets
}

func newMemoryStore(limitsFor func(string) Limits) *memoryStore {
	return &memoryStore{limitsFor: limitsFor, models: map[string]*modelBuckets{}}
}

func (m *memoryStore) buckets(now time.Time, model string) *modelBuckets {
	b, ok := m.models[model]
	if !ok {
		b = newModelBuckets(now, m.limitsFor(model))
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

func (m *memoryStore) reserve(now time.Time, model string, tokens int) {
	m.buckets(now, model).reserve(now, tokens)
}

func (m *memoryStore) reconcile(now time.Time, model string, reserved, used int, counted bool) {
	m.buckets(now, model).reconcile(now, reserved, used, counted)
}

func (m *memoryStore) coolDown(model string, t time.Time) {
	m.buckets(time.Now(), model).coolDown(t)
}

func (m *memoryStore) observe(now time.Time, model string, info RateLimitInfo, msg string) {
	b := m.buckets(now, model)
	b.observe(now, info)
	if msg != "" {
		b.observeRateLimit(now, msg)
	}
}

func (m *memoryStore) reconfigure(now time.Time) {
	for model, b := range m.models {
		b.configured = m.limitsFor(model)
		b.apply(now)
	}
}

func (m *memoryStore) limits(now time.Time, model string) Limits {
	return m.buckets(now, model).limits()
}

func (m *memoryStore) snapshot(now time.Time, model string) QuotaSnapshot {
	b := m.buckets(now, model)
	s := QuotaSnapshot{Limits: b.limits(), LastHeaders: b.last}
	if b.coolUntil.After(now) {
		s.CoolingUntil = b.coolUntil
	}
	used := func(n int, lim interface{ TokensAt(time.Time) float64 }) int {
		if n == 0 {
			return -1
		}
		return max(0, n-int(lim.TokensAt(now)))
	}
	l := s.Limits
	s.RequestsThisMinute = -1
	if b.rpm != nil {
		s.RequestsThisMinute = used(l.RPM, b.rpm)
	}
	s.RequestsToday = -1
	if b.rpd != nil {
		s.RequestsToday = used(l.RPD, b.rpd)
	}
	s.TokensThisMinute = -1
	if b.tpm != nil {
		s.TokensThisMinute = used(l.TPM, b.tpm)
	}
	s.TokensToday = -1
	if b.tpd != nil {
		s.TokensToday = used(l.TPD, b.tpd)
	}
	return s
}

// quota is a set of keys that share limits: one organization, or one key alone.
type quota struct {
	name    string
	keys    []int // indexes into the client's keys
	nextKey int   // round-robin among the quota's keys
	store   bucketStore
	models  map[string]bool // the models it serves; nil: all
	retired bool            // removed by Reload: serves nothing, settles what it sent
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

	Limits             Limits // in force: configured, lowered by what Groq said
	RequestsThisMinute int    // consumed and not yet refilled
	TokensThisMinute   int
	RequestsToday      int
	TokensToday        int
	CoolingUntil       time.Time // zero when not cooling down
	LastHeaders        RateLimitInfo
}

// LimitsSnapshot is the client's view of one model's capacity, answered without a
// network call.
type LimitsSnapshot struct {
	Model    string
	Quotas   []QuotaSnapshot
	Queued   map[int]int // waiting calls by priority, all models (only priorities with waiters)
	InFlight int
}
