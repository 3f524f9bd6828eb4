package groq_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLogOrderOn429: the scheduler's log of what a 429 taught comes before
// the call's "attempt failed", as it did when refused settled the grant first.
func TestLogOrderOn429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		var n atomic.Int32
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if n.Add(1) == 1 {
				return answer(r, 429, http.Header{"Retry-After": {"2"}}, `{"error":{"message":"Rate limit reached for model `+"`llama-3.1-8b-instant`"+` in organization `+"`org_1`"+` service tier `+"`on_demand`"+` on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 2s.","type":"requests","code":"rate_limit_exceeded"}}`), nil
			}
			return answer(r, 200, nil, `{"id":"x","object":"chat.completion","model":"llama-3.1-8b-instant","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`), nil
		})
		c, err := groq.NewClient(groq.WithAPIKeys("gsk_k"), groq.WithBaseURL("http://groq.test/openai/v1"),
			groq.WithHTTPClient(&http.Client{Transport: rt}), groq.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Chat(context.Background(), []groq.Message{groq.User("hi")}, groq.WithModel("llama-3.1-8b-instant"))
		require.NoError(t, err)
		out := logs.String()
		t.Log(out)
		failed := strings.Index(out, "attempt failed")
		learnt := strings.Index(out, "another program spent")
		if learnt < 0 {
			learnt = strings.Index(out, "shallower")
		}
		require.True(t, failed >= 0 && learnt >= 0, "both logged")
		assert.Less(t, learnt, failed, "the lesson is logged before the attempt's failure")
	})
}
