package groq

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// MaxBatchFileBytes is the largest file Groq accepts for a batch (100 MB).
const MaxBatchFileBytes = 100 << 20

// FilePurposeBatch is the purpose of a batch's input file, the only one Groq's
// Files API takes.
const FilePurposeBatch = "batch"

// File is a file stored by Groq's Files API (a batch's input, output or errors).
type File struct {
	ID        string `json:"id"`
	Object    string `json:"object,omitempty"`
	Bytes     int64  `json:"bytes"`
	CreatedAt int64  `json:"created_at"` // Unix seconds
	Filename  string `json:"filename"`
	Purpose   string `json:"purpose"` // "batch" for inputs, "batch_output" for results
}

// UploadFile stores data as a file (POST /files, multipart) with the given
// purpose ("" means FilePurposeBatch). A batch input must be JSONL of at most
// MaxBatchFileBytes; UploadFile checks the size, the name and that every line is a
// JSON object before any network call (a *RequestError naming the line
// otherwise). The upload is retried only when the server cannot have stored it
// (a 429, 498 or 503, or no connection), so a retry never stores it twice.
// Errors: *RequestError, *APIError, *RetryError, ErrClientClosed, the context's.
func (c *Client) UploadFile(ctx context.Context, filename string, data []byte, purpose string) (*File, error) {
	if purpose == "" {
		purpose = FilePurposeBatch
	}
	if err := checkUpload(filename, data, purpose); err != nil {
		return nil, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("purpose", purpose)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	h.Set("Content-Type", "application/jsonl")
	part, _ := mw.CreatePart(h)
	part.Write(data)
	mw.Close()
	var f File
	if _, err := c.rest(ctx, restCall{method: http.MethodPost, path: "/files", body: body.Bytes(),
		contentType: mw.FormDataContentType(), creates: true}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

func checkUpload(filename string, data []byte, purpose string) error {
	switch {
	case strings.TrimSpace(filename) == "":
		return &RequestError{Field: "filename", Reason: "empty"}
	case strings.ContainsAny(filename, "\"\r\n/\\"):
		return &RequestError{Field: "filename", Reason: "contains a quote, a line break or a path separator"}
	case len(data) == 0:
		return &RequestError{Field: "data", Reason: "empty"}
	case len(data) > MaxBatchFileBytes:
		return &RequestError{Field: "data", Reason: fmt.Sprintf("%d bytes is more than the %d that Groq accepts", len(data), MaxBatchFileBytes)}
	case purpose != FilePurposeBatch:
		return &RequestError{Field: "purpose", Reason: fmt.Sprintf("%q: Groq's Files API takes %q only", purpose, FilePurposeBatch)}
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' || !json.Valid(line) {
			return &RequestError{Field: "data", Reason: fmt.Sprintf("line %d is not a JSON object", i+1)}
		}
	}
	return nil
}

// Files lists the organization's files (GET /files). Errors as UploadFile's.
func (c *Client) Files(ctx context.Context) ([]File, error) {
	var list struct {
		Data []File `json:"data"`
	}
	if _, err := c.rest(ctx, restCall{method: http.MethodGet, path: "/files"}, &list); err != nil {
		return nil, err
	}
	return list.Data, nil
}

// File describes one file (GET /files/{id}); an unknown id is an *APIError with
// status 404.
func (c *Client) File(ctx context.Context, id string) (*File, error) {
	if err := checkID("file id", id); err != nil {
		return nil, err
	}
	var f File
	if _, err := c.rest(ctx, restCall{method: http.MethodGet, path: "/files/" + url.PathEscape(id)}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// DeleteFile deletes a file (DELETE /files/{id}).
func (c *Client) DeleteFile(ctx context.Context, id string) error {
	if err := checkID("file id", id); err != nil {
		return err
	}
	_, err := c.rest(ctx, restCall{method: http.MethodDelete, path: "/files/" + url.PathEscape(id)}, nil)
	return err
}

// FileContent returns a file's bytes (GET /files/{id}/content): for a batch's
// output or error file, JSONL lines that ParseBatchOutput reads. It reads at most
// MaxBatchFileBytes plus the answers' size allowance (a larger file is an error).
func (c *Client) FileContent(ctx context.Context, id string) ([]byte, error) {
	if err := checkID("file id", id); err != nil {
		return nil, err
	}
	return c.rest(ctx, restCall{method: http.MethodGet, path: "/files/" + url.PathEscape(id) + "/content", limit: 4 * MaxBatchFileBytes}, nil)
}

func checkID(field, id string) error {
	if strings.TrimSpace(id) == "" {
		return &RequestError{Field: field, Reason: "empty"}
	}
	return nil
}
