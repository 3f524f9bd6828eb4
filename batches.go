package groq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/groqkit/groq/internal/batchapi"
)

// BatchStatus is where a batch of Groq's Batch API stands.
type BatchStatus string

// The statuses Groq documents. A batch goes validating → in_progress → finalizing
// → completed; it may instead end failed (its input did not validate), expired
// (not done within its completion window: what finished is in its files) or
// cancelled (after cancelling).
const (
	BatchValidating BatchStatus = "validating"
	BatchFailed     BatchStatus = "failed"
	BatchInProgress BatchStatus = "in_progress"
	BatchFinalizing BatchStatus = "finalizing"
	BatchCompleted  BatchStatus = "completed"
	BatchExpired    BatchStatus = "expired"
	BatchCancelling BatchStatus = "cancelling"
	BatchCancelled  BatchStatus = "cancelled"
)

// Done says whether the status is final: completed, failed, expired or cancelled.
func (s BatchStatus) Done() bool {
	switch s {
	case BatchCompleted, BatchFailed, BatchExpired, BatchCancelled:
		return true
	}
	return false
}

// Batch is one batch of Groq's Batch API: requests run asynchronously, within the
// completion window, at a discount and outside the per-minute limits.
type Batch struct {
	ID               string             `json:"id"`
	Object           string             `json:"object,omitempty"`
	Endpoint         string             `json:"endpoint"`
	InputFileID      string             `json:"input_file_id"`
	CompletionWindow string             `json:"completion_window"`
	Status           BatchStatus        `json:"status"`
	OutputFileID     string             `json:"output_file_id,omitempty"` // successful lines, when there are any
	ErrorFileID      string             `json:"error_file_id,omitempty"`  // failed lines, when there are any
	RequestCounts    BatchRequestCounts `json:"request_counts"`
	Errors           *BatchErrors       `json:"errors,omitempty"` // why validation failed
	Metadata         map[string]string  `json:"metadata,omitempty"`

	// Unix seconds; 0 when the batch has not reached that step.
	CreatedAt    int64 `json:"created_at"`
	InProgressAt int64 `json:"in_progress_at,omitempty"`
	FinalizingAt int64 `json:"finalizing_at,omitempty"`
	CompletedAt  int64 `json:"completed_at,omitempty"`
	FailedAt     int64 `json:"failed_at,omitempty"`
	ExpiresAt    int64 `json:"expires_at,omitempty"`
	ExpiredAt    int64 `json:"expired_at,omitempty"`
	CancellingAt int64 `json:"cancelling_at,omitempty"`
	CancelledAt  int64 `json:"cancelled_at,omitempty"`
}

// BatchRequestCounts counts a batch's requests.
type BatchRequestCounts struct {
	Total     int `json:"total"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
}

// BatchErrors are the problems that failed a batch's validation.
type BatchErrors struct {
	Data []BatchLineError `json:"data"`
}

// BatchParams create a batch. InputFileID is required (a file uploaded with
// purpose "batch"); CompletionWindow is "24h" when empty, and Groq takes "24h" up
// to "7d" (hours or days); Endpoint is "/v1/chat/completions" when empty.
type BatchParams struct {
	InputFileID      string            `json:"input_file_id"`
	Endpoint         string            `json:"endpoint"`
	CompletionWindow string            `json:"completion_window"`
	Metadata         map[string]string `json:"metadata,omitempty"`
}

// checkWindow is batchapi.CheckWindow's refusal as a *RequestError.
func checkWindow(w string) error {
	if err := batchapi.CheckWindow(w); err != nil {
		return &RequestError{Field: "completion_window", Reason: err.Error()}
	}
	return nil
}

// CreateBatch starts a batch (POST /batches). Bad parameters are a *RequestError
// before any network call. Like an upload, it is retried only when the server
// cannot have acted on it, so a retry never starts a second batch.
func (c *Client) CreateBatch(ctx context.Context, p BatchParams) (*Batch, error) {
	if p.CompletionWindow == "" {
		p.CompletionWindow = "24h"
	}
	if p.Endpoint == "" {
		p.Endpoint = batchapi.ChatEndpoint
	}
	if err := checkID("input_file_id", p.InputFileID); err != nil {
		return nil, err
	}
	if err := checkWindow(p.CompletionWindow); err != nil {
		return nil, err
	}
	body, _ := json.Marshal(p)
	var b Batch
	if _, err := c.rest(ctx, restCall{method: http.MethodPost, path: "/batches", body: body, contentType: "application/json", creates: true}, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Batch describes one batch (GET /batches/{id}); an unknown id is an *APIError
// with status 404.
func (c *Client) Batch(ctx context.Context, id string) (*Batch, error) {
	if err := checkID("batch id", id); err != nil {
		return nil, err
	}
	var b Batch
	if _, err := c.rest(ctx, restCall{method: http.MethodGet, path: "/batches/" + url.PathEscape(id)}, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Batches lists the organization's batches (GET /batches).
func (c *Client) Batches(ctx context.Context) ([]Batch, error) {
	var list struct {
		Data []Batch `json:"data"`
	}
	if _, err := c.rest(ctx, restCall{method: http.MethodGet, path: "/batches"}, &list); err != nil {
		return nil, err
	}
	return list.Data, nil
}

// CancelBatch asks Groq to cancel a batch (POST /batches/{id}/cancel); it goes
// through cancelling to cancelled, and what finished before stays in its files.
func (c *Client) CancelBatch(ctx context.Context, id string) (*Batch, error) {
	if err := checkID("batch id", id); err != nil {
		return nil, err
	}
	var b Batch
	if _, err := c.rest(ctx, restCall{method: http.MethodPost, path: "/batches/" + url.PathEscape(id) + "/cancel"}, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// WaitBatch polls a batch until its status is final and returns it. It asks after
// one second, then twice as long each time up to every (30 s when every ≤ 0);
// progress, when not nil, sees each answer. It returns early with the context's
// error, or ErrClientClosed.
func (c *Client) WaitBatch(ctx context.Context, id string, every time.Duration, progress func(*Batch)) (*Batch, error) {
	if every <= 0 {
		every = 30 * time.Second
	}
	wait := min(time.Second, every)
	for {
		b, err := c.Batch(ctx, id)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(b)
		}
		if b.Status.Done() {
			return b, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return b, endedError(ctx, "waiting for batch "+id, nil)
		case <-c.done:
			t.Stop()
			return b, ErrClientClosed
		}
		wait = min(2*wait, every)
	}
}

// BatchLine is one line of a batch's input file: a chat request and the id that
// its result will carry.
type BatchLine struct {
	CustomID string       `json:"custom_id"`
	Method   string       `json:"method"` // "POST"
	URL      string       `json:"url"`    // "/v1/chat/completions" for a chat call
	Body     *ChatRequest `json:"body"`
}

// BatchOutput is one line of a batch's output or error file: the custom_id of an
// input line and its response (Response.StatusCode 200 with a chat response in
// Body), or why it failed (Error, or a Response with another status).
type BatchOutput struct {
	ID       string             `json:"id"`
	CustomID string             `json:"custom_id"`
	Response *BatchLineResponse `json:"response"`
	Error    *BatchLineError    `json:"error"`
}

// OK says whether the line is a success: a 200 with a body and no error.
func (o BatchOutput) OK() bool {
	return o.Error == nil && o.Response != nil && o.Response.StatusCode == http.StatusOK && o.Response.Body != nil
}

// BatchLineResponse is the HTTP answer to one line of a batch.
type BatchLineResponse struct {
	StatusCode int           `json:"status_code"`
	RequestID  string        `json:"request_id"`
	Body       *ChatResponse `json:"body"`
}

// BatchLineError says why a line (or a batch's validation) failed. Line is the
// input line it is about, when known.
type BatchLineError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
	Param   string `json:"param,omitempty"`
}

// ParseBatchOutput reads the lines of a batch's output or error file (as
// FileContent returns them). A line that is not a BatchOutput is an error naming
// its number.
func ParseBatchOutput(data []byte) ([]BatchOutput, error) {
	var out []BatchOutput
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, MaxBatchFileBytes)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var o BatchOutput
		if err := json.Unmarshal(line, &o); err != nil {
			return out, fmt.Errorf("groq: batch output line %d: %w", n, err)
		}
		if strings.TrimSpace(o.CustomID) == "" {
			return out, fmt.Errorf("groq: batch output line %d has no custom_id", n)
		}
		out = append(out, o)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("groq: reading batch output: %w", err)
	}
	return out, nil
}
