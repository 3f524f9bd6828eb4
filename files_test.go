package groq_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFilesAndBatchesBadInputBeforeTheNetwork: every parameter problem is a
// *RequestError naming it, and nothing is sent.
func TestFilesAndBatchesBadInputBeforeTheNetwork(t *testing.T) {
	var sent atomic.Int32
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_x"), groq.WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return nil, errors.New("unreachable")
	})}))
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	cases := []struct {
		name, field string
		call        func() error
	}{
		{"empty name", "filename", func() error { _, err := c.UploadFile(ctx, " ", []byte("{}"), ""); return err }},
		{"path in name", "filename", func() error { _, err := c.UploadFile(ctx, "a/b.jsonl", []byte("{}"), ""); return err }},
		{"empty data", "data", func() error { _, err := c.UploadFile(ctx, "a.jsonl", nil, ""); return err }},
		{"not JSONL", "data", func() error { _, err := c.UploadFile(ctx, "a.jsonl", []byte("{}\nnot json\n"), ""); return err }},
		{"too large", "data", func() error {
			_, err := c.UploadFile(ctx, "a.jsonl", make([]byte, groq.MaxBatchFileBytes+1), "")
			return err
		}},
		{"purpose", "purpose", func() error { _, err := c.UploadFile(ctx, "a.jsonl", []byte("{}"), "fine-tune"); return err }},
		{"no input file", "input_file_id", func() error { _, err := c.CreateBatch(ctx, groq.BatchParams{}); return err }},
		{"window too short", "completion_window", func() error {
			_, err := c.CreateBatch(ctx, groq.BatchParams{InputFileID: "f", CompletionWindow: "1h"})
			return err
		}},
		{"window unit", "completion_window", func() error {
			_, err := c.CreateBatch(ctx, groq.BatchParams{InputFileID: "f", CompletionWindow: "2w"})
			return err
		}},
		{"empty batch id", "batch id", func() error { _, err := c.Batch(ctx, ""); return err }},
		{"empty file id", "file id", func() error { _, err := c.FileContent(ctx, ""); return err }},
	}
	for _, tc := range cases {
		err := tc.call()
		var re *groq.RequestError
		require.ErrorAs(t, err, &re, tc.name)
		assert.Equal(t, tc.field, re.Field, tc.name)
	}
	assert.Contains(t, (func() error { _, err := c.UploadFile(ctx, "a.jsonl", []byte("{}\nnot json\n"), ""); return err })().Error(), "line 2")
	assert.Zero(t, sent.Load(), "nothing was sent")
}
