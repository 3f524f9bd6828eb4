package groq_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/groqkit/groq"
)

// FuzzChatResponseBody: whatever a 200's body is, Chat returns an answer or an
// error that matches ErrBadResponse (or says the body could not be read), never
// panics, and the next call on the same client is not stalled by it (a poisoned
// usage must not hold the scheduler).
func FuzzChatResponseBody(f *testing.F) {
	for _, s := range []string{
		`{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`,
		`{}`, `null`, `[]`, `"x"`, `{"id":`, `<html>`,
		`{"id":"c","choices":[],"usage":{"total_tokens":9223372036854775807,"prompt_tokens":-1}}`,
		`{"id":"c","choices":[],"usage":{"total_tokens":1e400}}`,
		`{"id":"c","choices":[{"message":{"content":"\ud800"}}],"usage":{"completion_tokens":-9223372036854775808}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		next := body
		c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithMaxRetries(0), groq.WithRPM(0),
			groq.WithModelLimits("m", groq.Limits{TPM: 6000, ContextWindow: 8192}), groq.WithDefaultModel("m"),
			groq.WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				b := next
				next = []byte(`{"id":"ok","object":"chat.completion","choices":[],"usage":{"total_tokens":2}}`)
				return &http.Response{StatusCode: 200, Header: http.Header{}, Body: ioNopCloser(string(b)), Request: r}, nil
			})}))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := c.Chat(ctx, hello)
		if err != nil && !errors.Is(err, groq.ErrBadResponse) {
			t.Fatalf("Chat(%q) = %v; want an answer or ErrBadResponse", body, err)
		}
		if err == nil && resp == nil {
			t.Fatalf("Chat(%q): no answer and no error", body)
		}
		start := time.Now()
		_, err = c.Chat(ctx, []groq.Message{groq.User("again")})
		if time.Since(start) > time.Second {
			t.Fatalf("after %q the next call took %v (%v)", body, time.Since(start), err)
		}
	})
}
