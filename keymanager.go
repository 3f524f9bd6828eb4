package groq

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// This file is the key manager: the quotas (a key, or an organization's keys) and
// the scheduler that admits each call on one of them. It builds the quotas, picks
// the one that can admit a request soonest, takes the grant from its buckets with
// the key whose turn it is, says where a model's requests go and which key serves
// the organization's other calls, and holds a quota and model back as soon as a
// 429 is read (the cooldown itself is kept by its buckets, tokenbucket.go). The
// scheduler's part: its state, admission (acquire), the settling of an admitted
// request (finish, where a response teaches the buckets, learn.go), the bound on
// requests in flight, the snapshot of a model's capacity, and noStore, the quota
// store it holds when no QuotaStore is set (with one: storeSync, quotastore.go).

// quota is a set of keys that share limits: one organization, or one key alone.
type quota struct {
	name      string
	keys      []int // indexes into the client's keys
	nextKey   int   // round-robin among the quota's keys
	buckets   *bucketSet
	models    map[string]bool // the models it serves; nil: all
	retired   bool            // removed by Reload: serves nothing, settles what it sent
	storeName string          // its name in a QuotaStore (see scheduler.storeName)
}

func (q *quota) serves(model string) bool {
	return !q.retired && (q.models == nil || q.models[model])
}

// buildQuotas groups the keys: each organization is one quota, every other key is a
// quota of its own. It returns the full key list (organization keys added when they
// were not given) and the quotas.
func buildQuotas(keys []string, orgs []orgDecl, newBuckets func() *bucketSet) ([]string, []*quota, error) {
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
		q := &quota{name: o.name, buckets: newBuckets()}
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
			quotas = append(quotas, &quota{name: "key#" + strconv.Itoa(i), keys: []int{i}, buckets: newBuckets()})
		}
	}
	return all, quotas, nil
}

// The scheduler.

// scheduler admits calls: it decides who goes next (priority.go), to which quota
// and when (tokenbucket.go), and keeps its quotas in step with
// other processes through store (quotastore.go). It is safe for concurrent use.
type scheduler struct {
	mu       sync.Mutex
	groups   map[string]*group // waiters by model; a group is deleted when empty
	waiting  int
	byPrio   [11]int
	sem      *semaphore.Weighted // the bound on requests in flight: one slot per admitted request
	slots    int                 // the semaphore's size
	held     int                 // slots held (requests in flight)
	adaptive bool                // no fixed bound: bound() adapts below slots
	latency  time.Duration       // moving average of an answer's time since admission
	quotas   []*quota
	keys     []string          // every key ever configured; indexes are stable
	urls     map[string]string // model -> chat URL, when it is not defURL
	defURL   string
	rr       int // round-robin start among quotas
	seq      uint64
	fair     fairQueue // turns among callers within a priority (priority.go)
	maxQueue int
	aging    time.Duration
	maxWait  time.Duration
	closed   bool
	clock    time.Time // the latest time the buckets were given (see now)
	log      *slog.Logger
	obs      *observing // nil in tests that build a scheduler alone
	store    quotaSync  // the QuotaStore's side, or noStore without one
}

// now is the scheduler's time for its buckets: the clock read under s.mu, and never
// before a time the buckets were already given. x/time/rate takes an earlier time
// as its limiter's new last event and then counts the refill since then a second
// time, so that a goroutine that read the clock, was descheduled (a busy CPU, a
// GC pause) and took the lock late would let the bucket admit what the server's
// will not. s.mu is held.
func (s *scheduler) now() time.Time {
	t := time.Now()
	if t.Before(s.clock) {
		t = s.clock
	}
	s.clock = t
	return t
}

// newScheduler makes the scheduler of keys (indexes stable) grouped in quotas, with
// cfg's concurrency bound, queue bound, aging, longest wait and logger.
func newScheduler(keys []string, quotas []*quota, cfg *settings) *scheduler {
	slots, adaptive := cfg.maxConcurrency, !cfg.concurrencySet
	if adaptive {
		slots = MaxAdaptiveConcurrency
	}
	return &scheduler{
		keys: keys, quotas: quotas, slots: slots, adaptive: adaptive, sem: semaphore.NewWeighted(int64(slots)), groups: map[string]*group{},
		maxQueue: cfg.maxQueue, aging: cfg.aging, maxWait: cfg.maxRetryDelay, urls: map[string]string{}, log: cfg.logger, store: noStore{},
	}
}

// grant is an admission: a quota, a key and a concurrency slot, with the tokens
// reserved. It is settled once: by finish, called from one place (call.settle),
// or by the scheduler itself for a waiter that gave up as it was admitted.
type grant struct {
	quota         int
	keyIndex      int
	key           string // the secret itself, for the Authorization header only
	url           string // where to send the request
	model         string
	reserved      int
	quotaName     string       // for events and logs
	sent          sendLevels   // the buckets before the reservation, for learning from a 429
	storeReq      QuotaRequest // with a QuotaStore: the request to it
	storeAdmitted bool         // the QuotaStore admitted it: settle it there too
	owed          *owed        // sent while the QuotaStore did not answer: what it owes the store
	free          bool         // no quota counts it (files, batches, models): nothing to settle or cool
}

// check refuses at once a request of need tokens that no quota could ever admit,
// and returns the reservation to make: want, lowered to the largest per-minute
// token limit among the quotas so that a generous completion guess cannot make a
// request unadmittable.
func (s *scheduler) check(model string, need, want int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	fits, capacity, serves := false, 0, false
	for _, q := range s.quotas {
		if !q.serves(model) {
			continue
		}
		serves = true
		b := q.buckets.of(now, model)
		if b.fits(need) {
			fits = true
		}
		tpm := b.limits().TPM
		if tpm == 0 {
			capacity = -1
		} else if capacity >= 0 {
			capacity = max(capacity, tpm)
		}
	}
	if !serves {
		return 0, &RequestError{Field: "model", Reason: fmt.Sprintf("no configured key serves model %q", model)}
	}
	if !fits {
		l := s.quotas[0].buckets.of(now, model).limits()
		return 0, fmt.Errorf("%w: model %s: about %d tokens requested, limits are %s tokens per minute and %s per day",
			ErrRequestTooLarge, model, need, limitText(l.TPM), limitText(l.TPD))
	}
	if capacity > 0 && want > capacity {
		want = capacity
	}
	return max(want, need), nil
}

// allKeys returns every key the client was given (for redaction).
func (s *scheduler) allKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

// contextWindow is the model's context window (0 when unknown).
func (s *scheduler) contextWindow(model string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quotas[0].buckets.of(s.now(), model).limits().ContextWindow
}

// acquire queues w (or re-queues it, keeping its place, for a retry) and blocks
// until it is admitted, its context ends, or the wait for capacity would pass the
// context's deadline or the maximum delay, in which case it returns a local
// *RateLimitError at once.
func (s *scheduler) acquire(ctx context.Context, w *waiter) (*grant, error) {
	s.mu.Lock()
	if err := s.join(w); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	var timer *time.Timer
	locked := true
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		// A panic (in a caller's Context, say) must not leave the waiter queued,
		// its grant held or the mutex locked: every later call would hang.
		if r := recover(); r != nil {
			if !locked {
				s.mu.Lock()
			}
			if g := w.grant; g != nil {
				s.settle(s.now(), *g, outcome{})
				w.grant = nil
			}
			s.leave(w)
			s.mu.Unlock()
			panic(r)
		}
	}()
	for {
		now := s.now()
		s.dispatch(now)
		g, done, err := s.admitted(ctx, w, now)
		if !done {
			var timerC <-chan time.Time
			if timerC, err = s.arm(ctx, w, now, &timer); err == nil {
				s.mu.Unlock()
				locked = false
				select {
				case <-w.wake:
				case <-timerC:
				case <-ctx.Done():
				}
				s.mu.Lock()
				locked = true
				continue
			}
			s.leave(w)
		}
		s.mu.Unlock()
		return g, err
	}
}

// join puts w in the queue: a first attempt takes a place (or is refused when the
// queue is full), a retry keeps the one it had. s.mu is held.
func (s *scheduler) join(w *waiter) error {
	if s.closed {
		return ErrClientClosed
	}
	if w.seq == 0 { // first attempt
		if s.maxQueue > 0 && s.waiting >= s.maxQueue {
			return ErrQueueFull
		}
		s.seq++
		w.seq = s.seq
		w.key = int64(w.priority)
		if s.aging > 0 {
			w.key = time.Now().UnixNano() + int64(w.priority-1)*int64(s.aging)
		}
	}
	s.enqueue(w)
	return nil
}

// admitted says whether w's wait is over: admitted (its grant), refused by
// dispatch, or given up (client closed, context ended). A waiter that gave up has
// left the queue. s.mu is held.
func (s *scheduler) admitted(ctx context.Context, w *waiter, now time.Time) (g *grant, done bool, err error) {
	if gp := w.grant; gp != nil {
		err := ctx.Err() // before the grant leaves w: a panic here must find it
		w.grant = nil
		if err != nil { // admitted just as it gave up
			s.settle(now, *gp, outcome{})
			return nil, true, err
		}
		return gp, true, nil
	}
	if err := w.err; err != nil {
		w.err = nil
		return nil, true, err
	}
	err = ctx.Err()
	if s.closed {
		err = ErrClientClosed
	}
	if err != nil {
		s.leave(w)
		return nil, true, err
	}
	return nil, false, nil
}

// arm sets the timer of w for the ready time of the head next names (w heading
// its group, or an owner's earliest head entry), and returns the channel to wait
// on (nil: wait to be woken). A wait past the maximum delay or the context's
// deadline is refused with a local *RateLimitError, unless w is an owner with an
// entry still behind others in its queue, which may be admitted sooner: it waits
// to be woken (its context still ends the wait). s.mu is held.
func (s *scheduler) arm(ctx context.Context, w *waiter, now time.Time, timer **time.Timer) (<-chan time.Time, error) {
	h := w.next(now)
	if h == nil {
		return nil, nil
	}
	wait := h.ready.Sub(now)
	reason := ""
	if wait > s.maxWait {
		reason = fmt.Sprintf("longer than the maximum delay %s", s.maxWait)
	} else if dl, has := ctx.Deadline(); has && h.ready.After(dl) {
		reason = fmt.Sprintf("past the context deadline (in %s)", dl.Sub(now).Round(time.Millisecond))
	}
	if reason != "" && w.list != nil && slices.ContainsFunc(w.list.alts, func(e *waiter) bool { return e.index != 0 }) {
		return nil, nil // another entry may come to head its queue sooner: wait to be woken
	}
	if reason != "" {
		return nil, &RateLimitError{Local: true, RetryAfter: wait, Model: h.model, KeyIndex: -1, Reason: reason}
	}
	if *timer == nil {
		*timer = time.NewTimer(wait)
	} else {
		(*timer).Reset(wait)
	}
	for _, e := range w.entries() {
		if e.index == 0 {
			e.armed = e.ready
		}
	}
	w.armed = w.ready
	return (*timer).C, nil
}

// outcome is what became of an admitted request.
type outcome struct {
	counted   bool          // the server counted the request
	used      int           // tokens it counted, when counted
	info      RateLimitInfo // the response's x-ratelimit-* headers
	limited   *limitSignal  // a 429 that named its limit
	coolUntil time.Time     // a cooldown to set (zero: none)
	fitsIn    time.Duration // a 429's message: when the request fits the bucket, when sooner than coolUntil (0: coolUntil)
	shareCool bool          // with a QuotaStore: tell it coolUntil (not told yet: it was not read from a header)
}

// countedUsed is the tokens the server counted: used, or 0 when it did not count
// the request.
func (o outcome) countedUsed() int {
	if o.counted {
		return o.used
	}
	return 0
}

// wrote tells g's buckets that its request was written to the server now (see
// modelBuckets.wrote). Only a grant whose buckets were nearly full asks.
func (s *scheduler) wrote(g grant) {
	s.mu.Lock()
	now := s.now()
	s.quotas[g.quota].buckets.of(now, g.model).wrote(now, g.sent)
	s.changed(g.model)
	s.mu.Unlock()
}

// finish settles an admitted request and frees its slot.
func (s *scheduler) finish(g grant, o outcome) {
	name, l := s.settleBuckets(g, o)
	s.store.settle(g, o, l)
	s.tellLearned(name, g.model, l)
	s.tellOthers(name, g.model, l.seen, l.others)
	s.logAboveTable(name, g.model, o, l)
	s.logLearned(name, g.model, o, l)
}

// settleBuckets settles g in its quota's buckets with o and frees its slot (see
// settle); it returns the quota's name and what the buckets learnt. s.mu is not
// held.
func (s *scheduler) settleBuckets(g grant, o outcome) (string, lesson) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.settle(s.now(), g, o)
	return s.quotas[g.quota].name, l
}

// tellLearned tells the observer what the buckets of quota and model learnt: a
// depth, a pacing margin, or a refusal that was another program's spending.
func (s *scheduler) tellLearned(quota, model string, l lesson) {
	if s.obs != nil && (l.burst > 0 || l.margin > 0 || l.foreign) {
		e := LearnedEvent{Quota: quota, Model: model, Limit: l.kind.String(), Burst: l.burst, Margin: l.margin, Others: l.foreign}
		if l.others != nil {
			e.Foreign = *l.others
		}
		s.obs.learned(e)
	}
}

// logAboveTable logs that the headers of an answer (o) showed the organization's
// limits above the built-in table.
func (s *scheduler) logAboveTable(quota, model string, o outcome, l lesson) {
	if !l.aboveTable {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "groq: this organization's limits are above the built-in table (Groq's free plan); pacing at what its headers and 429s say",
		slog.String("quota", quota), slog.String("model", model),
		slog.Int("rpd", o.info.RequestsPerDay), slog.Int("tpm", o.info.TokensPerMinute))
}

// logLearned logs what a 429 (o) taught the buckets of quota and model: a depth,
// a pacing margin, or that the refusal was another program's spending.
func (s *scheduler) logLearned(quota, model string, o outcome, l lesson) {
	ctx := context.Background()
	switch {
	case l.burst > 0:
		s.log.LogAttrs(ctx, slog.LevelInfo, "groq: the server's bucket is shallower than its limit; using the burst it showed",
			slog.String("quota", quota), slog.String("model", model), slog.String("limit", l.kind.String()), slog.Int("burst", l.burst))
	case l.margin > 0:
		s.log.LogAttrs(ctx, slog.LevelInfo, "groq: the server's refill runs behind; pacing margin widened",
			slog.String("quota", quota), slog.String("model", model), slog.String("limit", l.kind.String()), slog.Duration("margin", l.margin))
	case l.foreign:
		s.log.LogAttrs(ctx, slog.LevelInfo, "groq: another program spent this quota; waiting the server's time (nothing learnt of the bucket)",
			slog.String("quota", quota), slog.String("model", model), slog.String("limit", l.kind.String()),
			slog.Int("used", o.limited.used), slog.Int("of", o.limited.limit))
	}
}

// tellOthers tells the observer and the log that another program started or
// stopped being seen spending quota's limits (RPM: requests, TPM: tokens), with
// the estimate f. s.mu is not held.
func (s *scheduler) tellOthers(quota, model string, kinds []limitKind, f *ForeignSpending) {
	for _, k := range kinds {
		if s.obs != nil {
			s.obs.learned(LearnedEvent{Quota: quota, Model: model, Limit: k.String(), Foreign: *f})
		}
		s.logOthers(quota, model, k, *f)
	}
}

// logOthers logs that another program started or stopped being seen spending
// quota's limit k.
func (s *scheduler) logOthers(quota, model string, k limitKind, f ForeignSpending) {
	ctx := context.Background()
	if n := f.Reserve.of(k); n > 0 {
		rate := f.RequestsPerMinute
		if k == kindTPM {
			rate = f.TokensPerMinute
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "groq: another program spends this quota; leaving it room",
			slog.String("quota", quota), slog.String("model", model), slog.String("limit", k.String()),
			slog.Float64("per_minute", math.Round(rate*10)/10), slog.Int("reserve", n))
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "groq: the other program on this quota is no longer seen; leaving it no room",
		slog.String("quota", quota), slog.String("model", model), slog.String("limit", k.String()))
}

// changed marks model's buckets changed, so that its head's ready time is computed
// again; an empty model marks every model. s.mu is held.
func (s *scheduler) changed(model string) {
	if model != "" {
		if g := s.groups[model]; g != nil {
			g.epoch++
		}
		return
	}
	for _, g := range s.groups {
		g.epoch++
	}
}

// settle is finish under s.mu.
func (s *scheduler) settle(now time.Time, g grant, o outcome) lesson {
	s.changed(g.model)
	b := s.quotas[g.quota].buckets.of(now, g.model)
	b.reconcile(now, g.sent, g.reserved, o.used, o.counted)
	var r refusal
	if o.limited != nil {
		r = refusal{sig: *o.limited, sent: g.sent, tokens: g.reserved, wait: o.coolUntil.Sub(now), before: b.level(now, o.limited.kind)}
		if o.fitsIn > 0 {
			r.wait = o.fitsIn
		}
	}
	set := s.quotas[g.quota].buckets
	wasAbove := set.plan.above
	seen, others := b.observe(now, o.info, o.limited != nil || !o.coolUntil.IsZero(), g.sent.at)
	b.landed(g.reserved)
	var l lesson
	if !wasAbove && set.plan.above {
		// The table's guesses are not this organization's: every model of the
		// quota drops them.
		set.applyAll(now)
		s.changed("")
		l.aboveTable = true
	}
	if o.limited != nil {
		r.seen = seen
		l = b.rateLimited(now, r)
		if l.burst > 0 {
			for i, q := range s.quotas {
				if i != g.quota && q.serves(g.model) {
					q.buckets.of(now, g.model).hintBurst(now, l.kind, l.burst)
				}
			}
		}
	} else if o.counted {
		b.settled(now)
	}
	if !o.coolUntil.IsZero() {
		b.coolDown(o.coolUntil)
	}
	if len(others) > 0 || l.foreign {
		f := b.foreign.snapshot(now, b.bursts())
		l.others, l.seen = &f, others
	}
	if o.counted || o.limited != nil {
		s.sampleLatency(now.Sub(g.sent.at))
	}
	s.sem.Release(1)
	s.held--
	s.dispatch(now)
	return l
}

// sampleLatency folds one answer's time since admission into the moving average
// that the adaptive bound on requests in flight reads. s.mu is held.
func (s *scheduler) sampleLatency(d time.Duration) {
	if d <= 0 {
		return
	}
	if s.latency == 0 {
		s.latency = d
		return
	}
	s.latency += (d - s.latency) / 5
}

// bound is how many requests may be in flight when the next one is for model: a
// fixed WithMaxConcurrency, or, adaptively, DefaultMaxConcurrency plus, for each
// quota serving the model, what its request bucket holds now (at most
// 4 × DefaultMaxConcurrency: a full bucket may be spent at once, but a bucket
// shallower than the client believes must cost at most one such wave of 429s) and
// twice its refill over the average latency (Little's law with headroom; an
// unknown latency counts as a second), or DefaultMaxConcurrency for a quota whose
// RPM is unknown; never above MaxAdaptiveConcurrency. s.mu is held.
func (s *scheduler) bound(now time.Time, model string) int {
	if !s.adaptive {
		return s.slots
	}
	lat := s.latency
	if lat <= 0 {
		lat = time.Second
	}
	n := float64(DefaultMaxConcurrency)
	for _, q := range s.quotas {
		if !q.serves(model) {
			continue
		}
		lim := q.buckets.of(now, model).lim[kindRPM]
		if lim == nil {
			n += DefaultMaxConcurrency
			continue
		}
		n += min(max(lim.TokensAt(now), 0), 4*DefaultMaxConcurrency) + 2*float64(lim.Limit())*lat.Seconds()
	}
	return min(s.slots, int(math.Ceil(n)))
}

// close fails every waiter with ErrClientClosed.
func (s *scheduler) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, g := range s.groups {
		for _, w := range g.q {
			w.signal()
		}
	}
}

func (s *scheduler) snapshot(model string) RateLimitSnapshot {
	s.mu.Lock()
	now := s.now()
	snap := RateLimitSnapshot{Model: model, Queued: map[int]int{}, InFlight: s.inFlight()}
	var names []string
	for _, q := range s.quotas {
		if !q.serves(model) {
			continue
		}
		qs := q.buckets.of(now, model).snapshot(now)
		qs.Name, qs.Keys = q.name, append([]int(nil), q.keys...)
		snap.Quotas = append(snap.Quotas, qs)
		names = s.store.appendName(names, s, q)
	}
	for p, n := range s.byPrio {
		if n > 0 {
			snap.Queued[p] = n
		}
	}
	s.mu.Unlock()
	s.store.usage(model, names, snap.Quotas) // outside the lock
	return snap
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

// inFlight is how many slots of the semaphore are held. Slots are taken
// (dispatch) and given back (settle) only under s.mu, which is held.
func (s *scheduler) inFlight() int { return s.held }

// enqueue puts w in its model's group, or an owner's entries in theirs, with the
// owner's place. s.mu is held.
func (s *scheduler) enqueue(w *waiter) {
	if w.tag == 0 { // a first attempt: a retry keeps its turn
		w.tag = s.fair.tag(w.caller, w.priority)
	}
	w.ready, w.armed = time.Time{}, time.Time{}
	s.waiting++
	s.byPrio[w.priority]++
	w.counted = true
	if w.list == nil {
		s.push(w)
		return
	}
	for _, e := range w.list.alts {
		e.key, e.tag, e.seq, e.caller = w.key, w.tag, w.seq, w.caller
		e.ready, e.armed = time.Time{}, time.Time{}
		s.push(e)
	}
}

// push puts w in its model's group. s.mu is held.
func (s *scheduler) push(w *waiter) {
	g := s.groups[w.model]
	if g == nil {
		g = &group{}
		s.groups[w.model] = g
	}
	heap.Push(&g.q, w)
	g.byPrio[w.priority]++
}

// remove takes w (or an owner's every entry) out of its group. s.mu is held.
func (s *scheduler) remove(w *waiter) {
	if w.counted {
		w.counted = false
		s.waiting--
		s.byPrio[w.priority]--
	}
	for _, e := range w.entries() {
		s.pop(e)
	}
	s.pop(w)
}

// pop takes w out of its group. s.mu is held.
func (s *scheduler) pop(w *waiter) {
	if w.index < 0 {
		return
	}
	g := s.groups[w.model]
	heap.Remove(&g.q, w.index)
	if g.q.Len() == 0 {
		delete(s.groups, w.model)
	}
	g.byPrio[w.priority]--
}

// leave takes w out of the queue (its context ended or it gave up) and lets the
// next waiter of its model move up. s.mu is held.
func (s *scheduler) leave(w *waiter) {
	s.remove(w)
	s.dispatch(s.now())
}

// dispatch admits, while concurrency slots are free, the most urgent group head
// that is ready now, and wakes every head whose ready time changed so that it sets
// its timer again. s.mu is held.
func (s *scheduler) dispatch(now time.Time) {
	for {
		var best *waiter
		dropped := false
		for _, g := range s.groups {
			h := g.q[0]
			if h.ready.After(now) && h.epoch == g.epoch && h.rank == 0 {
				continue // nothing changed: still not ready, its timer is set
			}
			qi, at, ok := s.pick(now, h)
			if !ok {
				// The limits changed under it (Reload, a learnt limit): it can never
				// be admitted. Its group's next head is looked at on the next round.
				s.drop(h)
				dropped = true
				continue
			}
			if h.rank > 0 && !at.After(now) {
				var waits bool
				if at, waits = s.preferred(now, h, at); waits && !at.After(now) {
					h.ready, h.quota, h.epoch = at, qi, g.epoch
					continue // an earlier model of its list takes it now
				}
			}
			h.ready, h.quota, h.epoch = at, qi, g.epoch
			if at.After(now) {
				if !h.armed.Equal(at) {
					h.signal()
				}
				continue
			}
			if best == nil || h.before(best) {
				best = h
			}
		}
		if best == nil || s.held >= s.bound(now, best.model) || !s.sem.TryAcquire(1) {
			if dropped {
				continue
			}
			return
		}
		s.held++
		w := best
		if best.owner != nil {
			w = best.owner
		}
		s.remove(w)
		s.fair.admitted(best)
		g := s.take(now, best, best.quota)
		w.grant = &g
		w.signal()
	}
}

// drop fails w, which can never be admitted: a call of one model, or the last
// entry of a list, gets ErrRequestTooLarge; another entry only leaves its list.
// s.mu is held.
func (s *scheduler) drop(w *waiter) {
	err := fmt.Errorf("%w: model %s: %d tokens exceed every quota's limits", ErrRequestTooLarge, w.model, w.tokens)
	if o := w.owner; o != nil {
		s.pop(w)
		o.list.left = append(o.list.left, modelFailure{w.model, err})
		o.list.remove(func(e *waiter) bool { return e == w })
		if len(o.list.alts) > 0 {
			o.signal() // its wait may have changed
			return
		}
		w = o
	}
	s.remove(w)
	w.err = err
	w.signal()
}

// preferred is when entry h, ready at at (now or before), may be admitted: an
// earlier model of its owner's list that heads its queue and can take the call
// within the owner's WithFallbackAfter is waited for (waits; h holds its own
// queue meanwhile, for at most that long); else at. s.mu is held.
func (s *scheduler) preferred(now time.Time, h *waiter, at time.Time) (time.Time, bool) {
	for _, e := range h.owner.list.alts[:h.rank] {
		if e.index != 0 {
			continue // others go first there: its wait is not known
		}
		if _, t, ok := s.pick(now, e); ok && t.Sub(now) <= h.owner.list.after {
			return t, true
		}
	}
	return at, false
}

// waitingAhead is how many calls wait for model with priority p or more urgent.
func (s *scheduler) waitingAhead(model string, p int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[model]
	if g == nil {
		return 0
	}
	n := 0
	for prio := 1; prio <= min(max(p, 1), 10); prio++ {
		n += g.byPrio[prio]
	}
	return n
}

// coolNow holds g's quota and model back until t: as soon as a 429's header is
// read (the grant is settled later; share tells the QuotaStore too, when there is
// one), or for the wait a QuotaStore asked for.
func (s *scheduler) coolNow(g grant, t time.Time, share bool) {
	s.mu.Lock()
	s.quotas[g.quota].buckets.of(s.now(), g.model).coolDown(t)
	s.changed(g.model)
	s.mu.Unlock()
	if share {
		s.store.coolDown(g, t)
	}
}

// handOver reports whether g's request may go to the transport now: not when its
// quota and model are cooling down (another call's 429 arrived since it was
// admitted). When it may, its buckets note that it is leaving: a 429 read from
// now on may have been caused by it in part.
func (s *scheduler) handOver(g grant) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	b := s.quotas[g.quota].buckets.of(now, g.model)
	if b.coolUntil.After(now) {
		return false
	}
	b.handedOver(g.sent.seq)
	return true
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
		t, fits := s.quotas[i].buckets.of(now, w.model).readyAt(now, w.tokens)
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
	b := q.buckets.of(now, w.model)
	sent := b.reserve(now, w.tokens)
	b.pending(sent, w.tokens)
	s.changed(w.model)
	s.rr = (qi + 1) % len(s.quotas)
	key := q.keys[q.nextKey%len(q.keys)]
	q.nextKey++
	g := grant{quota: qi, keyIndex: key, key: s.keys[key], url: s.urlLocked(w.model), model: w.model, quotaName: q.name, reserved: w.tokens, sent: sent}
	g.storeReq = s.store.request(s, q, b, w)
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

// storeName is q's name in a QuotaStore, made on first use. s.mu is held.
func (s *scheduler) storeName(q *quota) string {
	if q.storeName == "" {
		if strings.HasPrefix(q.name, "key#") && len(q.keys) == 1 {
			sum := sha256.Sum256([]byte(s.keys[q.keys[0]]))
			q.storeName = "key:" + hex.EncodeToString(sum[:8])
		} else {
			q.storeName = "org:" + q.name
		}
	}
	return q.storeName
}

// members records a QuotaStore's count of its members' spending on g's quota and
// model, and tells when another program started or stopped being seen.
func (s *scheduler) members(g grant, spent QuotaSpent) {
	s.mu.Lock()
	now := s.now()
	b := s.quotas[g.quota].buckets.of(now, g.model)
	changed := b.membersCounted(now, spent.Requests, spent.Tokens)
	var f ForeignSpending
	if len(changed) > 0 {
		f = b.foreign.snapshot(now, b.bursts())
		s.changed(g.model)
	}
	name := s.quotas[g.quota].name
	s.mu.Unlock()
	s.tellOthers(name, g.model, changed, &f)
}

// applyRouting gives the scheduler a configuration's keys, models and URLs: new
// keys get quotas of their own, keys no longer configured are retired (their
// requests in flight still settle), except the first pinned quotas (given by
// options), which serve every model whatever the file says; the limits of every
// bucket are changed in place with SetLimit and SetBurst. s.mu is held.
func (s *scheduler) applyRouting(now time.Time, rt routing, pinned int, newBuckets func() *bucketSet) {
	byOption := map[*quota]bool{}
	for _, q := range s.quotas[:min(pinned, len(s.quotas))] {
		byOption[q] = true
	}
	index := map[string]int{}
	for i, k := range s.keys {
		index[k] = i
	}
	quotaOf := map[int]*quota{}
	for _, q := range s.quotas {
		for _, k := range q.keys {
			quotaOf[k] = q
		}
	}
	live := map[*quota]bool{}
	for _, k := range rt.keys {
		i, ok := index[k]
		if !ok {
			i = len(s.keys)
			s.keys = append(s.keys, k)
			index[k] = i
		}
		q, existed := quotaOf[i]
		if !existed {
			q = &quota{name: fmt.Sprintf("key#%d", i), keys: []int{i}, buckets: newBuckets(), models: map[string]bool{}}
			s.quotas = append(s.quotas, q)
			quotaOf[i] = q
		}
		switch {
		case byOption[q]:
			// also given by an option (WithAPIKeys, the environment,
			// WithOrganization): it keeps serving every model
		case !live[q]:
			q.models = map[string]bool{}
			fallthrough
		default:
			for _, m := range rt.keyModels[k] {
				q.models[m] = true
			}
		}
		q.retired = false
		live[q] = true
	}
	for _, q := range s.quotas {
		if !live[q] && !byOption[q] {
			q.retired = true
		}
	}
	s.urls = rt.urls
	for _, q := range s.quotas {
		q.buckets.reconfigure(now)
	}
	s.changed("")
	s.dispatch(now)
}

// statusModels is the models to describe (every model a quota has buckets for,
// every model with waiters, and def), sorted, and the queue by priority and
// the requests in flight across all models.
func (s *scheduler) statusModels(def string) (models []string, queued map[int]int, inFlight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{def: def != ""}
	for _, q := range s.quotas {
		for m := range q.buckets.models {
			seen[m] = true
		}
	}
	for m := range s.groups {
		seen[m] = true
	}
	for m, ok := range seen {
		if ok {
			models = append(models, m)
		}
	}
	slices.Sort(models)
	queued = map[int]int{}
	for p, n := range s.byPrio {
		if n > 0 {
			queued[p] = n
		}
	}
	return models, queued, s.held
}

// modelLoad is model's waiters by priority and its requests in flight.
func (s *scheduler) modelLoad(model string) (queued map[int]int, inFlight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	queued = map[int]int{}
	if g := s.groups[model]; g != nil {
		for p, n := range g.byPrio {
			if n > 0 {
				queued[p] = n
			}
		}
	}
	for _, q := range s.quotas {
		if b := q.buckets.models[model]; b != nil {
			inFlight += b.inFlight
		}
	}
	return queued, inFlight
}

// writeTrace reports the first successful write of g's request to the scheduler
// (a transport that retries a request on a fresh connection writes it again).
// Only http.Transport calls it; a RoundTripper of another kind never does.
func (s *scheduler) writeTrace(g grant) *httptrace.ClientTrace {
	var once atomic.Bool
	return &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil && once.CompareAndSwap(false, true) {
			s.wrote(g)
		}
	}}
}

// noStore is quotaSync without a QuotaStore: this process paces alone and has
// nothing to tell anyone. Each method returns at once, with no allocation and no
// lock: a call without a store pays one interface call per step.
type noStore struct{}

func (noStore) request(*scheduler, *quota, *modelBuckets, *waiter) QuotaRequest {
	return QuotaRequest{}
}

func (noStore) admit(context.Context, *Client, grant) (bool, *owed, *failure) { return false, nil, nil }

func (noStore) settle(grant, outcome, lesson) {}

func (noStore) coolDown(grant, time.Time) {}

func (noStore) appendName(names []string, _ *scheduler, _ *quota) []string { return names }

func (noStore) usage(string, []string, []QuotaSnapshot) {}
