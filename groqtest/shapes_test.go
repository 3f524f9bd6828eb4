package groqtest

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq/internal/limits"
)

// The server shapes of GROQ_API.md's "Servers are not all shaped alike", each
// as the options give it.

func usageOf(t *testing.T, r reply, field string) int {
	t.Helper()
	u, ok := r.body["usage"].(map[string]any)
	require.True(t, ok, "an answer with usage: %s", r.raw)
	return int(u[field].(float64))
}

// TestTokenScale: the server counts a prompt's tokens f times its usual count,
// in the usage it reports, in its TPM bucket and in its 413s.
func TestTokenScale(t *testing.T) {
	prompt := strings.Repeat("x", 400)
	base := NewUnstartedServer(WithModel("m", Limits{TPM: 100_000}))
	r := post(t, base.Client(), base.URL(), "k", chatBody("m", prompt, ""))
	require.Equal(t, 200, r.status)
	usual, completion := usageOf(t, r, "prompt_tokens"), usageOf(t, r, "completion_tokens")
	require.Equal(t, 3+4+100, usual, "four bytes a token, four a message, three for the reply")
	for _, f := range []float64{0.6, 1.7} {
		t.Run(strconv.FormatFloat(f, 'f', -1, 64), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { // no refill between the send and the header
				s := NewUnstartedServer(WithModel("m", Limits{TPM: 100_000}), WithTokenScale(f))
				r := post(t, s.Client(), s.URL(), "k", chatBody("m", prompt, ""))
				require.Equal(t, 200, r.status)
				want := int(math.Round(f * float64(usual)))
				assert.Equal(t, want, usageOf(t, r, "prompt_tokens"), "the server's count")
				assert.Equal(t, completion, usageOf(t, r, "completion_tokens"), "completions are counted as usual")
				assert.Equal(t, want+completion, usageOf(t, r, "total_tokens"))
				assert.Equal(t, strconv.Itoa(100_000-want-completion), r.header.Get("X-Ratelimit-Remaining-Tokens"), "the bucket spends the server's count")
				assert.Equal(t, want+completion, s.Stats().Tokens)
			})
		})
	}
	// A prompt the usual count puts at 107 tokens is 182 at 1.7: too large for a
	// TPM of 150, which it fits at 0.6 (64).
	for f, status := range map[float64]int{0.6: 200, 1.7: 413} {
		s := NewUnstartedServer(WithModel("m", Limits{TPM: 150}), WithTokenScale(f))
		r := post(t, s.Client(), s.URL(), "k", chatBody("m", prompt, `,"max_completion_tokens":1`))
		assert.Equal(t, status, r.status, "scale %v: %s", f, r.raw)
	}
	for _, f := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		assert.Panics(t, func() { NewUnstartedServer(WithTokenScale(f)) }, "WithTokenScale(%v)", f)
	}
}

// TestTokenScaleWithPromptCaching: the cached part of a prompt is counted at the
// same scale, so a cached repeat spends only its uncached part.
func TestTokenScaleWithPromptCaching(t *testing.T) {
	s := NewUnstartedServer(WithModel("m", Limits{}), WithPromptCaching(), WithTokenScale(1.7))
	body := `{"model":"m","messages":[{"role":"system","content":"` + strings.Repeat("s", 400) + `"},{"role":"user","content":"hi"}]}`
	first := post(t, s.Client(), s.URL(), "k", body)
	second := post(t, s.Client(), s.URL(), "k", body)
	require.Equal(t, 200, second.status)
	cached := int(second.body["usage"].(map[string]any)["prompt_tokens_details"].(map[string]any)["cached_tokens"].(float64))
	assert.Equal(t, 170, cached, "the system prompt's 100 tokens, at 1.7")
	assert.Equal(t, usageOf(t, first, "prompt_tokens"), usageOf(t, second, "prompt_tokens"))
}

// TestSecondDeepTokenBucket: a TPM bucket a second deep (TokenBurst = TPM/60)
// under a large TPM: remaining-tokens never exceeds the depth, on an idle key or a
// busy one, while limit-tokens gives the minute's limit.
func TestSecondDeepTokenBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const tpm = 10_000_000
		s := NewUnstartedServer(WithModel("m", Limits{TPM: tpm, TokenBurst: tpm / 60, RPM: 600, Burst: 10}))
		remaining := func(r reply) int {
			t.Helper()
			require.Equal(t, 200, r.status, r.raw)
			assert.Equal(t, strconv.Itoa(tpm), r.header.Get("X-Ratelimit-Limit-Tokens"))
			n, err := strconv.Atoi(r.header.Get("X-Ratelimit-Remaining-Tokens"))
			require.NoError(t, err)
			return n
		}
		big := strings.Repeat("x", 4*20_000) // about 20,000 tokens
		first := remaining(post(t, s.Client(), s.URL(), "k", chatBody("m", big, "")))
		assert.Less(t, first, tpm/60, "a full bucket holds TPM/60")
		assert.Greater(t, first, tpm/60-21_000, "less one request")
		time.Sleep(time.Hour)
		idle := remaining(post(t, s.Client(), s.URL(), "k", chatBody("m", big, "")))
		assert.Equal(t, first, idle, "an hour idle refills it to TPM/60, no more")
		low := idle
		for range 6 { // eight requests of 20,000 in all: what the bucket holds
			low = min(low, remaining(post(t, s.Client(), s.URL(), "k", chatBody("m", big, ""))))
		}
		assert.Less(t, low, tpm/60-100_000, "busy, the bucket runs down")
		time.Sleep(time.Second)
		assert.LessOrEqual(t, remaining(post(t, s.Client(), s.URL(), "k", chatBody("m", "hi", ""))), tpm/60)
	})
}

// TestPaidOrganization: limits above the client's built-in table for a real
// model name; the headers show the RPD and the TPM, the RPM shows only in a 429's
// message.
func TestPaidOrganization(t *testing.T) {
	const model = "llama-3.1-8b-instant"
	table, ok := limits.Published()[model]
	require.True(t, ok, "the built-in table has %s", model)
	paid := Limits{RPM: 1000, RPD: 500_000, TPM: 250_000}
	require.Greater(t, paid.RPM, table.RPM)
	require.Greater(t, paid.RPD, table.RPD)
	require.Greater(t, paid.TPM, table.TPM)
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithModel(model, paid))
		var last reply
		for i := range paid.RPM {
			last = post(t, s.Client(), s.URL(), "k", chatBody(model, "hi", ""))
			require.Equal(t, 200, last.status, "request %d of a minute's 1,000", i)
		}
		assert.Equal(t, "500000", last.header.Get("X-Ratelimit-Limit-Requests"))
		assert.Equal(t, "499000", last.header.Get("X-Ratelimit-Remaining-Requests"))
		assert.Equal(t, "250000", last.header.Get("X-Ratelimit-Limit-Tokens"))
		for name, v := range last.header {
			assert.NotContains(t, v, "1000", "no header gives the RPM (%s)", name)
		}
		r := post(t, s.Client(), s.URL(), "k", chatBody(model, "hi", ""))
		require.Equal(t, 429, r.status)
		assert.Contains(t, errField(r, "message"), "on requests per minute (RPM): Limit 1000, Used 1000, Requested 1.")
	})
}

// TestHeadersStampedWhenWritten: the x-ratelimit-* headers describe the buckets
// when the answer is written, after the latency: an answer's remaining figure
// already counts a request sent after it.
func TestHeadersStampedWhenWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithModel("m", Limits{RPD: 100, TPM: 60_000}), WithLatency(time.Second, 0))
		var first, second reply
		var wg sync.WaitGroup
		wg.Go(func() { first = post(t, s.Client(), s.URL(), "k", chatBody("m", "first", "")) })
		time.Sleep(500 * time.Millisecond)
		wg.Go(func() { second = post(t, s.Client(), s.URL(), "k", chatBody("m", "second", "")) })
		wg.Wait()
		require.Equal(t, 200, first.status)
		require.Equal(t, 200, second.status)
		assert.Equal(t, "98", first.header.Get("X-Ratelimit-Remaining-Requests"), "written at 1 s, it counts the request that arrived at 0.5 s")
		assert.Equal(t, "98", second.header.Get("X-Ratelimit-Remaining-Requests"))
		// Tokens: the first answer's remaining is the bucket at 1 s, less both
		// requests, plus a second's refill (1,000 tokens at 60,000 a minute).
		spent := usageOf(t, first, "total_tokens") + usageOf(t, second, "total_tokens")
		assert.Equal(t, strconv.Itoa(min(60_000, 60_000-spent+1000)), first.header.Get("X-Ratelimit-Remaining-Tokens"))
	})
}

// TestAnswersOutOfOrder: latency jitter several times the latency returns
// answers in another order than the requests were sent.
func TestAnswersOutOfOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithModel("m", Limits{}), WithLatency(10*time.Millisecond, 40*time.Millisecond), WithSeed(7))
		var mu sync.Mutex
		var order []int
		var took []time.Duration
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				start := time.Now()
				require.Equal(t, 200, post(t, s.Client(), s.URL(), "k", chatBody("m", "hi", "")).status)
				mu.Lock()
				order, took = append(order, i), append(took, time.Since(start))
				mu.Unlock()
			})
			time.Sleep(2 * time.Millisecond)
		}
		wg.Wait()
		inversions := 0
		for i := range order {
			for j := i + 1; j < len(order); j++ {
				if order[i] > order[j] {
					inversions++
				}
			}
		}
		assert.Greater(t, inversions, 10, "answers come back out of order: %v", order)
		assert.GreaterOrEqual(t, slicesMin(took), 10*time.Millisecond)
		assert.Less(t, slicesMax(took), 50*time.Millisecond)
		assert.Greater(t, slicesMax(took)-slicesMin(took), 20*time.Millisecond, "the jitter spreads the latency")
	})
}

func slicesMin(xs []time.Duration) time.Duration {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func slicesMax(xs []time.Duration) time.Duration {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
