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
