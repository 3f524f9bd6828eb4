package groq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// TestTooLargeSaysNoneForAnUnsetLimit: a limit the client does not have reads
// "none", not "0 per day" (examples/errors printed that).
func TestTooLargeSaysNoneForAnUnsetLimit(t *testing.T) {
	c, _ := sim(t, nil, groq.WithModelLimits("m", groq.Limits{TPM: 100}))
	_, err := c.Chat(context.Background(), []groq.Message{groq.User(strings.Repeat("word ", 400))}, groq.WithModel("m"))
	require.ErrorIs(t, err, groq.ErrRequestTooLarge)
	assert.Contains(t, err.Error(), "100 tokens per minute and none per day")
	assert.NotContains(t, err.Error(), " 0 per day")
}
