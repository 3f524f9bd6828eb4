package groq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// batchInput is n lines of Groq's batch format; line bad (when ≥ 0) names a model
// the server does not serve.
func batchInput(t *testing.T, n, bad int) []byte {
	t.Helper()
	var b bytes.Buffer
	for i := range n {
		model := "llama-3.1-8b-instant"
		if i == bad {
			model = "no-such-model"
		}
		line, err := json.Marshal(groq.BatchLine{CustomID: fmt.Sprintf("line-%d", i), Method: "POST", URL: "/v1/chat/completions",
			Body: &groq.ChatRequest{Model: model, Messages: []groq.Message{groq.User(fmt.Sprintf("question %d", i))}}})
		require.NoError(t, err)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestBatchEndToEnd: upload, create, watch it progress, and read every line's
// result back from the output and error files.
func TestBatchEndToEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithBatchDuration(10 * time.Minute), groqtest.WithBatchFailureRate(0.1), groqtest.WithSeed(7)})
		ctx := context.Background()
		f, err := c.UploadFile(ctx, "in.jsonl", batchInput(t, 60, 5), "")
		require.NoError(t, err)
		assert.Equal(t, "batch", f.Purpose)
		assert.Equal(t, "in.jsonl", f.Filename)
		assert.Positive(t, f.Bytes)

		b, err := c.CreateBatch(ctx, groq.BatchParams{InputFileID: f.ID})
		require.NoError(t, err)
		assert.Equal(t, "24h", b.CompletionWindow, "the default window")
		assert.Equal(t, groq.BatchValidating, b.Status)
		start := time.Now()

		var seen []groq.BatchStatus
		var progress []int
		done, err := c.WaitBatch(ctx, b.ID, time.Minute, func(b *groq.Batch) {
			seen = append(seen, b.Status)
			progress = append(progress, b.RequestCounts.Completed+b.RequestCounts.Failed)
		})
		require.NoError(t, err)
		assert.Equal(t, groq.BatchCompleted, done.Status)
		assert.True(t, done.Status.Done())
		assert.Equal(t, 10*time.Minute, time.Since(start).Round(time.Minute), "completes after the configured time (polled at most a minute late)")
		assert.Contains(t, seen, groq.BatchInProgress)
		for i := 1; i < len(progress); i++ {
			assert.GreaterOrEqual(t, progress[i], progress[i-1], "counts only grow")
		}
		assert.Equal(t, 60, done.RequestCounts.Total)
		assert.Equal(t, 60, done.RequestCounts.Completed+done.RequestCounts.Failed)
		require.Positive(t, done.RequestCounts.Failed, "the unknown model at least")

		answers := map[string]groq.BatchOutput{}
		for _, id := range []string{done.OutputFileID, done.ErrorFileID} {
			require.NotEmpty(t, id)
			data, err := c.FileContent(ctx, id)
			require.NoError(t, err)
			lines, err := groq.ParseBatchOutput(data)
			require.NoError(t, err)
			for _, l := range lines {
				_, dup := answers[l.CustomID]
				require.False(t, dup, "%s answered twice", l.CustomID)
				answers[l.CustomID] = l
			}
		}
		require.Len(t, answers, 60, "every line once, in one file or the other")
		ok := 0
		for i := range 60 {
			l := answers[fmt.Sprintf("line-%d", i)]
			if l.OK() {
				ok++
				assert.Contains(t, l.Response.Body.Text(), fmt.Sprintf("question %d", i), "each line's own answer")
				assert.NotEmpty(t, l.Response.RequestID)
			}
		}
		assert.Equal(t, done.RequestCounts.Completed, ok)
		bad := answers["line-5"]
		assert.False(t, bad.OK())
		require.NotNil(t, bad.Error)
		assert.Equal(t, "model_not_found", bad.Error.Code)

		files, err := c.Files(ctx)
		require.NoError(t, err)
		assert.Len(t, files, 3, "the input, output and error files")
		require.NoError(t, c.DeleteFile(ctx, f.ID))
		_, err = c.File(ctx, f.ID)
		var apiErr *groq.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, 404, apiErr.StatusCode)

		list, err := c.Batches(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, b.ID, list[0].ID)
	})
}

func TestBatchCancelKeepsWhatFinished(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithBatchDuration(10 * time.Minute)})
		ctx := context.Background()
		f, err := c.UploadFile(ctx, "in.jsonl", batchInput(t, 100, -1), groq.FilePurposeBatch)
		require.NoError(t, err)
		b, err := c.CreateBatch(ctx, groq.BatchParams{InputFileID: f.ID, CompletionWindow: "7d"})
		require.NoError(t, err)
		time.Sleep(5*time.Minute + 30*time.Second) // half-way through the running part
		cb, err := c.CancelBatch(ctx, b.ID)
		require.NoError(t, err)
		assert.Equal(t, groq.BatchCancelling, cb.Status)
		done, err := c.WaitBatch(ctx, b.ID, time.Minute, nil)
		require.NoError(t, err)
		assert.Equal(t, groq.BatchCancelled, done.Status)
		assert.Equal(t, 50, done.RequestCounts.Completed)
		data, err := c.FileContent(ctx, done.OutputFileID)
		require.NoError(t, err)
		lines, err := groq.ParseBatchOutput(data)
		require.NoError(t, err)
		assert.Len(t, lines, 50)
	})
}

func TestBatchInputThatDoesNotValidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, nil)
		ctx := context.Background()
		in := append(batchInput(t, 3, -1), batchInput(t, 1, -1)...) // line-0 twice
		f, err := c.UploadFile(ctx, "dup.jsonl", in, "")
		require.NoError(t, err)
		b, err := c.CreateBatch(ctx, groq.BatchParams{InputFileID: f.ID})
		require.NoError(t, err)
		done, err := c.WaitBatch(ctx, b.ID, 0, nil)
		require.NoError(t, err)
		assert.Equal(t, groq.BatchFailed, done.Status)
		require.NotNil(t, done.Errors)
		require.Len(t, done.Errors.Data, 1)
		assert.Equal(t, "duplicate_custom_id", done.Errors.Data[0].Code)
		assert.Equal(t, 4, done.Errors.Data[0].Line)
	})
}
