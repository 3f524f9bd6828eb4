package groq

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// The scheduler admits calls: it decides who goes next, to which quota, and when.
//
// Waiters are grouped by model. A model is one resource, served by the quotas whose
// keys serve it; each group is a heap ordered by priority (or, with aging, by the
// time a waiter reaches the top level) and then by arrival. Only a group's head is
// considered for admission, so priority and first-come order hold within a model,
// and a model whose buckets are empty holds back its own waiters and nobody else's.
//
// dispatch runs under the mutex whenever something changes (a call arrives or
// leaves, a request finishes, a head's timer fires). It computes each group's head's
// ready time (the earliest time a quota can take it: buckets, pacing margin and
// cooldowns, see modelBuckets.readyAt) and, while a concurrency slot is free, hands
// one to the most urgent head that is ready now, across all groups, so that slots
// go in priority order. The admitted waiter is woken with its grant. A head that is
// not ready sleeps on a timer set to its ready time; every other waiter sleeps on
// its wake channel. The scheduler has no goroutine of its own.
//
// Cost: one dispatch is O(G·Q + log n) for G models with waiters, Q quotas and n
// waiters. G and Q are small, so admission stays logarithmic in the waiters.
//
// Trade-off: a slot is never held idle for a call that cannot go yet. When a
// low-priority call of one model is ready and an urgent call of another waits for
// its bucket to refill, the low-priority call takes the free slot (strict
// head-of-line order, as in x/sync/semaphore, would leave both waiting). Within a
// model, order is strict.

// waiter is one call waiting for admission. It keeps its place (key, seq) across
// retries.
type waiter struct {
	key      int64  // priority, or with aging the time it reaches the top level
	seq      uint64 // arrival order, breaks ties first come first served
	priority int
	index    int // position in its group's heap, -1 when not queued
	wake     chan struct{}
	model    string
	tokens   int

	// Set by dispatch, under the scheduler's mutex.
	ready time.Time // when a head can be admitted (zero: not a head yet)
	quota int       // the quota that can take it then
	epoch uint64    // its group's epoch when ready was computed
	armed time.Time // the ready time the waiter's timer is set for
	grant *grant    // its admission, once granted
	err   error     // it can never be admitted
}

func newWaiter(priority int, model string, tokens int) *waiter {
	return &waiter{priority: priority, index: -1, wake: make(chan struct{}, 1), model: model, tokens: tokens}
}

// before orders waiters: lower key first, then earlier arrival.
func (w *waiter) before(o *waiter) bool {
	if w.key != o.key {
		return w.key < o.key
	}
	return w.seq < o.seq
}

func (w *waiter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

type waitQueue []*waiter

// group is one model's waiters. Its epoch counts changes to the model's buckets, so
// that a head's ready time is computed again only when it may have changed (with
// no change, a bucket only refills, and a future ready time stays right).
type group struct {
	q     waitQueue
	epoch uint64
}

func (q waitQueue) Len() int           { return len(q) }
func (q waitQueue) Less(i, j int) bool { return q[i].before(q[j]) }
func (q waitQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *waitQueue) Push(x any) {
	w := x.(*waiter)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *waitQueue) Pop() any {
	old := *q
	n := len(old)
	w := old[n-1]
	old[n-1] = nil
	w.index = -1
	*q = old[:n-1]
	return w
}

// scheduler: see the comment at the top of this file.
type scheduler struct {
	mu       sync.Mutex
	groups   map[string]*group // waiters by model; a group is deleted when empty
	waiting  int
	byPrio   [11]int
	sem      *semaphore.Weighted
	inFlight int
	quotas   []*quota
	keys     []string          // every key ever configured; indexes are stable
	urls     map[string]string // model -> chat URL, when it is not defURL
	defURL   string
	rr       int // round-robin start among quotas
	seq      uint64
	maxQueue int
	aging    time.Duration
	maxWait  time.Duration
	closed   bool
	log      *slog.Logger
	obs      *observing // nil in tests that build a scheduler alone
	shared   *shared    // nil without a QuotaStore
}

func newScheduler(keys []string, quotas []*quota, slots, maxQueue int, aging, maxWait time.Duration, log *slog.Logger) *scheduler {
	return &scheduler{
		keys: keys, quotas: quotas, sem: semaphore.NewWeighted(int64(slots)), groups: map[string]*group{},
		maxQueue: maxQueue, aging: aging, maxWait: maxWait, urls: map[string]string{}, log: log,
	}
}

// grant is an admission: a quota, a key and a concurrency slot, with the tokens
// reserved. finish must be called exactly once.
type grant struct {
	quota     int
	keyIndex  int
	key       string // the secret itself, for the Authorization header only
	url       string // where to send the request
	model     string
	reserved  int
	quotaName string       // for events and logs
	sent      sendLevels   // the buckets before the reservation, for learning from a 429
	settled   *atomic.Bool // set by the first finish: a grant is settled once
	sharedReq QuotaRequest // with a QuotaStore: the request to it
	sharedOK  bool         // the QuotaStore admitted it: settle it there too
}

// check refuses at once a request of need tokens that no quota could ever admit,
// and returns the reservation to make: want, lowered to the largest per-minute
// token limit among the quotas so that a generous completion guess cannot make a
// request unadmittable.
func (s *scheduler) check(model string, need, want int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	fits, capacity, serves := false, 0, false
	for _, q := range s.quotas {
		if !q.serves(model) {
			continue
		}
		serves = true
		if q.store.fits(model, need) {
			fits = true
		}
		tpm := q.store.limits(now, model).TPM
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
		l := s.quotas[0].store.limits(now, model)
		return 0, fmt.Errorf("%w: model %s: about %d tokens requested, limits are %d tokens per minute and %d per day",
			ErrRequestTooLarge, model, need, l.TPM, l.TPD)
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
	return s.quotas[0].store.limits(time.Now(), model).ContextWindow
}

// acquire queues w (or re-queues it, keeping its place, for a retry) and blocks
// until it is admitted, its context ends, or the wait for capacity would pass the
// context's deadline or the maximum delay, in which case it returns a local
// *RateLimitError at once.
func (s *scheduler) acquire(ctx context.Context, w *waiter) (grant, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return grant{}, ErrClientClosed
	}
	if w.seq == 0 { // first attempt
		if s.maxQueue > 0 && s.waiting >= s.maxQueue {
			s.mu.Unlock()
			return grant{}, ErrQueueFull
		}
		s.seq++
		w.seq = s.seq
		w.key = int64(w.priority)
		if s.aging > 0 {
			w.key = time.Now().UnixNano() + int64(w.priority-1)*int64(s.aging)
		}
	}
	s.enqueue(w)
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
			if g := w.grant; g != nil && g.settled.CompareAndSwap(false, true) {
				s.settle(time.Now(), *g, outcome{})
				w.grant = nil
			}
			s.leave(w)
			s.mu.Unlock()
			panic(r)
		}
	}()
	for {
		now := time.Now()
		s.dispatch(now)
		if gp := w.grant; gp != nil {
			if err := ctx.Err(); err != nil { // admitted just as it gave up
				gp.settled.Store(true)
				s.settle(now, *gp, outcome{})
				w.grant = nil
				s.mu.Unlock()
				return grant{}, err
			}
			w.grant = nil
			s.mu.Unlock()
			return *gp, nil
		}
		if err := w.err; err != nil {
			w.err = nil
			s.mu.Unlock()
			return grant{}, err
		}
		if s.closed {
			s.leave(w)
			s.mu.Unlock()
			return grant{}, ErrClientClosed
		}
		if err := ctx.Err(); err != nil {
			s.leave(w)
			s.mu.Unlock()
			return grant{}, err
		}
		var timerC <-chan time.Time
		if w.index == 0 && w.ready.After(now) {
			wait := w.ready.Sub(now)
			reason := ""
			if wait > s.maxWait {
				reason = fmt.Sprintf("longer than the maximum delay %s", s.maxWait)
			} else if dl, has := ctx.Deadline(); has && w.ready.After(dl) {
				reason = fmt.Sprintf("past the context deadline (in %s)", dl.Sub(now).Round(time.Millisecond))
			}
			if reason != "" {
				s.leave(w)
				s.mu.Unlock()
				return grant{}, &RateLimitError{Local: true, RetryAfter: wait, Model: w.model, KeyIndex: -1, Reason: reason}
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			w.armed, timerC = w.ready, timer.C
		}
		s.mu.Unlock()
		locked = false
		select {
		case <-w.wake:
		case <-timerC:
		case <-ctx.Done():
		}
		s.mu.Lock()
		locked = true
	}
}

// enqueue puts w in its model's group. s.mu is held.
func (s *scheduler) enqueue(w *waiter) {
	g := s.groups[w.model]
	if g == nil {
		g = &group{}
		s.groups[w.model] = g
	}
	w.ready, w.armed = time.Time{}, time.Time{}
	heap.Push(&g.q, w)
	s.waiting++
	s.byPrio[w.priority]++
}

// remove takes w out of its group. s.mu is held.
func (s *scheduler) remove(w *waiter) {
	if w.index < 0 {
		return
	}
	g := s.groups[w.model]
	heap.Remove(&g.q, w.index)
	if g.q.Len() == 0 {
		delete(s.groups, w.model)
	}
	s.waiting--
	s.byPrio[w.priority]--
}

// leave takes w out of the queue (its context ended or it gave up) and lets the
// next waiter of its model move up. s.mu is held.
func (s *scheduler) leave(w *waiter) {
	s.remove(w)
	s.dispatch(time.Now())
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
			if h.ready.After(now) && h.epoch == g.epoch {
				continue // nothing changed: still not ready, its timer is set
			}
			qi, at, ok := s.pick(now, h)
			if !ok {
				// The limits changed under it (Reload, a learnt limit): it can never
				// be admitted. Its group's next head is looked at on the next round.
				s.remove(h)
				h.err = fmt.Errorf("%w: model %s: %d tokens exceed every quota's limits", ErrRequestTooLarge, h.model, h.tokens)
				h.signal()
				dropped = true
				continue
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
		if best == nil || !s.sem.TryAcquire(1) {
			if dropped {
				continue
			}
			return
		}
		s.remove(best)
		s.inFlight++
		g := s.take(now, best, best.quota)
		best.grant = &g
		best.signal()
	}
}

// outcome is what became of an admitted request.
type outcome struct {
	counted   bool          // the server counted the request
	used      int           // tokens it counted, when counted
	info      RateLimitInfo // the response's x-ratelimit-* headers
	limited   *limitSignal  // a 429 that named its limit
	coolUntil time.Time     // a cooldown to set (zero: none)
	shareCool bool          // with a QuotaStore: share coolUntil (not shared when the header was read)
}

// finish settles an admitted request and frees its slot. A grant is settled once:
// later calls do nothing (a panic's cleanup may come after a regular finish).
func (s *scheduler) finish(g grant, o outcome) {
	if g.settled != nil && !g.settled.CompareAndSwap(false, true) {
		return
	}
	now := time.Now()
	s.mu.Lock()
	l := s.settle(now, g, o)
	name := s.quotas[g.quota].name
	s.mu.Unlock()
	if g.sharedOK {
		s.sharedSettle(g, o)
	}
	if s.shared != nil && o.shareCool && !o.coolUntil.IsZero() {
		// A 429 whose wait came from its message or from backoff (a header's wait
		// was shared as soon as it was read): every process waits it too.
		if err := s.shared.store.CoolDown(context.Background(), g.sharedReq.Quota, g.model, time.Until(o.coolUntil)); err != nil {
			s.shared.failed("CoolDown", err)
		}
	}
	if s.shared != nil && l.burst > 0 && (l.kind == kindRPM || l.kind == kindTPM) {
		if err := s.shared.store.Learn(context.Background(), g.sharedReq.Quota, g.model, l.kind.String(), l.burst); err != nil {
			s.shared.failed("Learn", err)
		}
	}
	if s.obs != nil && (l.burst > 0 || l.margin > 0 || l.foreign) {
		e := LearnedEvent{Quota: name, Model: g.model, Limit: l.kind.String(), Burst: l.burst, Margin: l.margin, Others: l.foreign}
		if l.others != nil {
			e.Foreign = *l.others
		}
		s.obs.learned(e)
	}
	s.tellOthers(name, g.model, l.seen, l.others)
	ctx := context.Background()
	switch {
	case l.burst > 0:
		s.log.LogAttrs(ctx, slog.LevelInfo, "groq: the server's bucket is shallower than its limit; using the burst it showed",
			slog.String("quota", name), slog.String("model", g.model), slog.String("limit", l.kind.String()), slog.Int("burst", l.burst))
	case l.margin > 0:
		s.log.LogAttrs(ctx, slog.LevelInfo, "groq: the server's refill runs behind; pacing margin widened",
			slog.String("quota", name), slog.String("model", g.model), slog.String("limit", l.kind.String()), slog.Duration("margin", l.margin))
	case l.foreign:
		s.log.LogAttrs(ctx, slog.LevelInfo, "groq: another program spent this quota; waiting the server's time (nothing learnt of the bucket)",
			slog.String("quota", name), slog.String("model", g.model), slog.String("limit", l.kind.String()),
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
	st := s.quotas[g.quota].store
	st.reconcile(now, g.model, g.sent, g.reserved, o.used, o.counted)
	var r refusal
	if o.limited != nil {
		r = refusal{sig: *o.limited, sent: g.sent, tokens: g.reserved, wait: o.coolUntil.Sub(now), before: st.level(now, g.model, o.limited.kind)}
	}
	seen, others := st.observe(now, g.model, o.info, o.limited != nil || !o.coolUntil.IsZero())
	var l lesson
	if o.limited != nil {
		r.seen = seen
		l = st.rateLimited(now, g.model, r)
		if l.burst > 0 {
			for i, q := range s.quotas {
				if i != g.quota && q.serves(g.model) {
					q.store.hintBurst(now, g.model, l.kind, l.burst)
				}
			}
		}
	} else if o.counted {
		st.settled(now, g.model)
	}
	if !o.coolUntil.IsZero() {
		st.coolDown(g.model, o.coolUntil)
	}
	if len(others) > 0 || l.foreign {
		f := st.snapshot(now, g.model).Foreign
		l.others, l.seen = &f, others
	}
	s.inFlight--
	s.sem.Release(1)
	s.dispatch(now)
	return l
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
	now := time.Now()
	s.mu.Lock()
	snap := RateLimitSnapshot{Model: model, Queued: map[int]int{}, InFlight: s.inFlight}
	var names []string
	for _, q := range s.quotas {
		if !q.serves(model) {
			continue
		}
		qs := q.store.snapshot(now, model)
		qs.Name, qs.Keys = q.name, append([]int(nil), q.keys...)
		snap.Quotas = append(snap.Quotas, qs)
		if s.shared != nil {
			names = append(names, s.sharedName(q))
		}
	}
	for p, n := range s.byPrio {
		if n > 0 {
			snap.Queued[p] = n
		}
	}
	s.mu.Unlock()
	for i, name := range names { // the store is asked outside the lock
		if u, err := s.shared.store.Usage(context.Background(), name, model, snap.Quotas[i].Limits); err == nil {
			snap.Quotas[i].Shared = &u
		}
	}
	return snap
}
