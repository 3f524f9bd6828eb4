package groq

import (
	"net/http"
	"strings"
	"time"

	"github.com/groqkit/groq/internal/retry"
)

// Default retry settings.
const (
	DefaultMaxRetries    = 4
	DefaultBackoffBase   = 250 * time.Millisecond
	DefaultBackoffMax    = 30 * time.Second
	DefaultMaxRetryDelay = 2 * time.Minute
)

// decorrelatedJitter is internal/retry's Jitter: min(max, rand[base, 3·prev)).
func decorrelatedJitter(prev, base, max time.Duration, randN func(int64) int64) time.Duration {
	return retry.Jitter(prev, base, max, randN)
}

func randInt64N(n int64) int64 { return retry.RandN(n) }

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
