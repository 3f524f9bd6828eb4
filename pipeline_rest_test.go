package groq_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// restClient is a client whose every request is answered by rt.
func restClient(t *testing.T, rt roundTripFunc) *groq.Client {
	t.Helper()
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_k"), groq.WithBaseURL("http://groq.test/openai/v1"),
		groq.WithHTTPClient(&http.Client{Transport: rt}))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func answer(r *http.Request, status int, h http.Header, body string) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	return &http.Response{StatusCode: status, Header: h, Body: ioNopCloser(body), Request: r}
}

// TestRestErrorTypes: a files/batches/models call's error status gives the
// *APIError the old rest loop gave: a 413 is not a *RateLimitError, a 404 whose
// code is model_not_found (GET /files/x here) is not a *ModelNotFoundError of
// model "".
func TestRestErrorTypes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := restClient(t, func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPost {
				return answer(r, 413, nil, `{"error":{"message":"file too large","type":"invalid_request_error"}}`), nil
			}
			return answer(r, 404, nil, `{"error":{"message":"not found","type":"invalid_request_error","code":"model_not_found"}}`), nil
		})
		_, err := c.UploadFile(context.Background(), "in.jsonl", []byte(`{"a":1}`+"\n"), "")
		require.Error(t, err)
		assert.False(t, errors.As(err, new(*groq.RateLimitError)), "a 413 upload is not a rate limit: %T %v", err, err)
		assert.False(t, errors.Is(err, groq.ErrRateLimited))

		_, err = c.File(context.Background(), "file_1")
		require.Error(t, err)
		assert.False(t, errors.Is(err, groq.ErrModelNotFound), "GET /files/x is no model: %T %v", err, err)
		assert.NotContains(t, err.Error(), `model ""`)
	})
}

// TestRestCancelKeepsTheFailure: when the context ends after a failed
// attempt, the old rest loop named that attempt's failure in the error.
func TestRestCancelKeepsTheFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := restClient(t, func(r *http.Request) (*http.Response, error) {
			cancel() // the caller gives up while the 503 comes back
			return answer(r, 503, nil, `{"error":{"message":"over capacity","type":"server_error"}}`), nil
		})
		_, err := c.Files(ctx)
		require.ErrorIs(t, err, context.Canceled)
		assert.Contains(t, err.Error(), "last failure", "the 503 is named: %v", err)
	})
}

// TestRestCancelDuringServerWait: a context that ends during the wait a
// 503's Retry-After asked for keeps the 503 in the error, as before.
func TestRestCancelDuringServerWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := restClient(t, func(r *http.Request) (*http.Response, error) {
			return answer(r, 503, http.Header{"Retry-After": {"5"}}, `{"error":{"message":"over capacity","type":"server_error"}}`), nil
		})
		time.AfterFunc(2*time.Second, cancel)
		_, err := c.Files(ctx)
		require.ErrorIs(t, err, context.Canceled)
		assert.Contains(t, err.Error(), "last failure", "the 503 is named: %v", err)
	})
}

// TestBudgetCountsAZeroEstimate: a chat call whose planned cost is 0 (a
// Tokenizer that counts nothing, WithCompletionReserve(0)) still adds its real
// usage to the daily budget, as the old end did.
func TestBudgetCountsAZeroEstimate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, nil, groq.WithDailyTokenBudget(100000), groq.WithCompletionReserve(0),
			groq.WithTokenizer(groq.TokenizerFunc(func(string, []groq.Message) int { return 0 })))
		resp, err := c.Chat(context.Background(), []groq.Message{groq.User("hello there")})
		require.NoError(t, err)
		require.NotNil(t, resp.Usage)
		require.Positive(t, resp.Usage.TotalTokens)
		assert.Equal(t, int64(resp.Usage.TotalTokens), c.Budget().Used, "the answer's usage is settled into the budget")
	})
}

var _ = strings.Contains
