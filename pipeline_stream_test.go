package groq_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStreamAttemptRequestID: a stream whose first event is an x_groq
// error carrying the request's id (no X-Request-Id header) reports that id in
// the attempt's event, as the stream's Meta does.
func TestStreamAttemptRequestID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []string
		c, err := groq.NewClient(groq.WithAPIKeys("gsk_k"), groq.WithBaseURL("http://groq.test/openai/v1"),
			groq.WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				body := "data: " + `{"id":"x","object":"chat.completion.chunk","model":"llama-3.1-8b-instant","choices":[],"x_groq":{"id":"req_01","error":{"message":"boom","type":"server_error"}}}` + "\n\n"
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: ioNopCloser(body), Request: r}, nil
			})}),
			groq.WithObserver(groq.Observer{AttemptDone: func(_ context.Context, e groq.AttemptEvent) { got = append(got, e.RequestID) }}))
		require.NoError(t, err)
		defer c.Close()
		s, err := c.ChatStream(context.Background(), hi)
		require.NoError(t, err)
		for s.Next() {
		}
		require.Error(t, s.Err())
		assert.Equal(t, "req_01", s.Meta.RequestID)
		assert.Equal(t, []string{"req_01"}, got)
	})
}
