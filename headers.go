package groq

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/groqkit/groq/internal/retry"
)

// parseRateLimitHeaders reads Groq's x-ratelimit-* headers. Values that do not parse
// are left unknown rather than guessed.
func parseRateLimitHeaders(h http.Header, now time.Time) RateLimitInfo {
	info := RateLimitInfo{
		RequestsPerDay: -1, RequestsLeftToday: -1,
		TokensPerMinute: -1, TokensLeftInMinute: -1,
		ObservedAt: now,
	}
	num := func(name string, dst *int) {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			return
		}
		info.Present = true
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			*dst = n
		}
	}
	dur := func(name string, dst *time.Duration) {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			return
		}
		info.Present = true
		if d, ok := parseResetDuration(v); ok {
			*dst = d
		}
	}
	num("X-Ratelimit-Limit-Requests", &info.RequestsPerDay)
	num("X-Ratelimit-Remaining-Requests", &info.RequestsLeftToday)
	dur("X-Ratelimit-Reset-Requests", &info.RequestsResetIn)
	num("X-Ratelimit-Limit-Tokens", &info.TokensPerMinute)
	num("X-Ratelimit-Remaining-Tokens", &info.TokensLeftInMinute)
	dur("X-Ratelimit-Reset-Tokens", &info.TokensResetIn)
	return info
}

// parseResetDuration reads Groq's reset values ("2m59.56s", "7.66s", "150ms"); a
// bare number is taken as seconds.
func parseResetDuration(v string) (time.Duration, bool) {
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d, true
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && retry.SaneSeconds(s) {
		return retry.SecondsToDuration(s), true
	}
	return 0, false
}
