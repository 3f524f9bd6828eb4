package groq

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Default retry settings.
const (
	DefaultMaxRetries    = 4
	DefaultBackoffBase   = 250 * time.Millisecond
	DefaultBackoffMax    = 30 * time.Second
	DefaultMaxRetryDelay = 2 * time.Minute
)

// decorrelatedJitter returns the next backoff sleep after prev, following AWS's
// "decorrelated jitter": sleep = min(max, rand[base, prev*3)). For the first retry,
// pass prev = 0. randN returns a uniform value in [0, n); it is a parameter so that
// tests can pin the draw.
func decorrelatedJitter(prev, base, max time.Duration, randN func(int64) int64) time.Duration {
	if base <= 0 {
		return 0
	}
	if prev < base {
		prev = base
	}
	hi := prev * 3
	if hi/3 != prev { // overflow
		hi = math.MaxInt64
	}
	if hi <= base {
		return min(base, max)
	}
	return min(base+time.Duration(randN(int64(hi-base))), max)
}

func randInt64N(n int64) int64 { return rand.Int64N(n) }

// retryableStatus says whether a response with this status and headers may be
// retried. x-should-retry overrides the status rule, except for a 413: a request
// larger than the limit cannot succeed by waiting.
func retryableStatus(status int, h http.Header) bool {
	if status == http.StatusRequestEntityTooLarge {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("X-Should-Retry"))) {
	case "true":
		return true
	case "false":
		return false
	}
	switch status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests,
		498, // Groq flex tier: capacity_exceeded
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// NextBackoff draws the sleep before the next retry when the server gave no wait:
// decorrelated jitter, min(max, random in [base, 3×prev)). Pass prev = 0 for the
// first retry. It is safe for concurrent use.
func NextBackoff(prev, base, max time.Duration) time.Duration {
	return decorrelatedJitter(prev, base, max, randInt64N)
}
