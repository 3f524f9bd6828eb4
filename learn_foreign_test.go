package groq_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// TestOtherProgramKeepsItsShareOfRequests: another program spends 30 % of a key's
// requests (RPM 600 on a bucket 10 deep). The client sees it in the day's
// remaining requests, leaves it room, and finishes within 5 % of what the rest of
// the key allows, with few 429s and few of the other program's requests refused.
func TestOtherProgramKeepsItsShareOfRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, inFlight, rpm, burst, share = 200, 16, 600, 10, 0.3
		srv := groqtest.NewUnstartedServer(
			groqtest.WithKeys("k1", "other"), groqtest.WithOrganization("org", "k1", "other"),
			groqtest.WithModel(simModel, groqtest.Limits{RPM: rpm, Burst: burst, RPD: 14_400}),
			groqtest.WithLatency(20*time.Millisecond, 0),
			groqtest.WithOtherProgram(groqtest.OtherProgram{Key: "other", Model: simModel, RequestsPerMinute: share * rpm}))
		c, err := groq.NewClient(groq.WithAPIKeys("k1"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel(simModel), groq.WithMaxConcurrency(inFlight), groq.WithModelLimits(simModel, groq.Limits{RPM: rpm}))
		require.NoError(t, err)
		defer c.Close()
		took, errs := pool(c, n, inFlight)
		noErrors(t, errs)
		st := srv.Stats()
		secs := float64(n-burst) / (rpm / 60.0 * (1 - share))
		best := time.Duration(secs * float64(time.Second))
		ratio := float64(took) / float64(best)
		refused := float64(st.Other.Refused) / float64(st.Other.Requests)
		q := c.RateLimits(simModel).Quotas[0]
		t.Logf("429s %d, other program %d/%d refused (%.0f %%), %v for %v (ratio %.3f); estimate %+v", st.RateLimited,
			st.Other.Refused, st.Other.Requests, refused*100, took, best, ratio, q.Foreign)
		assert.Equal(t, 0, st.Violations)
		assert.LessOrEqual(t, st.RateLimited, 10)
		assert.LessOrEqual(t, refused, 0.15)
		assert.LessOrEqual(t, ratio, 1.05)
		assert.InDelta(t, share*rpm, q.Foreign.RequestsPerMinute, 0.2*share*rpm, "the estimate of the other program's rate")
	})
}

// TestOtherProgramKeepsItsShareOfTokens: another program spends a third of a
// key's tokens per minute (a minute-deep bucket of 12,000) in requests the size of
// the client's. The client sees it in x-ratelimit-remaining-tokens, leaves one of
// its requests in the bucket, and finishes within 5 % of what the rest of the key
// allows.
func TestOtherProgramKeepsItsShareOfTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, inFlight, tpm = 200, 32, 12_000
		srv := groqtest.NewUnstartedServer(
			groqtest.WithKeys("k1", "other"), groqtest.WithOrganization("org", "k1", "other"),
			groqtest.WithModel(simModel, groqtest.Limits{RPM: 6000, TPM: tpm}),
			groqtest.WithLatency(20*time.Millisecond, 0),
			groqtest.WithOtherProgram(groqtest.OtherProgram{Key: "other", Model: simModel, RequestsPerMinute: 50, Tokens: 80}))
		c, err := groq.NewClient(groq.WithAPIKeys("k1"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel(simModel), groq.WithMaxConcurrency(inFlight), groq.WithModelLimits(simModel, groq.Limits{RPM: 6000, TPM: tpm}))
		require.NoError(t, err)
		defer c.Close()
		took, errs := tokenPool(c, n, inFlight, 200)
		noErrors(t, errs)
		st := srv.Stats()
		rest := float64(tpm) * 2 / 3 / 60 // tokens a second the other program leaves
		best := time.Duration((float64(st.Tokens) - (tpm - 80)) / rest * float64(time.Second))
		ratio := float64(took) / float64(best)
		refused := float64(st.Other.Refused) / float64(st.Other.Requests)
		q := c.RateLimits(simModel).Quotas[0]
		t.Logf("429s %d, other program %d/%d refused (%.0f %%), %v for %v (ratio %.3f, %d tokens); estimate %+v", st.RateLimited,
			st.Other.Refused, st.Other.Requests, refused*100, took, best, ratio, st.Tokens, q.Foreign)
		assert.Equal(t, 0, st.Violations)
		assert.LessOrEqual(t, st.RateLimited, 10)
		assert.LessOrEqual(t, refused, 0.30)
		assert.LessOrEqual(t, ratio, 1.05)
		assert.InDelta(t, 4000, q.Foreign.TokensPerMinute, 0.2*4000, "the estimate of the other program's rate")
	})
}

// tokenPool is pool with prompts padded to about size characters.
func tokenPool(c *groq.Client, n, callers, size int) (time.Duration, []error) {
	return poolOf(c, n, callers, func(i int) string {
		p := fmt.Sprintf("question %d ", i)
		return p + strings.Repeat("x", size-len(p))
	})
}

// foreign429 answers the first n chat requests with a 429 of the shape Groq sends
// when another program has spent the minute's tokens: the message's figures, a
// whole-second Retry-After, and headers saying the bucket is empty.
func foreign429(n int, limit int) func(w http.ResponseWriter, r *http.Request, body []byte) bool {
	sent := 0
	return func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if sent >= n {
			return false
		}
		sent++
		w.Header().Set("Retry-After", "1")
		w.Header().Set("X-Ratelimit-Limit-Tokens", strconv.Itoa(limit))
		w.Header().Set("X-Ratelimit-Remaining-Tokens", "0")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, `{"error":{"message":"Rate limit reached for model `+"`sim-model`"+` in organization `+"`org_x`"+` service tier `+"`on_demand`"+` on tokens per minute (TPM): Limit %d, Used %d, Requested 120. Please try again in 640ms.","type":"tokens","code":"rate_limit_exceeded"}}`, limit, limit-10)
		return true
	}
}

// TestForeign429WaitsTheServersTime: a 429 whose "Used 5990" of 6000 is another
// program's spending (this client had spent nothing) teaches nothing of the
// bucket's depth: the call is retried once the server's wait has passed, well
// within its context. Three in a row take about three seconds.
func TestForeign429WaitsTheServersTime(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var events []groq.LearnedEvent
				c, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{TPM: 6000}), groqtest.WithHandlerHook(foreign429(n, 6000))},
					groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{TPM: 6000}),
					groq.WithObserver(groq.Observer{Learned: func(e groq.LearnedEvent) { events = append(events, e) }}))
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				start := time.Now()
				resp, err := c.Chat(ctx, hello)
				took := time.Since(start)
				require.NoError(t, err)
				assert.Equal(t, n+1, resp.Meta.Attempts, "one retry per 429")
				assert.Equal(t, n+1, srv.Stats().Requests)
				assert.GreaterOrEqual(t, took, time.Duration(n)*time.Second, "the server's wait is obeyed")
				assert.Less(t, took, time.Duration(n)*1200*time.Millisecond, "about a second a 429")
				q := c.RateLimits(simModel).Quotas[0]
				assert.Equal(t, 6000, q.Burst.TPM, "no depth learnt from another program's spending")
				assert.Equal(t, groq.DefaultPacingMargin, q.PacingMargin, "nor a wider margin")
				require.NotEmpty(t, events)
				assert.True(t, events[0].Others, "the observer is told whose spending it was: %+v", events[0])
				assert.Equal(t, "TPM", events[0].Limit)
			})
		})
	}
}

// TestLargerCallAfterForeign429: after such a refusal on a TPM of 60,000, a call
// of 3,000 tokens fits the limit and is admitted within a few seconds.
func TestLargerCallAfterForeign429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{TPM: 60_000}), groqtest.WithHandlerHook(foreign429(1, 60_000))},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{TPM: 60_000}))
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err = c.Chat(ctx, []groq.Message{groq.User("a longer question")}, groq.WithMaxTokens(3000))
		require.NoError(t, err)
		assert.Less(t, time.Since(start), 5*time.Second, "3,000 tokens refill in 3 s at 1,000 a second")
		assert.Equal(t, 3, srv.Stats().Requests)
	})
}

// TestOtherProgramEstimateDecays: once the other program stops, the estimate of
// its spending decays and the client leaves it no room.
func TestOtherProgramEstimateDecays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(
			groqtest.WithKeys("k1", "other"), groqtest.WithOrganization("org", "k1", "other"),
			groqtest.WithModel(simModel, groqtest.Limits{RPM: 600, RPD: 14_400, TPM: 60_000}),
			groqtest.WithOtherProgram(groqtest.OtherProgram{Key: "other", Model: simModel, RequestsPerMinute: 120, Tokens: 100, For: 30 * time.Second}))
		var events []groq.LearnedEvent
		var mu sync.Mutex
		c, err := groq.NewClient(groq.WithAPIKeys("k1"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 600, TPM: 60_000}),
			groq.WithObserver(groq.Observer{Learned: func(e groq.LearnedEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }}))
		require.NoError(t, err)
		defer c.Close()
		ask := func(d time.Duration) groq.ForeignSpending {
			for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Second) {
				_, err := c.Chat(context.Background(), hello, groq.WithoutCache())
				require.NoError(t, err)
			}
			return c.RateLimits(simModel).Quotas[0].Foreign
		}
		during := ask(30 * time.Second)
		assert.InDelta(t, 120, during.RequestsPerMinute, 24, "learnt: %+v", during)
		// The minute's bucket refills to full between two readings a second apart:
		// only the other program's latest request shows (a lower bound).
		assert.Positive(t, during.TokensPerMinute, "learnt: %+v", during)
		assert.LessOrEqual(t, during.TokensPerMinute, 12_000*1.1, "learnt: %+v", during)
		assert.Equal(t, 1, during.Reserve.RPM, "one request left for it")
		assert.Equal(t, 100, during.Reserve.TPM, "and one of its requests' tokens")
		after := ask(2 * time.Minute)
		assert.Less(t, after.RequestsPerMinute, 0.1*during.RequestsPerMinute, "decayed: %+v", after)
		assert.Less(t, after.TokensPerMinute, 0.1*during.TokensPerMinute, "decayed: %+v", after)
		assert.Equal(t, groq.Limits{}, after.Reserve, "no room left for a program that stopped")
		assert.Equal(t, 0, srv.Stats().RateLimited)
		mu.Lock()
		defer mu.Unlock()
		var seen, gone int
		for _, e := range events {
			if e.Foreign.Reserve.RPM > 0 || e.Foreign.Reserve.TPM > 0 {
				seen++
			} else if !e.Others {
				gone++
			}
		}
		assert.Positive(t, seen, "the observer heard of the other program: %+v", events)
		assert.Positive(t, gone, "and of its end: %+v", events)
	})
}
