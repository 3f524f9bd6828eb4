package groq

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseResetDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"2m59.56s": 2*time.Minute + 59560*time.Millisecond,
		"7.66s":    7660 * time.Millisecond,
		"150ms":    150 * time.Millisecond,
		"1m0.36s":  60360 * time.Millisecond,
		"12":       12 * time.Second,
	} {
		got, ok := parseResetDuration(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "-1s", "fast", "-3"} {
		_, ok := parseResetDuration(bad)
		assert.False(t, ok, bad)
	}
}

func TestParseRateLimitHeaders(t *testing.T) {
	now := time.Unix(1000, 0)
	h := http.Header{}
	h.Set("x-ratelimit-limit-requests", "14400")
	h.Set("x-ratelimit-remaining-requests", "14370")
	h.Set("x-ratelimit-reset-requests", "2m59.56s")
	h.Set("x-ratelimit-limit-tokens", "18000")
	h.Set("x-ratelimit-remaining-tokens", "17997")
	h.Set("x-ratelimit-reset-tokens", "7.66s")
	got := parseRateLimitHeaders(h, now)
	want := RateLimitInfo{Present: true, RequestsPerDay: 14400, RequestsLeftToday: 14370,
		RequestsResetIn: 2*time.Minute + 59560*time.Millisecond, TokensPerMinute: 18000,
		TokensLeftInMinute: 17997, TokensResetIn: 7660 * time.Millisecond, ObservedAt: now}
	assert.Equal(t, want, got)

	none := parseRateLimitHeaders(http.Header{}, now)
	assert.False(t, none.Present)
	assert.Equal(t, -1, none.RequestsPerDay)
	assert.Equal(t, -1, none.TokensLeftInMinute)

	h.Set("x-ratelimit-remaining-tokens", "lots")
	assert.Equal(t, -1, parseRateLimitHeaders(h, now).TokensLeftInMinute, "unparsable values stay unknown")
}

func TestParseLimitSignal(t *testing.T) {
	cases := []struct {
		msg  string
		want limitSignal
		ok   bool
	}{
		{"Rate limit reached for model `m` in organization `org_x` service tier `on_demand` on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 2s.",
			limitSignal{kind: kindRPM, limit: 30, used: 30, requested: 1}, true},
		{"... on tokens per minute (TPM): Limit 15000, Used 11972, Requested 4351. Please try again in 5.289s.",
			limitSignal{kind: kindTPM, limit: 15000, used: 11972, requested: 4351}, true},
		{"... on tokens per day (TPD): Limit 500000, Used 499000, Requested ~12903.",
			limitSignal{kind: kindTPD, limit: 500000, used: 499000, requested: 12903}, true},
		{"... on requests per day (RPD): Limit 1000.", limitSignal{kind: kindRPD, limit: 1000, used: -1, requested: -1}, true},
		{"Rate limit reached (injected). Please try again in 1s.", limitSignal{}, false},
	}
	for _, c := range cases {
		got, ok := parseLimitSignal(c.msg)
		assert.Equal(t, c.ok, ok, c.msg)
		assert.Equal(t, c.want, got, c.msg)
	}
	assert.Equal(t, 4351, limitSignal{kind: kindTPM, requested: 4351}.serverCost())
	assert.Equal(t, 0, limitSignal{kind: kindRPM, requested: 1}.serverCost(), "a request count is not a token cost")
}
