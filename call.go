package groq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// run takes one call through admission, the HTTP attempt and the retry loop. For a
// stream it returns an open *Stream once the first event has arrived: a failure
// before that is retried like any other, a failure after it is the stream's.
func (c *Client) run(ctx context.Context, r *ChatRequest, body []byte, cc *callConfig, stream bool) (*ChatResponse, *Stream, error) {
	start := time.Now()
	estimate := c.cfg.tokenizer.CountTokens(r.Model, r.Messages) + estimateTools(r.Tools)
	prompt := c.costs.prompt(r.Model, estimate)
	if cw := c.sched.contextWindow(r.Model); cw > 0 && prompt+r.completionLimit() > cw {
		return nil, nil, &ContextWindowError{Model: r.Model, PromptTokens: prompt, CompletionTokens: r.completionLimit(), ContextWindow: cw}
	}
	completion, openEnded := r.completionLimit(), r.completionLimit() == 0
	if openEnded {
		completion = c.costs.completionReserve(r.Model)
	}
	learn := func(u *Usage) { c.costs.observe(r.Model, estimate, u, openEnded) }
	budgetHold := int64(prompt + completion)
	if err := c.budget.reserve(time.Now(), budgetHold); err != nil {
		return nil, nil, err
	}
	budgetUsed, handedOff := int64(0), false
	defer func() {
		if !handedOff {
			c.budget.settle(time.Now(), budgetHold, budgetUsed)
		}
	}()
	reserve, err := c.sched.check(r.Model, prompt+r.completionLimit(), prompt+completion)
	if err != nil {
		return nil, nil, err
	}
	w := newWaiter(cc.priority, r.Model, reserve)
	var held grant // the latest admission; a panic below must not keep its slot
	defer func() {
		if p := recover(); p != nil {
			if held.settled != nil {
				c.sched.finish(held, outcome{})
			}
			panic(p)
		}
	}()

	var (
		lastErr   error
		last429   *RateLimitError
		prevSleep time.Duration
	)
	for attempt := 1; ; attempt++ {
		g, err := c.sched.acquire(ctx, w)
		held = g
		if err != nil {
			var local *RateLimitError
			if errors.As(err, &local) && local.Local && last429 != nil {
				last429.Reason = "retry not attempted: " + local.Reason
				return nil, nil, last429
			}
			if ctx.Err() != nil {
				return nil, nil, c.ctxError(ctx, r.Model, lastErr)
			}
			return nil, nil, err
		}
		res, err := c.send(ctx, g, body, stream)
		if err == nil && res.status/100 == 2 {
			meta := ResponseMeta{RequestID: res.header.Get("X-Request-Id"), Attempts: attempt, KeyIndex: g.keyIndex, RateLimit: res.info}
			if stream {
				st, serr := c.openStream(ctx, res, g, r.Model, meta, start, budgetHold, learn, cc.callback)
				if serr == nil {
					handedOff = true
					return nil, st, nil
				}
				err = serr // nothing reached the caller yet: retried below
			} else {
				resp, derr := c.decode(res, g, meta, start)
				if derr == nil {
					budgetUsed = int64(g.reserved)
					if resp.Usage != nil {
						budgetUsed = int64(resp.Usage.TotalTokens)
					}
					learn(resp.Usage)
					c.log.LogAttrs(ctx, slog.LevelDebug, "groq: chat ok", slog.String("model", r.Model), slog.Int("key", g.keyIndex),
						slog.Int("attempts", attempt), slog.String("request_id", resp.Meta.RequestID))
					return resp, nil, nil
				}
				var de *decodeError
				if errors.As(derr, &de) {
					return nil, nil, derr
				}
				err = derr
			}
		}
		if err != nil {
			c.sched.finish(g, outcome{counted: true, used: g.reserved})
			if ctx.Err() != nil {
				return nil, nil, c.ctxError(ctx, r.Model, lastErr)
			}
			c.log.LogAttrs(ctx, slog.LevelWarn, "groq: attempt failed", slog.Int("attempt", attempt), slog.Int("key", g.keyIndex), slog.String("error", err.Error()))
			lastErr = err
		} else {
			apiErr := parseAPIError(res.status, res.header, res.body)
			apiErr.redact(c.redact)
			wait, hasWait := serverWait(res.header, res.status, apiErr.Message, res.at)
			retry := retryableStatus(res.status, res.header)
			switch res.status {
			case http.StatusTooManyRequests:
				if !hasWait || wait <= 0 {
					prevSleep = decorrelatedJitter(prevSleep, c.cfg.backoffBase, c.cfg.backoffMax, c.cfg.randN)
					wait = prevSleep
				}
				o := outcome{info: res.info, coolUntil: res.at.Add(wait)}
				if sig, ok := parseLimitSignal(apiErr.Message); ok {
					o.limited = &sig
					if n := sig.serverCost(); n > 0 {
						w.tokens = n // the retry reserves what the server counts
					}
				}
				c.sched.finish(g, o)
				last429 = &RateLimitError{APIError: *apiErr, RetryAfter: wait, RateLimit: res.info, Model: r.Model, KeyIndex: g.keyIndex}
				lastErr = last429
			case http.StatusRequestEntityTooLarge:
				c.sched.finish(g, outcome{info: res.info})
				return nil, nil, &RateLimitError{APIError: *apiErr, RateLimit: res.info, Model: r.Model, KeyIndex: g.keyIndex}
			default:
				// Server errors are not billed; other client errors count as a request.
				counted := res.status < 500 && res.status != 498
				c.sched.finish(g, outcome{counted: counted, info: res.info})
				lastErr = apiErr
			}
			c.log.LogAttrs(ctx, slog.LevelWarn, "groq: attempt failed", slog.Int("attempt", attempt), slog.Int("key", g.keyIndex),
				slog.Int("status", res.status), slog.String("request_id", apiErr.RequestID), slog.Duration("server_wait", wait))
			if !retry {
				return nil, nil, lastErr
			}
			if attempt > c.cfg.maxRetries {
				return nil, nil, &RetryError{Attempts: attempt, Last: lastErr}
			}
			if res.status == http.StatusTooManyRequests {
				continue // the cooldown is enforced by admission, which may pick another quota
			}
			if hasWait && wait > 0 {
				if err := c.sleep(ctx, wait, true, apiErr, res.info, r.Model, g.keyIndex); err != nil {
					return nil, nil, err
				}
				continue
			}
		}
		if attempt > c.cfg.maxRetries {
			return nil, nil, &RetryError{Attempts: attempt, Last: lastErr}
		}
		prevSleep = decorrelatedJitter(prevSleep, c.cfg.backoffBase, c.cfg.backoffMax, c.cfg.randN)
		if err := c.sleep(ctx, prevSleep, false, nil, RateLimitInfo{}, r.Model, -1); err != nil {
			if errors.Is(err, ErrClientClosed) {
				return nil, nil, err
			}
			if ctx.Err() == nil {
				return nil, nil, &RetryError{Attempts: attempt, Last: lastErr}
			}
			return nil, nil, c.ctxError(ctx, r.Model, lastErr)
		}
	}
}

// decodeError is a 2xx response whose body is not a chat completion. It is not
// retried: the server did answer.
type decodeError struct {
	requestID string
	err       error
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("groq: decoding the response to request %s: %v", e.requestID, e.err)
}

func (e *decodeError) Unwrap() error { return e.err }

// decode reads a complete 2xx answer and settles its grant.
func (c *Client) decode(res *attemptResult, g grant, meta ResponseMeta, start time.Time) (*ChatResponse, error) {
	data, err := res.readAll()
	if err != nil {
		return nil, err // a body cut mid-way: a transport failure, retried
	}
	resp := new(ChatResponse)
	if err := json.Unmarshal(data, resp); err != nil {
		c.sched.finish(g, outcome{counted: true, used: g.reserved, info: res.info})
		return nil, &decodeError{requestID: meta.RequestID, err: err}
	}
	used := g.reserved
	if resp.Usage != nil {
		used = resp.Usage.TotalTokens
	}
	c.sched.finish(g, outcome{counted: true, used: used, info: res.info})
	meta.Latency = time.Since(start)
	if meta.RequestID == "" && resp.XGroq != nil {
		meta.RequestID = resp.XGroq.ID
	}
	resp.Meta = meta
	return resp, nil
}

// errWouldPassDeadline marks a backoff sleep that was not started because the
// context would end first.
var errWouldPassDeadline = errors.New("groq: backoff would pass the context deadline")

// sleep waits d before a retry. A server-directed wait longer than the maximum
// delay or past the deadline is not slept: it returns a *RateLimitError at once.
// Close ends the sleep with ErrClientClosed.
func (c *Client) sleep(ctx context.Context, d time.Duration, server bool, apiErr *APIError, info RateLimitInfo, model string, key int) error {
	dl, hasDL := ctx.Deadline()
	if server {
		reason := ""
		if d > c.cfg.maxRetryDelay {
			reason = fmt.Sprintf("the wait is longer than the maximum delay %s", c.cfg.maxRetryDelay)
		} else if hasDL && time.Now().Add(d).After(dl) {
			reason = "the wait would pass the context deadline"
		}
		if reason != "" {
			return &RateLimitError{APIError: *apiErr, RetryAfter: d, RateLimit: info, Model: model, KeyIndex: key, Reason: reason}
		}
	} else if hasDL && time.Now().Add(d).After(dl) {
		return errWouldPassDeadline
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.done:
		return ErrClientClosed
	case <-ctx.Done():
		return c.ctxError(ctx, model, nil)
	}
}

func (c *Client) ctxError(ctx context.Context, model string, last error) error {
	if last != nil {
		return fmt.Errorf("groq: chat %s: %w (last failure: %v)", model, ctx.Err(), last)
	}
	return fmt.Errorf("groq: chat %s: %w", model, ctx.Err())
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
	defer r.release()
	defer r.resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(r.resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("groq: reading the response (status %d): %w", r.status, err)
	}
	return data, nil
}

// send makes one HTTP attempt with the key at keyIndex. The attempt timeout covers
// the whole answer, or for a stream the wait for its first event.
func (c *Client) send(ctx context.Context, g grant, body []byte, stream bool) (*attemptResult, error) {
	actx, cancel := context.WithCancel(ctx)
	release, firstByte := cancel, func() {}
	if d := c.cfg.attemptTimeout; d > 0 {
		t := time.AfterFunc(d, cancel)
		release = func() { t.Stop(); cancel() }
		if stream {
			firstByte = func() { t.Stop() }
		}
	}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, g.url, bytes.NewReader(body))
	if err != nil {
		release()
		return nil, fmt.Errorf("groq: building the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+g.key)
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		release()
		return nil, c.transportError(err)
	}
	now := time.Now()
	res := &attemptResult{status: resp.StatusCode, header: resp.Header, resp: resp, at: now,
		info: parseRateLimitHeaders(resp.Header, now), release: release, firstByte: firstByte}
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
