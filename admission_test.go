package groq_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// pool sends n calls from callers goroutines, each taking the next call when its
// last one ends, and returns how long they took and the errors.
func pool(c *groq.Client, n, callers int, opts ...groq.CallOption) (time.Duration, []error) {
	return poolOf(c, n, callers, func(i int) string { return fmt.Sprintf("question %d", i) }, opts...)
}

// poolOf is pool with the i-th call's prompt given by prompt.
func poolOf(c *groq.Client, n, callers int, prompt func(i int) string, opts ...groq.CallOption) (time.Duration, []error) {
	start := time.Now()
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				_, errs[i] = c.Chat(context.Background(), []groq.Message{groq.User(prompt(i))}, opts...)
			}
		})
	}
	wg.Wait()
	return time.Since(start), errs
}

// refusals counts the server's 429s by key, and reports when the last came.
func refusals(srv *groqtest.Server) (map[string]int, time.Time) {
	per, last := map[string]int{}, time.Time{}
	for _, a := range srv.Arrivals() {
		if a.Status == http.StatusTooManyRequests {
			per[a.Key]++
			last = a.At
		}
	}
	return per, last
}

// bucketMinimum is the least time a token bucket of depth burst refilling rpm a
// minute needs to admit n requests.
func bucketMinimum(n, burst, rpm int) time.Duration {
	if n <= burst {
		return 0
	}
	return time.Duration(n-burst) * time.Minute / time.Duration(rpm)
}

// TestModelsDoNotBlockEachOther: a call for a model with capacity is admitted at
// once while a call for another model waits for its empty bucket.
func TestModelsDoNotBlockEachOther(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{
			groqtest.WithModel("slow", groqtest.Limits{RPM: 1}),
			groqtest.WithModel("fast", groqtest.Limits{RPM: 600}),
		}, groq.WithModelLimits("slow", groq.Limits{RPM: 1}), groq.WithModelLimits("fast", groq.Limits{RPM: 600}))
		ctx := context.Background()
		_, err := c.Chat(ctx, hello, groq.WithModel("slow"))
		require.NoError(t, err)

		queued := make(chan error, 1)
		go func() {
			_, err := c.Chat(ctx, hello, groq.WithModel("slow"), groq.WithPriority(1))
			queued <- err
		}()
		synctest.Wait()
		require.Equal(t, map[int]int{1: 1}, c.RateLimits("slow").Queued, "the second slow call waits for refill")

		start := time.Now()
		_, err = c.Chat(ctx, hello, groq.WithModel("fast"), groq.WithPriority(10))
		require.NoError(t, err)
		assert.Equal(t, time.Duration(0), time.Since(start), "the fast model's call did not wait for the slow model's")

		require.NoError(t, <-queued)
		// A bucket one request deep has no room for the margin's fraction.
		assert.Equal(t, time.Minute, time.Since(start), "the slow call waited for its own refill")
		assert.Equal(t, 0, srv.Stats().RateLimited)
	})
}

// TestFreeSlotGoesToTheMostUrgentReadyCall: with one concurrency slot, the slot
// goes to the most urgent waiter across models, not to the earliest.
func TestFreeSlotGoesToTheMostUrgentReadyCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{
			groqtest.WithModel("a", groqtest.Limits{}), groqtest.WithModel("b", groqtest.Limits{}),
			groqtest.WithLatency(time.Second, 0),
		}, groq.WithMaxConcurrency(1), groq.WithRPM(0))
		ctx := context.Background()
		var wg sync.WaitGroup
		wg.Go(func() { c.Chat(ctx, []groq.Message{groq.User("holder")}, groq.WithModel("a")) })
		synctest.Wait()
		wg.Go(func() { c.Chat(ctx, []groq.Message{groq.User("low")}, groq.WithModel("a"), groq.WithPriority(9)) })
		synctest.Wait()
		wg.Go(func() { c.Chat(ctx, []groq.Message{groq.User("urgent")}, groq.WithModel("b"), groq.WithPriority(2)) })
		wg.Wait()
		var order []string
		for _, a := range srv.Arrivals() {
			order = append(order, a.Prompt)
		}
		assert.Equal(t, []string{"holder", "urgent", "low"}, order)
	})
}

// TestPacingMarginAbsorbsArrivalJitter: a server shaped exactly like the client's
// buckets, whose first request per key arrives late (a handshake) and whose
// arrivals jitter, refuses a client that paces at exactly the limit; the default
// margin draws no 429.
func TestPacingMarginAbsorbsArrivalJitter(t *testing.T) {
	run := func(t *testing.T, margin time.Duration) (groqtest.Stats, groq.RateLimitSnapshot, time.Duration) {
		var st groqtest.Stats
		var snap groq.RateLimitSnapshot
		var took time.Duration
		synctest.Test(t, func(t *testing.T) {
			c, srv := sim(t, []groqtest.Option{
				groqtest.WithModel(simModel, groqtest.Limits{RPM: 600}),
				groqtest.WithLatency(20*time.Millisecond, 0),
				groqtest.WithArrivalJitter(5 * time.Millisecond),
				groqtest.WithFirstConnectionDelay(30 * time.Millisecond),
			}, groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 600}),
				groq.WithMaxConcurrency(32), groq.WithPacingMargin(margin))
			var errs []error
			took, errs = pool(c, 700, 32)
			noErrors(t, errs)
			st, snap = srv.Stats(), c.RateLimits(simModel)
		})
		return st, snap, took
	}
	t.Run("default margin", func(t *testing.T) {
		st, snap, took := run(t, groq.DefaultPacingMargin)
		assert.Equal(t, 0, st.RateLimited)
		assert.Equal(t, groq.DefaultPacingMargin, snap.Quotas[0].PacingMargin, "not widened")
		best := bucketMinimum(700, 600, 600)
		assert.LessOrEqual(t, took, best+best/50, "took %v; the minimum is %v", took, best)
		t.Logf("700 requests at 600 RPM, Groq-shaped server, jittered arrivals: %v (minimum %v)", took, best)
	})
	t.Run("no margin", func(t *testing.T) {
		st, snap, _ := run(t, 0)
		assert.Positive(t, st.RateLimited, "pacing at exactly the limit loses to the jitter")
		assert.Equal(t, 0, st.Violations)
		assert.Positive(t, snap.Quotas[0].PacingMargin, "the timing 429 widened the margin")
		t.Logf("no margin: %d 429s; margin widened to %v", st.RateLimited, snap.Quotas[0].PacingMargin)
	})
}

// TestLearnsShallowServerBurst: against a server whose bucket holds 10 requests
// (not a minute's 600), the first wave's refusals teach the client the burst, and
// no 429 follows.
func TestLearnsShallowServerBurst(t *testing.T) {
	cases := map[string]struct {
		opts     []groq.Option
		maxRatio float64
	}{
		"limits known":   {[]groq.Option{groq.WithModelLimits(simModel, groq.Limits{RPM: 600})}, 1.03},
		"limits unknown": {[]groq.Option{groq.WithRPM(0)}, 1.10},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := groqtest.NewUnstartedServer(groqtest.WithModel(simModel, groqtest.Limits{RPM: 600, Burst: 10}),
					groqtest.WithLatency(20*time.Millisecond, 0))
				opts := append([]groq.Option{groq.WithAPIKeys("k1", "k2"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
					groq.WithDefaultModel(simModel), groq.WithMaxConcurrency(32)}, tc.opts...)
				c, err := groq.NewClient(opts...)
				require.NoError(t, err)
				defer c.Close()
				start := time.Now()
				took, errs := pool(c, 300, 32)
				noErrors(t, errs)
				st := srv.Stats()
				assert.Equal(t, 0, st.Violations, "no request before a Retry-After passed")
				per, last := refusals(srv)
				// The first wave is the 32 callers, of whom the two buckets take 20. A
				// refused call may retry on the other key before that key's own
				// refusals are back (in memory a 429 takes no time at all, and the
				// race detector shuffles goroutines), so allow up to 8 of those.
				assert.LessOrEqual(t, st.RateLimited, 32-20+8, "429s beyond the first wave's")
				assert.Less(t, last.Sub(start), time.Second, "every 429 came in the first wave")
				best := bucketMinimum(150, 10, 600)
				ratio := float64(took) / float64(best)
				assert.LessOrEqual(t, ratio, tc.maxRatio, "took %v; the minimum is %v", took, best)
				if name == "limits known" {
					for _, q := range c.RateLimits(simModel).Quotas {
						assert.Equal(t, 10, q.Burst.RPM, "quota %s learnt the server's burst", q.Name)
						assert.Equal(t, 600, q.Limits.RPM)
					}
				}
				t.Logf("%s: 429s %v, %v for a minimum of %v (ratio %.3f)", name, per, took, best, ratio)
			})
		})
	}
}

// TestRetryReservesTheServersCost: a TPM 429 that says "Requested 120" is retried
// once 120 tokens have refilled (about a second), not a 1,024-token guess (ten).
func TestRetryReservesTheServersCost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := false
		hook := func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			if refused {
				return false
			}
			refused = true
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"message":"Rate limit reached for model `+"`sim-model`"+` in organization `+"`org_x`"+` service tier `+"`on_demand`"+` on tokens per minute (TPM): Limit 6000, Used 5990, Requested 120. Please try again in 1.1s.","type":"tokens","code":"rate_limit_exceeded"}}`)
			return true
		}
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{TPM: 6000}), groqtest.WithHandlerHook(hook)},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{TPM: 6000}))
		resp, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, 2, resp.Meta.Attempts)
		arr := srv.Arrivals()
		require.Len(t, arr, 2)
		gap := arr[1].At.Sub(arr[0].At)
		assert.GreaterOrEqual(t, gap, 1100*time.Millisecond, "the server's wait is obeyed")
		assert.Less(t, gap, 1500*time.Millisecond, "120 tokens refill in 1.2 s at 100 a second; 1,024 would take 10 s")
	})
}

// TestRequestCostIsLearnt: the prompt ratio and the completion reserve follow what
// the server counted.
func TestRequestCostIsLearnt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithRPM(0))
		snap := c.RateLimits(simModel)
		assert.Equal(t, 0.0, snap.PromptRatio, "nothing learnt yet")
		assert.Equal(t, groq.DefaultCompletionReserve, snap.CompletionReserve)

		msgs := []groq.Message{groq.User("What does a token bucket do, in one sentence?")}
		estimate := groq.EstimateTokens(simModel, msgs)
		var completions []int
		for range 8 {
			resp, err := c.Chat(context.Background(), msgs, groq.WithoutCache())
			require.NoError(t, err)
			completions = append(completions, resp.Usage.CompletionTokens)
			snap = c.RateLimits(simModel)
			assert.InDelta(t, float64(resp.Usage.PromptTokens)/float64(estimate), snap.PromptRatio, 1e-9,
				"the same prompt every time: the ratio is the server's count over the estimate")
		}
		assert.Less(t, snap.PromptRatio, 1.0, "the local estimate is generous")
		assert.Equal(t, completions[0], snap.CompletionReserve, "eight equal answers: the 95th percentile is their length")
		assert.Less(t, snap.CompletionReserve, 100)
	})
}
