package groq

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
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
				got <- admission{g, time.Since(start)}
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
