package groqtest

import (
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// resetIn reads a reply's x-ratelimit-reset-requests.
func resetIn(t *testing.T, r reply) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(r.header.Get("X-Ratelimit-Reset-Requests"))
	require.NoError(t, err, "reset-requests %q is a Go duration", r.header.Get("X-Ratelimit-Reset-Requests"))
	return d
}

// TestSpentDayShowsAsGroqShowsIt: a model of 3 requests a day answers its third
// with 0 left and a reset in hours, and its fourth with Groq's 429 on requests
// per day, whose wait (8 h: one request of 3 a day) is the retry-after; another
// model of the same organization is untouched.
func TestSpentDayShowsAsGroqShowsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithModel("a", Limits{RPM: 60, RPD: 3, TPM: 6000}), WithModel("b", Limits{RPM: 60, RPD: 1000, TPM: 6000}))
		hc, base := s.Client(), s.URL()
		for i := range 2 {
			r := post(t, hc, base, "k", chatBody("a", "hi", ""))
			require.Equal(t, 200, r.status)
			assert.Equal(t, strconv.Itoa(2-i), r.header.Get("X-Ratelimit-Remaining-Requests"))
		}
		r := post(t, hc, base, "k", chatBody("a", "hi", ""))
		require.Equal(t, 200, r.status)
		assert.Equal(t, "3", r.header.Get("X-Ratelimit-Limit-Requests"))
		assert.Equal(t, "0", r.header.Get("X-Ratelimit-Remaining-Requests"), "the day is spent")
		assert.Equal(t, 24*time.Hour, resetIn(t, r), "a day's bucket of 3 is full again in 24 h")

		time.Sleep(time.Hour)
		r = post(t, hc, base, "k", chatBody("a", "hi", ""))
		require.Equal(t, 429, r.status, r.raw)
		assert.Equal(t, "requests", errField(r, "type"))
		assert.Equal(t, "rate_limit_exceeded", errField(r, "code"))
		assert.Contains(t, errField(r, "message"), "Rate limit reached for model `a` in organization `")
		assert.Contains(t, errField(r, "message"), "on requests per day (RPD): Limit 3, Used 3, Requested 1. Please try again in 7h0m0s.")
		assert.Equal(t, "25200", r.header.Get("Retry-After"))
		assert.Equal(t, "0", r.header.Get("X-Ratelimit-Remaining-Requests"))
		assert.Equal(t, "23h0m0s", r.header.Get("X-Ratelimit-Reset-Requests"))

		r = post(t, hc, base, "k", chatBody("b", "hi", ""))
		require.Equal(t, 200, r.status, "another model's day is its own")
		assert.Equal(t, "999", r.header.Get("X-Ratelimit-Remaining-Requests"))

		time.Sleep(7 * time.Hour)
		r = post(t, hc, base, "k", chatBody("a", "hi", ""))
		assert.Equal(t, 200, r.status, "one request came back 8 h after the day was spent")
		assert.Equal(t, "0", r.header.Get("X-Ratelimit-Remaining-Requests"))
	})
}

// TestSpentTokensPerDay: a spent TPD is a 429 of type tokens naming TPD, with
// the tokens used and requested; the headers (RPD, TPM) do not show it, as
// Groq's do not.
func TestSpentTokensPerDay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithModel("m", Limits{RPM: 60, RPD: 1000, TPM: 6000, TPD: 100}), WithSpentToday("m", 0, 90))
		r := post(t, s.Client(), s.URL(), "k", chatBody("m", "a prompt of some tokens", `,"max_completion_tokens":20`))
		require.Equal(t, 429, r.status, r.raw)
		assert.Equal(t, "tokens", errField(r, "type"))
		assert.Regexp(t, "on tokens per day \\(TPD\\): Limit 100, Used 90, Requested [0-9]+\\. Please try again in [0-9]+h[0-9]+m", errField(r, "message"))
		assert.Equal(t, "1000", r.header.Get("X-Ratelimit-Remaining-Requests"), "nothing was counted")
		assert.Equal(t, "6000", r.header.Get("X-Ratelimit-Remaining-Tokens"), "no header shows a TPD")
	})
}

// TestWithSpentToday: a model of 1000 requests a day, all spent before the
// server started, answers its first request with the 429 on RPD, "0" left and
// a reset of 24 h in the headers, for every organization; its next request is
// let in 86.4 s later. A model not named starts its day full.
func TestWithSpentToday(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithKeys("k1", "k2"), WithModel("big", Limits{RPM: 30, RPD: 1000, TPM: 12_000}),
			WithModel("small", Limits{RPM: 30, RPD: 14_400, TPM: 6000}), WithSpentToday("big", 1000, 0))
		hc, base := s.Client(), s.URL()
		for _, key := range []string{"k1", "k2"} {
			r := post(t, hc, base, key, chatBody("big", "hi", ""))
			require.Equal(t, 429, r.status, r.raw)
			assert.Contains(t, errField(r, "message"), "on requests per day (RPD): Limit 1000, Used 1000, Requested 1. Please try again in 1m26.4s.")
			assert.Equal(t, "87", r.header.Get("Retry-After"))
			assert.Equal(t, "0", r.header.Get("X-Ratelimit-Remaining-Requests"))
			assert.Equal(t, "24h0m0s", r.header.Get("X-Ratelimit-Reset-Requests"))
		}
		r := post(t, hc, base, "k1", chatBody("small", "hi", ""))
		require.Equal(t, 200, r.status)
		assert.Equal(t, "14399", r.header.Get("X-Ratelimit-Remaining-Requests"))

		time.Sleep(87 * time.Second)
		r = post(t, hc, base, "k1", chatBody("big", "hi", ""))
		assert.Equal(t, 200, r.status, r.raw)
		assert.Equal(t, "0", r.header.Get("X-Ratelimit-Remaining-Requests"))
		assert.Greater(t, resetIn(t, r), 23*time.Hour)
	})
}

func TestWithSpentTodayRefusesNonsense(t *testing.T) {
	for name, opts := range map[string][]Option{
		"not served":       {WithModel("m", Limits{RPD: 10}), WithSpentToday("x", 1, 0)},
		"above the RPD":    {WithModel("m", Limits{RPD: 10}), WithSpentToday("m", 11, 0)},
		"no TPD":           {WithModel("m", Limits{RPD: 10}), WithSpentToday("m", 0, 1)},
		"negative":         {WithModel("m", Limits{RPD: 10}), WithSpentToday("m", -1, 0)},
		"empty model name": {WithSpentToday("", 1, 0)},
	} {
		assert.Panics(t, func() { NewUnstartedServer(opts...) }, name)
	}
}
