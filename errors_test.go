package groq_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
)

func TestErrorType(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&groq.RateLimitError{Local: true}, "rate_limited_locally"},
		{&groq.RateLimitError{APIError: groq.APIError{StatusCode: 429}}, "429"},
		{fmt.Errorf("wrapped: %w", &groq.APIError{StatusCode: 503}), "503"},
		{fmt.Errorf("groq: chat m: %w", context.DeadlineExceeded), "timeout"},
		{context.Canceled, "canceled"},
		{groq.ErrClientClosed, "client_closed"},
		{groq.ErrBudgetExceeded, "budget_exceeded"},
		{groq.ErrQueueFull, "queue_full"},
		{&groq.RequestError{Field: "model", Reason: "empty"}, "invalid_request"},
		{errors.New("something else"), "_OTHER"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, groq.ErrorType(tc.err), "%v", tc.err)
	}
}
