package groq

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"time"
)

// This file is one HTTP attempt on the wire: the request with its key, the answer
// read within bounds, and errors that can never carry a key.

// wireRequest is what one attempt sends: body to url, with method (POST when
// empty).
type wireRequest struct {
	method, url, contentType, accept string
	body                             []byte           // sent again from the start on every attempt
	bodyFrom                         func() io.Reader // when set, the body instead (bodyLen bytes), opened for each attempt
	bodyLen                          int64
	stream                           bool // the attempt timeout ends at the first event
	seconds                          bool // the model's cost is seconds of audio: token headers are not its own
	untimed                          bool // the attempt timeout does not apply (files, batches, models)
}

// attemptResult is one HTTP attempt's response. For a 2xx, body is unread and open
// (resp.Body); otherwise it has been read into body and closed.
type attemptResult struct {
	status int
	header http.Header
	resp   *http.Response
	body   []byte
	at     time.Time
	info   RateLimitInfo
	// release ends the attempt's context; firstByte stops its timeout once a stream
	// has delivered its first event.
	release   context.CancelFunc
	firstByte func()
}

// readAll reads and closes the body of a 2xx answer.
func (r *attemptResult) readAll() ([]byte, error) {
	data, err := r.read(maxResponseBytes)
	if err != nil {
		return nil, fmt.Errorf("groq: reading the response (status %d): %w", r.status, err)
	}
	return data, nil
}

// read reads at most limit bytes of a 2xx answer's body, closes it and ends the
// attempt.
func (r *attemptResult) read(limit int64) ([]byte, error) {
	defer r.release()
	defer r.resp.Body.Close()
	return io.ReadAll(io.LimitReader(r.resp.Body, limit))
}

// post makes one HTTP attempt with the key at keyIndex. The attempt timeout covers
// the whole answer, or for a stream the wait for its first event.
func (c *Client) post(ctx context.Context, g grant, w wireRequest) (*attemptResult, error) {
	actx, cancel := context.WithCancel(ctx)
	release, firstByte := cancel, func() {}
	if d := c.cfg.attemptTimeout; d > 0 && !w.untimed {
		t := time.AfterFunc(d, cancel)
		release = func() { t.Stop(); cancel() }
		if w.stream {
			firstByte = func() { t.Stop() }
		}
	}
	tctx := actx
	if g.sent.nearFull { // when it reaches the server may matter: see modelBuckets.wrote
		tctx = httptrace.WithClientTrace(actx, c.sched.writeTrace(g))
	}
	method := w.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(tctx, method, w.url, bytes.NewReader(w.body))
	if err != nil {
		release()
		return nil, fmt.Errorf("groq: building the request: %w", err)
	}
	if w.bodyFrom != nil {
		req.Body, req.ContentLength = io.NopCloser(w.bodyFrom()), w.bodyLen
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(w.bodyFrom()), nil }
	}
	req.Header.Set("Authorization", "Bearer "+g.key)
	if w.contentType != "" {
		req.Header.Set("Content-Type", w.contentType)
	}
	req.Header.Set("Accept", w.accept)
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		release()
		return nil, c.transportError(err)
	}
	now := time.Now()
	if resp.StatusCode == http.StatusTooManyRequests && !g.free {
		c.recent.add(g.model, now, eventRateLimited)
		// Cool the quota down from the header at once, before the body is read:
		// other calls must not be sent on it while this one is being settled.
		if wait, ok := serverWait(resp.Header, 0, "", now); ok && wait > 0 {
			c.sched.coolNow(g, now.Add(wait), true)
		}
	}
	res := &attemptResult{status: resp.StatusCode, header: resp.Header, resp: resp, at: now,
		info: parseRateLimitHeaders(resp.Header, now), release: release, firstByte: firstByte}
	if w.seconds { // a speech-to-text model counts seconds, not the tokens a header may show
		res.info.TokensPerMinute, res.info.TokensLeftInMinute, res.info.TokensResetIn = -1, -1, 0
	}
	if resp.StatusCode/100 == 2 {
		return res, nil
	}
	defer release()
	defer resp.Body.Close()
	res.body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("groq: reading the error response (status %d): %w", resp.StatusCode, err)
	}
	return res, nil
}

// neverSent reports whether a failed attempt cannot have reached the server: no
// address (DNS), no connection (dial: refused, unreachable) or no TLS session.
// Its reservation is given back at once, so that the next attempt waits for
// backoff, not for a refill of tokens nothing spent. Any other failure may have
// been counted.
func neverSent(err error) bool {
	var dns *net.DNSError
	var op *net.OpError
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &dns), errors.As(err, &rh), errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci):
		return true
	case errors.As(err, &op):
		return op.Op == "dial"
	}
	return false
}

// transportError rewrites a transport failure so that it cannot carry a key: the
// request's URL is kept, its headers are never printed by net/http, and any key
// text that a custom transport put in its error is masked.
func (c *Client) transportError(err error) error {
	if msg := c.redact(err.Error()); msg != err.Error() {
		return &redactedError{msg: "groq: transport: " + msg, cause: c.cleanCause(err)}
	}
	return fmt.Errorf("groq: transport: %w", err)
}

// redact masks every configured key in s: server text (an error body that echoes
// the Authorization header, a proxy's page) and a transport's error go through it
// before they reach an error or a log.
func (c *Client) redact(s string) string {
	for _, k := range c.sched.allKeys() {
		if k != "" && strings.Contains(s, k) {
			s = strings.ReplaceAll(s, k, "[redacted]")
		}
	}
	return s
}

// cleanCause is the first error in err's chain whose text holds no key, so that
// errors.Is and errors.As still see the cause (a timeout, a refused connection)
// without a key ever being reachable from the error.
func (c *Client) cleanCause(err error) error {
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		if c.redact(e.Error()) == e.Error() {
			return e
		}
	}
	return nil
}

// redactedError is an error whose text had a key masked; it unwraps to the first
// cause that holds none.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

const userAgent = "groqkit-go/0.1"
