package gateway

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/groqkit/groq"
)

// TestErrorOfAFallback: a call whose every model failed answers with the last
// model's status and a message naming each; a 429 keeps Groq's type.
func TestErrorOfAFallback(t *testing.T) {
	day := &groq.RateLimitError{APIError: groq.APIError{StatusCode: 429, Message: "on requests per day (RPD)", Type: "requests"}, Model: "b"}
	nf := &groq.ModelNotFoundError{Model: "a", Err: &groq.APIError{StatusCode: 404, Message: "no such model"}}
	status, e := errorOf(&groq.FallbackError{Models: []string{"a", "b"}, Errs: []error{nf, day}})
	assert.Equal(t, http.StatusTooManyRequests, status, "the last model's, not the first 404's")
	assert.Equal(t, "requests", e.Type)
	assert.Contains(t, e.Message, "a: ")
	assert.Contains(t, e.Message, "b: ")

	status, e = errorOf(fmt.Errorf("wrapped: %w", &groq.RateLimitError{Local: true, Reason: "past the deadline"}))
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "tokens", e.Type, "a local refusal names no limit: OpenAI's SDKs read tokens")
}
