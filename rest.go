package groq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// restCall is one call to the API other than a chat completion (models, files,
// batches). They use no chat rate limit (Groq does not count them), but share the
// retry loop's rules: the server's wait is obeyed, backoff is jittered, Close and
// the context end the waits, and no key reaches an error.
type restCall struct {
	method, path string
	body         []byte // sent again on each attempt
	contentType  string
	// creates is set for calls that create something (an upload, a batch): they
	// are retried only when the server cannot have acted on the request (a 429,
	// 498 or 503 answer, or a connection that was never made), so that a retry
	// never creates a second file or batch.
	creates bool
	limit   int64 // the most bytes read from the answer; 0: maxResponseBytes
}

// rest runs call with the organization's key (see orgKey) and decodes a 2xx
// answer's JSON into out (when out is not nil); it returns the answer's bytes.
func (c *Client) rest(ctx context.Context, call restCall, out any) ([]byte, error) {
	if ctx == nil {
		return nil, &RequestError{Field: "ctx", Reason: "nil context.Context; use context.Background()"}
	}
	if c.closed.Load() {
		return nil, ErrClientClosed
	}
	what := call.method + " " + call.path
	key := c.sched.orgKey()
	var prev time.Duration
	for attempt := 1; ; attempt++ {
		data, t := c.restAttempt(ctx, call, key, out)
		switch {
		case t.err == nil:
			return data, nil
		case t.final:
			return nil, t.err
		case ctx.Err() != nil:
			return nil, restCtxError(ctx, what, t.err)
		case attempt > c.cfg.maxRetries:
			return nil, &RetryError{Attempts: attempt, Last: t.err}
		}
		var limit *RateLimitError
		if t.wait > 0 {
			limit = &RateLimitError{APIError: *t.apiErr, RetryAfter: t.wait, KeyIndex: -1}
		} else {
			prev = decorrelatedJitter(prev, c.cfg.backoffBase, c.cfg.backoffMax, c.cfg.randN)
			t.wait = prev
		}
		if err := c.sleep(ctx, t.wait, what, limit); err != nil {
			if errors.Is(err, errWouldPassDeadline) {
				return nil, &RetryError{Attempts: attempt, Last: t.err}
			}
			if ctx.Err() != nil {
				return nil, restCtxError(ctx, what, t.err)
			}
			return nil, err
		}
	}
}

// restTry is what became of one attempt of a restCall.
type restTry struct {
	err    error         // nil: it succeeded
	final  bool          // not retried
	wait   time.Duration // the server's wait before a retry (0: back off)
	apiErr *APIError     // the server's error, with wait
}

// restAttempt makes one attempt of call with key.
func (c *Client) restAttempt(ctx context.Context, call restCall, key string, out any) ([]byte, restTry) {
	what := call.method + " " + call.path
	limit := call.limit
	if limit <= 0 {
		limit = maxResponseBytes
	}
	var body io.Reader
	if call.body != nil {
		body = bytes.NewReader(call.body)
	}
	req, err := http.NewRequestWithContext(ctx, call.method, c.cfg.baseURL.String()+call.path, body)
	if err != nil {
		return nil, restTry{err: fmt.Errorf("groq: building %s: %w", what, err), final: true}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if call.contentType != "" {
		req.Header.Set("Content-Type", call.contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		err = c.transportError(err)
		return nil, restTry{err: err, final: call.creates && !neverConnected(err) && ctx.Err() == nil}
	}
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	resp.Body.Close()
	switch {
	case rerr != nil:
		return nil, restTry{err: fmt.Errorf("groq: reading the answer to %s (status %d): %w", what, resp.StatusCode, rerr), final: call.creates}
	case int64(len(data)) > limit:
		return nil, restTry{err: fmt.Errorf("groq: the answer to %s is larger than %d bytes", what, limit), final: true}
	case resp.StatusCode/100 == 2:
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return nil, restTry{err: fmt.Errorf("groq: decoding the answer to %s: %w", what, err), final: true}
			}
		}
		return data, restTry{}
	}
	apiErr := parseAPIError(resp.StatusCode, resp.Header, data)
	apiErr.redact(c.redact)
	t := restTry{err: apiErr, final: !retryableStatus(resp.StatusCode, resp.Header) || (call.creates && !notActedOn(resp.StatusCode))}
	if wait, server := serverWait(resp.Header, resp.StatusCode, apiErr.Message, time.Now()); server && wait > 0 {
		t.wait, t.apiErr = wait, apiErr
	}
	return nil, t
}

// notActedOn says whether an error status means that the server did not act on
// the request: a refusal to take it at all.
func notActedOn(status int) bool {
	return status == http.StatusTooManyRequests || status == 498 || status == http.StatusServiceUnavailable
}

// neverConnected says whether a transport error happened before the request could
// reach the server (the connection was never made).
func neverConnected(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func restCtxError(ctx context.Context, what string, last error) error {
	if last != nil {
		return fmt.Errorf("groq: %s: %w (last failure: %v)", what, ctx.Err(), last)
	}
	return fmt.Errorf("groq: %s: %w", what, ctx.Err())
}
