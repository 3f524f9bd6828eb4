package groq_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

const simModel = "sim-model"

func TestPacedToKnownLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(
			groqtest.WithModel(simModel, groqtest.Limits{RPM: 30, TPM: 20000}),
			groqtest.WithLatency(150*time.Millisecond, 100*time.Millisecond),
		)
		c, err := groq.NewClient(groq.WithAPIKeys("k1", "k2"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 30, TPM: 20000}))
		require.NoError(t, err)
		defer c.Close()

		took, errs := load(c, 300)
		noErrors(t, errs)
		st := srv.Stats()
		assert.Equal(t, 0, st.RateLimited, "no 429 when the limits are known")
		assert.Equal(t, 0, st.Violations)
		assert.Equal(t, 300, st.Requests)
		assert.Equal(t, map[string]int{"k1": 150, "k2": 150}, st.PerKey)
		best := minimum(150, 30)
		assert.GreaterOrEqual(t, took, best)
		assert.LessOrEqual(t, took, best+best/20, "took %v; the minimum is %v", took, best)
		t.Logf("300 requests over 2 quotas at 30 RPM: %v (minimum %v)", took, best)
	})
}

// TestLearnsUnknownOrTooHighLimits: with no limits, or limits twice too high, the
// client learns RPM from the first 429's message and TPM and RPD from the headers.
// The 429s it draws are the requests already in flight on a quota when the
// server's burst runs out (here two per quota: concurrency 4 over two quotas).
func TestLearnsUnknownOrTooHighLimits(t *testing.T) {
	server := groqtest.Limits{RPM: 30, TPM: 6000, RPD: 10000}
	cases := map[string][]groq.Option{
		"unknown":        {groq.WithRPM(0)},
		"twice too high": {groq.WithModelLimits(simModel, groq.Limits{RPM: 60, TPM: 12000, RPD: 20000})},
	}
	for name, copts := range cases {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := groqtest.NewUnstartedServer(groqtest.WithModel(simModel, server),
					groqtest.WithLatency(200*time.Millisecond, 0))
				opts := append([]groq.Option{groq.WithAPIKeys("k1", "k2"), groq.WithBaseURL(srv.URL()),
					groq.WithHTTPClient(srv.Client()), groq.WithDefaultModel(simModel), groq.WithMaxConcurrency(4)}, copts...)
				c, err := groq.NewClient(opts...)
				require.NoError(t, err)
				defer c.Close()

				took, errs := load(c, 300, groq.WithMaxTokens(20))
				noErrors(t, errs)
				st := srv.Stats()
				assert.Equal(t, 0, st.Violations)
				per := map[string]int{}
				for _, a := range srv.Arrivals() {
					if a.Status == 429 {
						per[a.Key]++
					}
				}
				for k, n := range per {
					assert.LessOrEqual(t, n, 2, "429s on quota %s", k)
				}
				best := minimum(150, 30)
				assert.LessOrEqual(t, took, best+best*15/100, "took %v; the minimum is %v", took, best)
				snap := c.RateLimits(simModel)
				for _, q := range snap.Quotas {
					assert.Equal(t, 30, q.Limits.RPM, "RPM learnt from the 429 message")
					assert.Equal(t, 6000, q.Limits.TPM, "TPM learnt from x-ratelimit-limit-tokens")
					assert.Equal(t, 10000, q.Limits.RPD, "RPD learnt from x-ratelimit-limit-requests")
				}
				t.Logf("%s limits: 429s per quota %v, %v (minimum %v)", name, per, took, best)
			})
		})
	}
}

func TestConcurrencyBound(t *testing.T) {
	for _, n := range []int{1, 3, 8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{}), groqtest.WithLatency(time.Second, 0)},
					groq.WithDefaultModel(simModel), groq.WithRPM(0), groq.WithMaxConcurrency(n))
				took, errs := load(c, 24)
				noErrors(t, errs)
				assert.Equal(t, n, srv.Stats().MaxInFlight)
				assert.Equal(t, time.Duration(24/n)*time.Second, took)
				assert.Equal(t, 0, c.RateLimits(simModel).InFlight)
			})
		})
	}
}

func TestTooLargeMakesNoNetworkCall(t *testing.T) {
	c, srv := sim(t, nil, groq.WithModelLimits("m", groq.Limits{TPM: 1000}))
	_, err := c.Chat(context.Background(), []groq.Message{groq.User(string(make([]byte, 4000)))}, groq.WithModel("m"))
	require.ErrorIs(t, err, groq.ErrRequestTooLarge)
	assert.Contains(t, err.Error(), "1000 tokens per minute")
	_, err = c.Chat(context.Background(), hello, groq.WithModel("m"), groq.WithMaxTokens(2000))
	require.ErrorIs(t, err, groq.ErrRequestTooLarge, "the requested completion counts")
	assert.Equal(t, 0, srv.Stats().Requests)
}

func TestExhaustedDayReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPD: 2}))
		for range 2 {
			_, err := c.Chat(context.Background(), hello)
			require.NoError(t, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		start := time.Now()
		_, err := c.Chat(ctx, hello)
		assert.Equal(t, time.Duration(0), time.Since(start), "no waiting for a day window")
		var rl *groq.RateLimitError
		require.True(t, errors.As(err, &rl), "Chat(...) = %v", err)
		assert.True(t, rl.Local)
		assert.ErrorIs(t, err, groq.ErrRateLimited)
		assert.InDelta(t, 12*time.Hour, rl.RetryAfter, float64(time.Millisecond), "one request of 2 a day refills in 12h")
		assert.Equal(t, 2, srv.Stats().Requests)
	})
}

func TestSingleQuota429WaitsTheCooldown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(groqtest.WithModel(simModel, groqtest.Limits{RPM: 3}))
		c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 10}), groq.WithMaxConcurrency(1))
		require.NoError(t, err)
		defer c.Close()
		_, errs := load(c, 12)
		noErrors(t, errs)
		st := srv.Stats()
		assert.Equal(t, 0, st.Violations)
		assert.Equal(t, 1, st.RateLimited, "the 429 teaches the client the real RPM")
	})
}

func TestHeaderCorrectionFromAnotherProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(groqtest.WithModel(simModel, groqtest.Limits{TPM: 1000}))
		mk := func() *groq.Client {
			c, err := groq.NewClient(groq.WithAPIKeys("shared"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
				groq.WithDefaultModel(simModel), groq.WithRPM(0), groq.WithModelLimits(simModel, groq.Limits{TPM: 1000}), groq.WithMaxConcurrency(1))
			require.NoError(t, err)
			return c
		}
		other, c := mk(), mk()
		defer other.Close()
		defer c.Close()
		// The other process spends most of the minute's tokens.
		for range 8 {
			_, err := other.Chat(context.Background(), hello, groq.WithMaxTokens(100))
			require.NoError(t, err)
		}
		_, err := c.Chat(context.Background(), hello, groq.WithMaxTokens(100))
		require.NoError(t, err)
		snap := c.RateLimits(simModel).Quotas[0]
		assert.Equal(t, snap.LastHeaders.TokensLeftInMinute, 1000-snap.TokensThisMinute, "local bucket pulled down to the server's remaining tokens")
		_, errs := load(c, 20, groq.WithMaxTokens(100))
		noErrors(t, errs)
		assert.Equal(t, 0, srv.Stats().RateLimited, "the corrected client is never throttled")
	})
}

func TestLearnsButNeverRaisesLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{TPM: 6000, RPD: 1000})},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{TPM: 3000}))
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		l := c.RateLimits(simModel).Quotas[0].Limits
		assert.Equal(t, 3000, l.TPM, "a configured limit is never raised")
		assert.Equal(t, 1000, l.RPD, "an unknown limit is learnt")
		assert.Equal(t, groq.DefaultRPM, l.RPM)
	})
}

func TestReservationIsReconciled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{TPM: 10000, TPD: 100000}))
		resp, err := c.Chat(context.Background(), hello, groq.WithMaxTokens(2000))
		require.NoError(t, err)
		q := c.RateLimits(simModel).Quotas[0]
		assert.Equal(t, resp.Usage.TotalTokens, q.TokensThisMinute, "the 2000-token reservation was settled to the real usage")
		assert.Equal(t, resp.Usage.TotalTokens, q.TokensToday)
		assert.Equal(t, 1, q.RequestsThisMinute)

		// A failed request the server did not count gives everything back.
		c2, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 10, TPM: 10000}), groq.WithMaxRetries(0))
		srv.Script(groqtest.Fault{Kind: groqtest.Fault503})
		_, err = c2.Chat(context.Background(), hello, groq.WithMaxTokens(2000))
		require.Error(t, err)
		q = c2.RateLimits(simModel).Quotas[0]
		assert.Equal(t, 0, q.TokensThisMinute)
		assert.Equal(t, 0, q.RequestsThisMinute)
	})
}

func TestCloseWakesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 1}))
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		errs := make(chan error, 10)
		for range 10 {
			go func() { _, err := c.Chat(context.Background(), hello); errs <- err }()
		}
		synctest.Wait()
		c.Close()
		for range 10 {
			assert.ErrorIs(t, <-errs, groq.ErrClientClosed)
		}
	})
}

// TestRollingWindowServer: against a server that counts a rolling window instead of
// Groq's refilling bucket, the client draws a 429 as each window closes, obeys it,
// and still finishes at the window's minimum.
func TestRollingWindowServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(groqtest.WithModel(simModel, groqtest.Limits{RPM: 30}),
			groqtest.WithBucketShape(groqtest.RollingWindow), groqtest.WithLatency(100*time.Millisecond, 0))
		c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 30}), groq.WithMaxRetries(10))
		require.NoError(t, err)
		defer c.Close()
		took, errs := load(c, 100)
		noErrors(t, errs)
		st := srv.Stats()
		assert.Equal(t, 0, st.Violations)
		assert.LessOrEqual(t, st.RateLimited, 4)
		best := 3 * time.Minute // windows open at 0, 60, 120 and 180 s
		assert.LessOrEqual(t, took, best+best/20, "took %v; the minimum is %v", took, best)
		t.Logf("rolling window: %v, %d 429s, %d violations", took, st.RateLimited, st.Violations)
	})
}

// TestMetaSaysHowLongTheCallWasQueued: a call that waits for its bucket reports
// the wait in Meta.Queued, apart from the server's time.
func TestMetaSaysHowLongTheCallWasQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{RPM: 2}), groqtest.WithLatency(300*time.Millisecond, 0)},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 2}))
		for i := range 2 { // the bucket holds two
			resp, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint("q", i))})
			require.NoError(t, err)
			assert.Zero(t, resp.Meta.Queued, "the bucket had room")
			assert.Equal(t, 300*time.Millisecond, resp.Meta.Latency)
		}
		resp, err := c.Chat(context.Background(), []groq.Message{groq.User("one more")})
		require.NoError(t, err)
		assert.Greater(t, resp.Meta.Queued, 29*time.Second, "it waited for refill (30 s a request, less the 600 ms since)")
		assert.Equal(t, resp.Meta.Latency-300*time.Millisecond, resp.Meta.Queued, "the rest of the latency is the server's")
	})
}

// panicky is a Context whose Err panics.
type panicky struct{ context.Context }

// TestPanicInTheSchedulerLeavesNoLock: a panic while a call is in the scheduler
// (here, a caller's Context) takes the call out of the queue and releases the
// lock: later calls and Close work.
func TestPanicInTheSchedulerLeavesNoLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, nil)
		func() {
			defer func() { assert.NotNil(t, recover(), "the panic reaches the caller") }()
			c.Chat(panicky{context.Background()}, hello)
		}()
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		snap := c.RateLimits("")
		assert.Empty(t, snap.Queued, "nothing left queued")
		assert.Equal(t, 0, snap.InFlight)
		require.NoError(t, c.Close())
	})
}

func (panicky) Err() error { panic("a context that panics") }

// TestWaitingCountsTheModelsQueueByPriority: Waiting counts the calls queued for
// one model as urgent as the priority asked or more, and none of another model's.
func TestWaitingCountsTheModelsQueueByPriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel("m", groqtest.Limits{RPM: 1}), groqtest.WithModel("other", groqtest.Limits{RPM: 1})},
			groq.WithModelLimits("m", groq.Limits{RPM: 1}), groq.WithModelLimits("other", groq.Limits{RPM: 1}), groq.WithMaxRetryDelay(time.Hour))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		call := func(model string, p int) {
			c.ChatCompletion(ctx, &groq.ChatRequest{Model: model, Messages: hello}, groq.WithPriority(p))
		}
		call("m", 5) // takes the minute's one request
		var wg sync.WaitGroup
		for _, p := range []int{2, 5, 5, 9} {
			wg.Go(func() { call("m", p) })
		}
		wg.Go(func() { call("other", 1) })
		wg.Go(func() { call("other", 1) })
		synctest.Wait()
		assert.Equal(t, 1, c.Waiting("m", 2))
		assert.Equal(t, 3, c.Waiting("m", 5))
		assert.Equal(t, 4, c.Waiting("m", 10))
		assert.Equal(t, 1, c.Waiting("other", 10), "the other model's first call went; one waits")
		assert.Zero(t, c.Waiting("nobody", 10))
		cancel()
		wg.Wait()
		assert.Zero(t, c.Waiting("m", 10))
	})
}
