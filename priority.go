package groq

import (
	"slices"
	"time"
)

// This file is the waiting room: who goes next.
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
	tag      uint64 // its caller's turn within its priority (fairQueue); 0 until queued
	seq      uint64 // arrival order, breaks ties first come first served
	caller   string // WithCaller's name: callers of one priority take turns
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

	// A call that accepts several models (WithModels) is an owner that is not
	// queued itself: it has one entry per model, in order of preference, each
	// queued in its model's group with the owner's place and wake channel. The
	// first entry admitted admits the owner, and every entry leaves its queue.
	list    *modelList // the owner's entries (nil for a call of one model)
	owner   *waiter    // an entry's owner (nil for a call of one model)
	rank    int32      // an entry's place in its owner's list
	counted bool       // counted in s.waiting and s.byPrio (one per call)
}

// modelList is an owner's entries, in order of preference, and how long it
// waits for an earlier one (WithFallbackAfter).
type modelList struct {
	alts  []*waiter
	after time.Duration
	left  []modelFailure // entries dispatch dropped: no quota can ever take them
}

// choices is how many models w may still be served by.
func (w *waiter) choices() int {
	if w.list == nil {
		return 1
	}
	return len(w.list.alts)
}

// entries is an owner's entries; nil for a call of one model.
func (w *waiter) entries() []*waiter {
	if w.list == nil {
		return nil
	}
	return w.list.alts
}

func newWaiter(priority int, model string, tokens int) *waiter {
	return &waiter{priority: priority, index: -1, wake: make(chan struct{}, 1), model: model, tokens: tokens}
}

// addModel adds model, with the tokens its request reserves, to w's list: w
// becomes an owner, its own model its first entry.
func (w *waiter) addModel(model string, tokens int) {
	if w.list == nil {
		w.list = &modelList{alts: []*waiter{{priority: w.priority, index: -1, wake: w.wake, model: w.model, tokens: w.tokens, owner: w}}}
	}
	w.list.alts = append(w.list.alts, &waiter{priority: w.priority, index: -1, wake: w.wake, model: model, tokens: tokens, owner: w, rank: int32(len(w.list.alts))})
}

// remove takes the entries del names out of the list, and numbers the rest's
// ranks again.
func (l *modelList) remove(del func(*waiter) bool) {
	l.alts = slices.DeleteFunc(l.alts, del)
	for i, e := range l.alts {
		e.rank = int32(i)
	}
}

// dropModel takes model out of w's list; a list of one left is a call of one
// model again. It is called while w waits in no queue.
func (w *waiter) dropModel(model string) {
	w.list.remove(func(e *waiter) bool { return e.model == model })
	alts := w.list.alts
	if len(alts) == 1 {
		w.model, w.tokens, w.list = alts[0].model, alts[0].tokens, nil
	} else if len(alts) > 1 {
		w.model, w.tokens = alts[0].model, alts[0].tokens
	}
}

// reserveOn makes n the tokens w reserves on model.
func (w *waiter) reserveOn(model string, n int) {
	if w.list == nil {
		w.tokens = n
		return
	}
	for _, e := range w.list.alts {
		if e.model == model {
			e.tokens = n
		}
	}
}

// before orders waiters: lower key first, then the earlier turn among callers,
// then earlier arrival, then (two entries of one call) the preferred model.
func (w *waiter) before(o *waiter) bool {
	if w.key != o.key {
		return w.key < o.key
	}
	if w.tag != o.tag {
		return w.tag < o.tag
	}
	if w.seq != o.seq {
		return w.seq < o.seq
	}
	return w.rank < o.rank
}

// fairQueue gives callers (WithCaller) of one priority turns, as start-time fair
// queueing does: a call's tag is one past the later of its caller's last tag
// at that priority and the tag last admitted at it (the priority's virtual
// time). One caller's calls get consecutive tags, so alone they go first come
// first served; a caller that queues 10,000 calls holds tags far ahead, and
// another's single call, tagged one past the virtual time, goes within the next
// few admissions. A retry keeps its tag. Calls without WithCaller are one
// caller, "".
type fairQueue struct {
	vtime [11]uint64
	last  map[fairFlow]uint64
	prune int // the size of last past which it is pruned (maxFlows, or twice what a pruning left)
}

type fairFlow struct {
	caller   string
	priority int
}

// maxFlows bounds the callers remembered; past it, those whose last tag the
// virtual time has passed (they would start from it anyway) are forgotten, at a
// cost linear in the callers, amortised by pruning again only at twice the
// size a pruning left.
const maxFlows = 4096

// tag is the next turn of caller at priority p. s.mu is held.
func (f *fairQueue) tag(caller string, p int) uint64 {
	if f.last == nil {
		f.last = map[fairFlow]uint64{}
	}
	k := fairFlow{caller, p}
	t := max(f.vtime[p], f.last[k]) + 1
	f.last[k] = t
	if len(f.last) > max(f.prune, maxFlows) {
		for k, last := range f.last {
			if last <= f.vtime[k.priority] {
				delete(f.last, k)
			}
		}
		f.prune = 2 * len(f.last) // callers still waiting: pruned again only when twice as many
	}
	return t
}

// admitted moves w's priority's virtual time to w's tag. s.mu is held.
func (f *fairQueue) admitted(w *waiter) {
	f.vtime[w.priority] = max(f.vtime[w.priority], w.tag)
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
	q      waitQueue
	epoch  uint64
	byPrio [11]int // the group's waiters by priority
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

// next is the head (w, or one of an owner's entries) whose ready time w's timer
// is set for: the earliest, when every head w has waits for a time; nil when w
// heads no queue (it is woken when it comes to head one) or a head of w is ready
// now (it waits for a slot, or defers to an earlier model ready now: either way
// a dispatch that admits or frees something wakes it). s.mu is held.
func (w *waiter) next(now time.Time) *waiter {
	if w.list == nil {
		if w.index != 0 || !w.ready.After(now) {
			return nil
		}
		return w
	}
	var h *waiter
	for _, e := range w.list.alts {
		if e.index != 0 {
			continue
		}
		if !e.ready.After(now) {
			return nil
		}
		if h == nil || e.ready.Before(h.ready) {
			h = e
		}
	}
	return h
}

// modelFailure is a model a call left, and why.
type modelFailure struct {
	model string
	err   error
}
