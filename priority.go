package groq

import (
	"container/heap"
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/semaphore"
	"sync"
)

// waiter is one call waiting for admission. It keeps its place (key, seq) across
// retries.
type waiter struct {
	key      int64  // priority, or with aging the time it reaches the top level
	seq      uint64 // arrival order, breaks ties first come first served
	priority int
	index    int // position in the heap, -1 when not queued
	wake     chan struct{}
	model    string
	tokens   int
}

type waitQueue []*waiter

func (q waitQueue) Len() int { return len(q) }
func (q waitQueue) Less(i, j int) bool {
	if q[i].key != q[j].key {
		return q[i].key < q[j].key
	}
	return q[i].seq < q[j].seq
}
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

// scheduler admits calls: the most urgent waiter goes next, to the quota that can
// take it soonest, once a concurrency slot is free. It has no goroutine of its own:
// the waiter at the head of the queue waits on a timer for capacity, the others on
// their wake channel, and every change that may let the head go wakes it.
type scheduler struct {
	mu       sync.Mutex
	queue    waitQueue
	byPrio   [11]int
	sem      *semaphore.Weighted
	slots    int64
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
}

func newScheduler(keys []string, quotas []*quota, slots, maxQueue int, aging, maxWait time.Duration) *scheduler {
	return &scheduler{
		keys: keys, quotas: quotas, sem: semaphore.NewWeighted(int64(slots)), slots: int64(slots),
		maxQueue: maxQueue, aging: aging, maxWait: maxWait, urls: map[string]string{},
	}
}

// grant is an admission: a quota, a key and a concurrency slot, with the tokens
// reserved. release must be called exactly once.
type grant struct {
	quota    int
	keyIndex int
	key      string // the secret itself, for the Authorization header only
	url      string // where to send the request
	model    string
	reserved int
}

func newWaiter(priority int, model string, tokens int) *waiter {
	return &waiter{priority: priority, index: -1, wake: make(chan struct{}, 1), model: model, tokens: tokens}
}

// check refuses at once a request of need tokens that no quota could ever admit,
// and returns the reservation to make: want, lowered to the largest per-minute
// token capacity among the quotas so that a generous completion guess cannot make
// a request unadmittable.
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
		if s.maxQueue > 0 && len(s.queue) >= s.maxQueue {
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
	heap.Push(&s.queue, w)
	s.byPrio[w.priority]++
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
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
		if s.queue[0] == w {
			now := time.Now()
			qi, at, ok := s.pick(now, w)
			if !ok {
				s.leave(w)
				s.mu.Unlock()
				return grant{}, fmt.Errorf("%w: model %s: %d tokens exceed every quota's limits", ErrRequestTooLarge, w.model, w.tokens)
			}
			if !at.After(now) {
				if s.sem.TryAcquire(1) {
					g := s.admit(now, w, qi)
					s.mu.Unlock()
					return g, nil
				}
				// wait for a slot: release wakes the head
			} else {
				wait := at.Sub(now)
				reason := ""
				if wait > s.maxWait {
					reason = fmt.Sprintf("longer than the maximum delay %s", s.maxWait)
				} else if dl, has := ctx.Deadline(); has && at.After(dl) {
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
				timerC = timer.C
			}
		}
		s.mu.Unlock()
		select {
		case <-w.wake:
		case <-timerC:
		case <-ctx.Done():
		}
		s.mu.Lock()
	}
}

// pick chooses, among the quotas, the one that can admit w soonest; ties go
// round-robin. ok is false when no quota can ever admit it.
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

// admit takes the head off the queue with quota qi. s.mu is held and a slot taken.
func (s *scheduler) admit(now time.Time, w *waiter, qi int) grant {
	q := s.quotas[qi]
	q.store.reserve(now, w.model, w.tokens)
	s.rr = (qi + 1) % len(s.quotas)
	key := q.keys[q.nextKey%len(q.keys)]
	q.nextKey++
	heap.Remove(&s.queue, w.index)
	s.byPrio[w.priority]--
	s.inFlight++
	s.wakeHead()
	url, ok := s.urls[w.model]
	if !ok {
		url = s.defURL
	}
	return grant{quota: qi, keyIndex: key, key: s.keys[key], url: url, model: w.model, reserved: w.tokens}
}

// leave takes w out of the queue (its context ended or it gave up). s.mu is held.
func (s *scheduler) leave(w *waiter) {
	if w.index >= 0 {
		heap.Remove(&s.queue, w.index)
		s.byPrio[w.priority]--
	}
	s.wakeHead()
}

// wakeHead tells the head waiter to look again. s.mu is held.
func (s *scheduler) wakeHead() {
	if len(s.queue) > 0 {
		select {
		case s.queue[0].wake <- struct{}{}:
		default:
		}
	}
}

// finish settles an admitted request and frees its slot: used is the total tokens
// the server reported, counted whether the server counted the request at all, info
// the response's headers, and rateLimitMsg a 429's message (or "").
func (s *scheduler) finish(g grant, used int, counted bool, info RateLimitInfo, rateLimitMsg string, coolUntil time.Time) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.quotas[g.quota].store
	st.reconcile(now, g.model, g.reserved, used, counted)
	st.observe(now, g.model, info, rateLimitMsg)
	if !coolUntil.IsZero() {
		st.coolDown(g.model, coolUntil)
	}
	s.inFlight--
	s.sem.Release(1)
	s.wakeHead()
}

// close fails every waiter with ErrClientClosed.
func (s *scheduler) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, w := range s.queue {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (s *scheduler) snapshot(model string) LimitsSnapshot {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := LimitsSnapshot{Model: model, Queued: map[int]int{}, InFlight: s.inFlight}
	for _, q := range s.quotas {
		if !q.serves(model) {
			continue
		}
		qs := q.store.snapshot(now, model)
		qs.Name, qs.Keys = q.name, append([]int(nil), q.keys...)
		snap.Quotas = append(snap.Quotas, qs)
	}
	for p, n := range s.byPrio {
		if n > 0 {
			snap.Queued[p] = n
		}
	}
	return snap
}
