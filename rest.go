package groq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// restCall is one call to the API other than a chat completion or audio (models,
// files, batches): an endpoint no rate limit counts (Groq does not), sent with the
// organization's key (see orgKey). It goes through the call's retry loop like any
// other: the server's wait is obeyed, backoff is jittered, Close and the context
// end the waits, and no key reaches an error. The observer, the logs and Status
// do not follow it.
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

	out  any    // a 2xx answer's JSON is decoded into it (when not nil)
	data []byte // the 2xx answer's bytes
}

// rest runs r and decodes a 2xx answer's JSON into out (when out is not nil); it
// returns the answer's bytes.
func (c *Client) rest(ctx context.Context, r restCall, out any) ([]byte, error) {
	if err := c.usable(ctx); err != nil {
		return nil, err
	}
	r.out = out
	k := &call{c: c, ctx: ctx, ep: &r, cc: &defaultCall, start: time.Now()}
	if _, err := k.run(); err != nil {
		return nil, err
	}
	return r.data, nil
}

// plan admits a restCall without a quota: nothing counts it.
func (r *restCall) plan(*call) (*callPlan, error) { return &callPlan{free: true}, nil }

func (r *restCall) what(*call) string { return r.method + " " + r.path }

func (r *restCall) creating() bool { return r.creates }

func (r *restCall) wire(k *call, _ *grant) wireRequest {
	return wireRequest{method: r.method, url: k.c.cfg.baseURL.String() + r.path, body: r.body, contentType: r.contentType,
		accept: "application/json", untimed: true}
}

// read reads a 2xx answer within the call's limit and decodes it into r.out.
func (r *restCall) read(_ *call, res *attemptResult, _ ResponseMeta) (*ChatResponse, outcome, bool, error) {
	what, limit := r.what(nil), r.limit
	if limit <= 0 {
		limit = maxResponseBytes
	}
	data, err := res.read(limit + 1)
	switch {
	case err != nil:
		err = fmt.Errorf("groq: reading the answer to %s (status %d): %w", what, res.status, err)
		if r.creates {
			err = finalError{err}
		}
		return nil, outcome{}, false, err
	case int64(len(data)) > limit:
		return nil, outcome{}, false, finalError{fmt.Errorf("groq: the answer to %s is larger than %d bytes", what, limit)}
	}
	if r.out != nil {
		if err := json.Unmarshal(data, r.out); err != nil {
			return nil, outcome{}, false, finalError{fmt.Errorf("groq: decoding the answer to %s: %w", what, err)}
		}
	}
	r.data = data
	return nil, outcome{}, false, nil
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
