package groq

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listScheduler is a scheduler of one key serving models a and b, each with
// rpm requests a minute and no token limit.
func listScheduler(rpm int) *scheduler {
	limits := func(string) limitSpec { return userSpec(Limits{RPM: rpm}) }
	keys, quotas, _ := buildQuotas([]string{"k"}, nil, func() *bucketSet { return newBucketSet(limits, 0, false) })
	return newScheduler(keys, quotas, &settings{maxConcurrency: 8, concurrencySet: true, maxRetryDelay: time.Hour, logger: slog.New(slog.DiscardHandler)})
}

// TestListWaitsInEveryQueue: a call that accepts a and b, while both buckets are
// empty, waits in both queues and is counted once. b refills first (in 1 s, a in
// 2 s): the call is admitted on b and leaves a's queue, where the call behind it
// moves up and is admitted when a refills.
func TestListWaitsInEveryQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := listScheduler(60)
		ctx := context.Background()
		start := time.Now()
		s.mu.Lock()
		now := s.now()
		for range 61 {
			s.quotas[0].buckets.of(now, "a").reserve(now, 0)
		}
		for range 60 {
			s.quotas[0].buckets.of(now, "b").reserve(now, 0)
		}
		s.mu.Unlock()

		list := newWaiter(5, "a", 0)
		list.addModel("b", 0)
		single := newWaiter(5, "a", 0) // arrives after the list: behind it in a's queue
		type admission struct {
			g  grant
			at time.Duration
		}
		got := make(chan admission, 2)
		for _, w := range []*waiter{list, single} {
			go func() {
				g, err := s.acquire(ctx, w)
				assert.NoError(t, err)
				got <- admission{deref(g), time.Since(start)}
			}()
			synctest.Wait()
		}
		s.mu.Lock()
		assert.Equal(t, 2, s.waiting, "two calls, in three queue places")
		assert.Equal(t, 2, s.groups["a"].q.Len())
		assert.Equal(t, 1, s.groups["b"].q.Len())
		s.mu.Unlock()

		first := <-got
		assert.Equal(t, "b", first.g.model, "b refills first")
		assert.Equal(t, time.Second, first.at)
		s.mu.Lock()
		assert.Equal(t, 1, s.waiting)
		assert.Equal(t, 1, s.groups["a"].q.Len(), "the list left a's queue")
		assert.Same(t, single, s.groups["a"].q[0])
		assert.Nil(t, s.groups["b"])
		s.mu.Unlock()
		s.finish(first.g, outcome{counted: true})

		second := <-got
		assert.Equal(t, "a", second.g.model)
		assert.Equal(t, 2*time.Second, second.at)
		s.finish(second.g, outcome{counted: true})
		s.mu.Lock()
		defer s.mu.Unlock()
		assert.Zero(t, s.waiting)
		assert.Empty(t, s.groups)
	})
}

// TestListNotRefusedForAQueueItDoesNotHead: a call of a and b. a is cooling
// down for two hours (past the maximum delay, an hour here); b serves in a
// second, but a call of b alone came first. The list's b entry waits behind it,
// its a entry heads a's queue. The list should be admitted on b after the call
// ahead (about 2 s), not refused at once for a's wait.
func TestListNotRefusedForAQueueItDoesNotHead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := listScheduler(60)
		ctx := context.Background()
		s.mu.Lock()
		now := s.now()
		s.quotas[0].buckets.of(now, "a").coolDown(now.Add(2 * time.Hour))
		for range 60 {
			s.quotas[0].buckets.of(now, "b").reserve(now, 0)
		}
		s.mu.Unlock()

		ahead := newWaiter(5, "b", 0)
		done := make(chan struct{})
		go func() {
			defer close(done)
			g, err := s.acquire(ctx, ahead)
			if err == nil {
				s.finish(*g, outcome{counted: true})
			}
		}()
		defer func() { <-done }()
		synctest.Wait()

		list := newWaiter(5, "a", 0)
		list.addModel("b", 0)
		start := time.Now()
		g, err := s.acquire(ctx, list)
		if !assert.NoError(t, err, "refused after %s", time.Since(start)) {
			return
		}
		assert.Equal(t, "b", g.model)
		s.finish(*g, outcome{counted: true})
	})
}

// TestDeferralFollowsTheEarlierModel: a call of a, b and c with a tolerance of 2 s.
// a refills in 1 s, so b's and c's entries wait for it (ready at 1 s). At
// 0.5 s a 429 on another call of a cools a for an hour (coolNow: its header),
// and a call of c ends (its settle marks c changed and dispatches). c's entry is
// computed again. An entry that defers is computed again on every dispatch, so
// b's no longer waits for a, and the call is admitted at 0.5 s. (When b's
// deferral was kept from before, c's deferred to it, the owner set no timer, and
// nothing woke it again: it waited forever.)
func TestDeferralFollowsTheEarlierModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := listScheduler(60)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		one := func(model string) grant {
			g, err := s.acquire(ctx, newWaiter(5, model, 0))
			require.NoError(t, err)
			return deref(g)
		}
		onA, onC := one("a"), one("c") // in flight
		s.mu.Lock()
		now := s.now()
		for range 59 {
			s.quotas[0].buckets.of(now, "a").reserve(now, 0)
		}
		s.mu.Unlock()

		list := newWaiter(5, "a", 0)
		list.addModel("b", 0)
		list.addModel("c", 0)
		list.list.after = 2 * time.Second
		type result struct {
			g   grant
			err error
			at  time.Duration
		}
		got := make(chan result, 1)
		start := time.Now()
		go func() {
			g, err := s.acquire(ctx, list)
			got <- result{deref(g), err, time.Since(start)}
		}()
		synctest.Wait()

		time.Sleep(500 * time.Millisecond)
		s.coolNow(onA, time.Now().Add(time.Hour), false) // a 429's header on the call of a
		s.finish(onC, outcome{counted: true})            // the call of c ends
		synctest.Wait()

		time.Sleep(10 * time.Second)
		select {
		case r := <-got:
			require.NoError(t, r.err)
			t.Logf("admitted on %s after %s", r.g.model, r.at)
			s.finish(r.g, outcome{counted: true})
		default:
			s.mu.Lock()
			for _, e := range list.list.alts {
				t.Logf("entry %s rank %d index %d ready %s", e.model, e.rank, e.index, e.ready.Sub(start))
			}
			s.mu.Unlock()
			t.Error("the call of a, b and c is still waiting 10 s later; b and c could serve it at 0.5 s")
			cancel()
			r := <-got
			assert.True(t, errors.Is(r.err, context.Canceled), "%v", r.err)
		}
		s.finish(onA, outcome{})
	})
}

// deref is the grant g points to, or the zero grant for none.
func deref(g *grant) grant {
	if g == nil {
		return grant{}
	}
	return *g
}
