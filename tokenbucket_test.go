package groq_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// TestUnsentRequestIsNotCountedInALearntDepth: a request admitted but not yet
// handed to the transport when another's 429 is read cannot have been counted by
// the server, so the depth learnt from that 429 leaves it out. The ninth of twelve
// admitted calls is held between admission and send until the 429 has been read
// (the goroutine ordering that made TestLearnsShallowServerBurst learn 11 about
// one run in a few hundred); it then finds the quota cooling and is requeued.
func TestUnsentRequestIsNotCountedInALearntDepth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		admitted := 0
		held, read := make(chan struct{}), make(chan struct{})
		var once sync.Once
		obs := groq.Observer{
			Admitted: func(ctx context.Context, e groq.AdmittedEvent) {
				mu.Lock()
				admitted++
				hold := admitted == 9
				mu.Unlock()
				if hold {
					close(held)
					<-read
				}
			},
			RateLimited: func(ctx context.Context, e groq.RateLimitedEvent) {
				if !e.Local {
					once.Do(func() { close(read) })
				}
			},
		}
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{RPM: 600, Burst: 10}),
			groqtest.WithLatency(20*time.Millisecond, 0)},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 600}), groq.WithMaxConcurrency(12),
			groq.WithObserver(obs))
		_, errs := pool(c, 12, 12)
		noErrors(t, errs)
		select {
		case <-held:
		default:
			t.Fatal("the ninth admission was never held: the test did not force the ordering")
		}
		st := srv.Stats()
		require.Equal(t, 1, st.RateLimited, "11 sent at once to a bucket of 10: one 429")
		assert.Equal(t, 0, st.Violations)
		q := c.RateLimits(simModel).Quotas[0]
		assert.Equal(t, 10, q.Burst.RPM, "the server took 10; the held request never reached it")
	})
}

// TestPoisonedUsageCannotStallTheScheduler: an answer claiming 9,223,372,036,854,775,807
// tokens (a proxy's bug, a hostile upstream) is bounded before it touches a
// bucket: the call returns, a call for another model is not held up, and the next
// call for the same model returns within its context.
func TestPoisonedUsageCannotStallTheScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		poisoned := false
		hook := func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			if poisoned || !strings.Contains(string(body), `"model":"a"`) {
				return false
			}
			poisoned = true
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"x","object":"chat.completion","model":"a","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],`+
				`"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":9223372036854775807,"total_tokens":9223372036854775807}}`)
			return true
		}
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel("a", groqtest.Limits{TPM: 6000}), groqtest.WithModel("b", groqtest.Limits{TPM: 6000}),
			groqtest.WithHandlerHook(hook)},
			groq.WithModelLimits("a", groq.Limits{TPM: 6000}), groq.WithModelLimits("b", groq.Limits{TPM: 6000}), groq.WithDailyTokenBudget(1<<30))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Chat(ctx, hello, groq.WithModel("a"))
		require.NoError(t, err, "the poisoned answer is still an answer")
		start := time.Now()
		_, err = c.Chat(ctx, hello, groq.WithModel("b"))
		require.NoError(t, err)
		assert.Equal(t, time.Duration(0), time.Since(start), "another model is not held up")
		_, err = c.Chat(ctx, hello, groq.WithModel("a"))
		assert.Less(t, time.Since(start), 5*time.Second, "the next call for the model returns within its context: %v", err)
		debt := c.RateLimits("a").Quotas[0].TokensThisMinute
		assert.LessOrEqual(t, debt, 6000+(1<<21), "the debt is bounded by what one request can be")
		assert.LessOrEqual(t, c.Budget().Used, int64(1<<22), "and so is what the budget counts")
	})
}
