package groq_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCreateIsNotRetriedWhenTheServerMayHaveActed: a 500 to POST /batches is
// returned at once (a retry could start a second batch); a 503 is retried.
func TestCreateIsNotRetriedWhenTheServerMayHaveActed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer()
		var posts atomic.Int32
		status := http.StatusInternalServerError
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/batches") && posts.Add(1) == 1 {
				return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
					Body: ioNopCloser(`{"error":{"message":"boom","type":"server_error"}}`), Request: r}, nil
			}
			return srv.Transport().RoundTrip(r)
		})
		c, err := groq.NewClient(groq.WithAPIKeys("gsk_k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(&http.Client{Transport: rt}))
		require.NoError(t, err)
		defer c.Close()
		ctx := context.Background()
		f, err := c.UploadFile(ctx, "in.jsonl", batchInput(t, 2, -1), "")
		require.NoError(t, err)
		_, err = c.CreateBatch(ctx, groq.BatchParams{InputFileID: f.ID})
		var apiErr *groq.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, 500, apiErr.StatusCode)
		assert.Equal(t, int32(1), posts.Load(), "a 500 is not retried")

		posts.Store(0)
		status = http.StatusServiceUnavailable
		b, err := c.CreateBatch(ctx, groq.BatchParams{InputFileID: f.ID})
		require.NoError(t, err, "a 503 is retried")
		assert.Equal(t, int32(2), posts.Load())
		list, err := c.Batches(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1, "one batch")
		assert.Equal(t, b.ID, list[0].ID)
	})
}
