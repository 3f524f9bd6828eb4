package groq_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// paidModel is a model of the built-in table (Groq's free plan: RPM 30, RPD
// 14,400, TPM 6,000, TPD 500,000), served here with a paid organization's limits.
const paidModel = "llama-3.1-8b-instant"

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPaidOrganizationIsNotHeldToTheTable: a key whose organization allows RPM
// 1,000, RPD 500,000 and TPM 250,000 (its headers show the RPD and the TPM, no
// header the RPM), and a client with no limits configured. The headers show the
// plan above the built-in table: the table's RPM and TPD are dropped, the RPD and
// TPM are the headers', the client logs it once, and 400 calls take about what
// the latency allows, none refused.
func TestPaidOrganizationIsNotHeldToTheTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(paidModel, groqtest.Limits{RPM: 1000, RPD: 500_000, TPM: 250_000}),
			groqtest.WithLatency(20*time.Millisecond, 0)},
			groq.WithDefaultModel(paidModel), groq.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		took, errs := pool(c, 400, 32)
		noErrors(t, errs)
		st := srv.Stats()
		assert.Zero(t, st.RateLimited, "no 429: the RPM of 1,000 is never reached")
		assert.Less(t, took, 3*time.Second, "400 calls of 20 ms (the table's RPM 30 would take 13 minutes)")
		q := c.RateLimits(paidModel).Quotas[0]
		assert.Equal(t, groq.Limits{RPD: 500_000, TPM: 250_000, ContextWindow: q.Limits.ContextWindow}, q.Limits)
		assert.Equal(t, groq.LimitSources{RPD: groq.SourceHeaders, TPM: groq.SourceHeaders}, q.Sources)
		assert.Equal(t, 1, strings.Count(logs.String(), "above the built-in table"), "logged once: %s", logs.String())
	})
}

// TestPaidOrganizationLearnsItsRPMFromOne429: the same plan with RPM 240 (a
// minute's bucket). The RPM shows only in a 429's message: the client learns it
// from the first wave of 429s (no more than its requests in flight), then paces
// at it with no further 429 and never sends before a Retry-After has passed. 300
// calls take 240 at once and 60 at 4 a second: 15 s.
func TestPaidOrganizationLearnsItsRPMFromOne429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(paidModel, groqtest.Limits{RPM: 240, RPD: 500_000, TPM: 250_000}),
			groqtest.WithLatency(20*time.Millisecond, 0)},
			groq.WithDefaultModel(paidModel))
		took, errs := pool(c, 300, 32)
		noErrors(t, errs)
		st := srv.Stats()
		assert.Zero(t, st.Violations, "nothing sent before a Retry-After passed")
		assert.LessOrEqual(t, st.RateLimited, 16, "one wave at most: the requests in flight when the RPM was met")
		assert.LessOrEqual(t, took, 18*time.Second, "within 1.2 × 15 s")
		q := c.RateLimits(paidModel).Quotas[0]
		assert.Equal(t, 240, q.Limits.RPM)
		assert.Equal(t, groq.SourceRateLimit, q.Sources.RPM)
		_, last := refusals(srv)
		assert.Less(t, last.Sub(srv.Arrivals()[0].At), 2*time.Second, "every 429 in the first wave, none while pacing")
	})
}

// TestConfiguredLimitIsNeverRaised: a limit the user configured stays a ceiling
// when the headers show a higher one; the table's guesses of another model do not
// fall with it.
func TestConfiguredLimitIsNeverRaised(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(paidModel, groqtest.Limits{RPM: 1000, RPD: 500_000, TPM: 250_000})},
			groq.WithDefaultModel(paidModel), groq.WithModelLimits(paidModel, groq.Limits{RPM: 100, TPM: 6000}))
		_, errs := pool(c, 3, 1)
		noErrors(t, errs)
		q := c.RateLimits(paidModel).Quotas[0]
		assert.Equal(t, 100, q.Limits.RPM)
		assert.Equal(t, 6000, q.Limits.TPM)
		assert.Equal(t, groq.LimitSources{RPM: groq.SourceConfigured, TPM: groq.SourceConfigured, RPD: groq.SourceHeaders}, q.Sources)
	})
}

// TestShallowTokenBucketIsNoOtherProgram: a server whose token bucket holds a
// second's worth of a TPM of 10,000,000 (x-ratelimit-remaining-tokens never above
// TPM/60) and whose request bucket holds 10 of an RPM of 600, with nobody else on
// the key. The headers are read as a shallower bucket, not as another program:
// the estimate of others' spending stays under 2 % of the limit and the client
// learns the depth.
func TestShallowTokenBucketIsNoOtherProgram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const tpm = 10_000_000
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(simModel, groqtest.Limits{RPM: 600, Burst: 10, TPM: tpm, TokenBurst: tpm / 60}),
			groqtest.WithLatency(20*time.Millisecond, 0)},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 600, TPM: tpm}))
		took, errs := pool(c, 200, 16)
		noErrors(t, errs)
		q := c.RateLimits(simModel).Quotas[0]
		t.Logf("%v, %d 429s, foreign %+v, burst %+v", took, srv.Stats().RateLimited, q.Foreign, q.Burst)
		assert.Less(t, q.Foreign.TokensPerMinute, 0.02*tpm, "no phantom program")
		assert.Less(t, q.Foreign.RequestsPerMinute, 0.02*600)
		assert.InDelta(t, tpm/60, q.Burst.TPM, tpm/60*0.05, "the depth the headers showed")
		// Learning the request bucket's depth costs a wave of 429s and a Retry-After
		// of a second; a learnt bound one too deep costs another.
		assert.LessOrEqual(t, took, bucketMinimum(200, 10, 600)+20*time.Millisecond+time.Second)
	})
}

// TestAnswersOutOfOrderAreNoOtherProgram: answers whose latency jitters by four
// times its base (10–50 ms) cross on the wire, so that a header read later can
// be older than one read before. With nobody else on the key, the estimate of
// others' spending stays under 2 % of each limit.
func TestAnswersOutOfOrderAreNoOtherProgram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(simModel, groqtest.Limits{RPM: 120, RPD: 14_400, TPM: 100_000}),
			groqtest.WithLatency(10*time.Millisecond, 40*time.Millisecond)},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 120}), groq.WithMaxConcurrency(16))
		took, errs := pool(c, 200, 16)
		noErrors(t, errs)
		q := c.RateLimits(simModel).Quotas[0]
		t.Logf("%v, %d 429s, foreign %+v", took, srv.Stats().RateLimited, q.Foreign)
		assert.Less(t, q.Foreign.RequestsPerMinute, 0.02*120)
		assert.Less(t, q.Foreign.TokensPerMinute, 0.02*100_000)
		assert.LessOrEqual(t, took, time.Duration(float64(bucketMinimum(200, 120, 120))*1.05))
	})
}

// TestInFlightBoundAdapts: without WithMaxConcurrency, limits that do not bind
// let as many requests fly as the callers make (up to MaxAdaptiveConcurrency); an
// unknown RPM holds them to twice DefaultMaxConcurrency; WithMaxConcurrency is a
// fixed ceiling.
func TestInFlightBoundAdapts(t *testing.T) {
	run := func(t *testing.T, limits groq.Limits, copts ...groq.Option) int {
		var most int
		synctest.Test(t, func(t *testing.T) {
			copts = append([]groq.Option{groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, limits)}, copts...)
			c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
				groqtest.WithModel(simModel, groqtest.Limits{RPM: 100_000}), groqtest.WithLatency(20*time.Millisecond, 0)}, copts...)
			_, errs := pool(c, 600, 64)
			noErrors(t, errs)
			most = srv.Stats().MaxInFlight
		})
		return most
	}
	assert.Equal(t, 64, run(t, groq.Limits{RPM: 100_000}), "limits that do not bind: every caller's request in flight")
	assert.Equal(t, 2*groq.DefaultMaxConcurrency, run(t, groq.Limits{}, groq.WithRPM(0)), "an unknown RPM")
	assert.Equal(t, 8, run(t, groq.Limits{RPM: 100_000}, groq.WithMaxConcurrency(8)), "a fixed ceiling")
}

// TestFirstWaveIsNoOtherProgram: the first wave is admitted before any answer has
// shown the RPD, and its requests reach the server spread over 100 ms (a gateway's
// callers dialling in), so that the first answers come back while the rest are
// still arriving. The bucket made from the first header counts them as this
// process's, not another program's: 135 calls on RPM 120 take what the key allows
// (120 at once, then 2 a second), with no 429.
func TestFirstWaveIsNoOtherProgram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(simModel, groqtest.Limits{RPM: 120, RPD: 14_400, TPM: 100_000}),
			groqtest.WithLatency(20*time.Millisecond, 0), groqtest.WithArrivalJitter(100 * time.Millisecond)},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 120}), groq.WithMaxConcurrency(135))
		took, errs := pool(c, 135, 135)
		noErrors(t, errs)
		q := c.RateLimits(simModel).Quotas[0]
		t.Logf("%v, %d 429s, foreign %+v", took, srv.Stats().RateLimited, q.Foreign)
		assert.Zero(t, srv.Stats().RateLimited)
		assert.Less(t, q.Foreign.RequestsPerMinute, 0.02*120, "no phantom program")
		assert.Less(t, took, 8*time.Second, "the key allows 7.5 s")
	})
}

// TestTokenCountsThatDifferAreNoOtherProgram: a server that counts a prompt's
// tokens at 0.6 or 1.7 times the client's estimate (TPM 60,000, a minute's
// bucket), nobody else on the key: the difference is the requests' own cost,
// learnt from their usage, not another program's spending.
func TestTokenCountsThatDifferAreNoOtherProgram(t *testing.T) {
	for _, scale := range []float64{0.6, 1.7} {
		synctest.Test(t, func(t *testing.T) {
			c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
				groqtest.WithModel(simModel, groqtest.Limits{RPM: 600, RPD: 14_400, TPM: 60_000}),
				groqtest.WithLatency(20*time.Millisecond, 20*time.Millisecond), groqtest.WithTokenScale(scale)},
				groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 600, TPM: 60_000}), groq.WithMaxConcurrency(16))
			_, errs := poolOf(c, 300, 16, func(i int) string { return strings.Repeat("word ", 40+i%40) })
			noErrors(t, errs)
			q := c.RateLimits(simModel).Quotas[0]
			t.Logf("scale %v: %d 429s, foreign %+v", scale, srv.Stats().RateLimited, q.Foreign)
			assert.Less(t, q.Foreign.TokensPerMinute, 0.01*60_000, "scale %v: under 1 %% (reading every header as spending made 1.2 %%)", scale)
			assert.Less(t, q.Foreign.RequestsPerMinute, 0.02*600, "scale %v", scale)
		})
	}
}
