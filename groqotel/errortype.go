package groqotel

import (
	"context"
	"errors"
	"strconv"

	"github.com/groqkit/groq"
)

// errorType is the error.type attribute: a short, low-cardinality class of err
// (the HTTP status when the server answered, else what stopped the call), or
// "_OTHER" as the conventions ask for anything else.
func errorType(err error, status int) string {
	var rl *groq.RateLimitError
	var apiErr *groq.APIError
	switch {
	case errors.As(err, &rl) && rl.Local:
		return "rate_limited_locally"
	case errors.As(err, &rl):
		return strconv.Itoa(rl.StatusCode)
	case errors.As(err, &apiErr):
		return strconv.Itoa(apiErr.StatusCode)
	case status > 0:
		return strconv.Itoa(status)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, groq.ErrClientClosed):
		return "client_closed"
	case errors.Is(err, groq.ErrStreamClosed):
		return "stream_closed"
	case errors.Is(err, groq.ErrBudgetExceeded):
		return "budget_exceeded"
	case errors.Is(err, groq.ErrRequestTooLarge):
		return "request_too_large"
	case errors.Is(err, groq.ErrContextWindowExceeded):
		return "context_window_exceeded"
	case errors.Is(err, groq.ErrQueueFull):
		return "queue_full"
	case errors.Is(err, groq.ErrInvalidRequest):
		return "invalid_request"
	}
	var se *groq.StreamError
	if errors.As(err, &se) {
		return "stream_broken"
	}
	return "_OTHER"
}
