package groq

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// A call goes through these steps, each below in this order:
//
//  1. plan: estimate the request's cost (corrected by what the server has counted),
//     check the context window, hold the daily budget, and check that a quota can
//     ever admit it;
//  2. acquire (priority.go): wait in the model's queue until a quota has capacity
//     and a concurrency slot is free;
//  3. attempt: send, then read the answer (decode, or open the stream) or classify
//     the failure, settling the admission with what the server said;
//  4. pause: before the next attempt, wait as the server asked (or back off); a 429's
//     wait is enforced by admission instead, as a cooldown of its quota.

// callPlan is what a call knows of its cost before it is queued.
type callPlan struct {
	model      string
	estimate   int  // the tokenizer's prompt count, uncorrected
	openEnded  bool // no max tokens: the completion reserve is a guess
	reserve    int  // tokens to reserve in the buckets
	budgetHold budgetHold
}

// plan is step 1. The budget hold it takes is the caller's to settle.
func (c *Client) plan(r *ChatRequest) (*callPlan, error) {
	p := &callPlan{model: r.Model, estimate: c.cfg.tokenizer.CountTokens(r.Model, r.Messages) + estimateTools(r.Tools)}
	prompt, asked := c.costs.prompt(r.Model, p.estimate), r.completionLimit()
	// Compared without adding, so that no max tokens (math.MaxInt, say) can wrap
	// the sum negative and pass every check.
	if cw := c.sched.contextWindow(r.Model); cw > 0 && (prompt > cw || asked > cw-prompt) {
		return nil, &ContextWindowError{Model: r.Model, PromptTokens: prompt, CompletionTokens: asked, ContextWindow: cw}
	}
	if asked > maxRequestTokens || prompt > maxRequestTokens {
		return nil, &RequestError{Field: "max_completion_tokens",
			Reason: fmt.Sprintf("%d prompt and %d completion tokens are more than any model's context window (%d)", prompt, asked, maxRequestTokens)}
	}
	completion := asked
	if p.openEnded = asked == 0; p.openEnded {
		completion = c.costs.completionReserve(r.Model)
	}
	reserve, err := c.sched.check(r.Model, prompt+asked, prompt+completion)
	if err != nil {
		return nil, err
	}
	p.reserve = reserve
	if p.budgetHold, err = c.budget.reserve(time.Now(), int64(prompt+completion)); err != nil {
		return nil, err
	}
	return p, nil
}

// planned is plan with the budget's refusal reported to the observer.
func (c *Client) planned(ctx context.Context, r *ChatRequest) (*callPlan, error) {
	p, err := c.plan(r)
	var be *BudgetError
	if err != nil && c.obs.on && errors.As(err, &be) {
		c.obs.budgetRefused(ctx, BudgetRefusedEvent{Model: r.Model, Requested: be.Requested, Remaining: max(0, be.Limit-be.Used-be.Reserved)})
	}
	return p, err
}

// learn teaches the client what the call really cost.
func (c *Client) learn(p *callPlan, u *Usage) { c.costs.observe(p.model, p.estimate, u, p.openEnded) }

// failure is what became of an attempt that did not succeed.
type failure struct {
	err        error         // what the caller gets if this is the last attempt
	final      bool          // not retried
	serverWait time.Duration // the wait the server asked for before a retry (0: none)
	cooled     bool          // a 429: its wait is enforced by admission (a cooldown)
	apiErr     *APIError     // the server's error, with serverWait
	info       RateLimitInfo // the response's headers, with serverWait
	requeue    bool          // not sent: a 429 cooled the quota after admission
}

// run takes one call through the steps above and the retry loop. For a stream it
// returns an open *Stream once the first event has arrived: a failure before that
// is retried like any other, a failure after it is the stream's.
func (c *Client) run(ctx context.Context, r *ChatRequest, body []byte, cc *callConfig, stream bool) (resp *ChatResponse, st *Stream, err error) {
	start := time.Now()
	p, err := c.planned(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	var budgetUsed int64
	defer func() {
		if st == nil { // a stream settles the budget when it ends
			c.budget.settle(time.Now(), p.budgetHold, budgetUsed)
		}
	}()
	w := newWaiter(cc.priority, r.Model, p.reserve)
	var held grant // the latest admission; a panic below must not keep its slot
	defer func() {
		if v := recover(); v != nil {
			if held.settled != nil {
				c.sched.finish(held, outcome{})
			}
			panic(v)
		}
	}()

	var (
		lastErr   error
		last429   *RateLimitError
		prevSleep time.Duration
		waited    time.Duration // queued for admission, over the attempts
	)
	for attempt := 1; ; attempt++ {
		queued := time.Now()
		if c.obs.on {
			c.obs.queued(ctx, QueuedEvent{Model: r.Model, Priority: cc.priority, Attempt: attempt})
		}
		g, err := c.sched.acquire(ctx, w)
		waited += time.Since(queued)
		held = g
		if c.obs.on && err == nil {
			c.obs.admitted(ctx, AdmittedEvent{Model: r.Model, Priority: cc.priority, Attempt: attempt, QueueWait: time.Since(queued),
				Quota: g.quotaName, KeyIndex: g.keyIndex})
		}
		if err != nil {
			var local *RateLimitError
			if c.obs.on && errors.As(err, &local) && local.Local {
				c.obs.rateLimited(ctx, RateLimitedEvent{Model: r.Model, ServerWait: local.RetryAfter, Local: true})
			}
			if errors.As(err, &local) && local.Local && last429 != nil {
				last429.Reason = "retry not attempted: " + local.Reason
				return nil, nil, last429
			}
			if ctx.Err() != nil {
				return nil, nil, c.ctxError(ctx, r.Model, lastErr)
			}
			return nil, nil, err
		}
		resp, st, f := c.attempt(ctx, g, w, r, body, p, cc, stream, attempt, start, &prevSleep)
		if f != nil && f.requeue {
			attempt-- // nothing was sent: back to the queue, which waits out the cooldown
			continue
		}
		if f == nil {
			if resp != nil {
				resp.Meta.Queued = waited
				budgetUsed = int64(usedTokens(resp.Usage, g.reserved))
			}
			if st != nil {
				st.Meta.Queued = waited
			}
			return resp, st, nil
		}
		if ctx.Err() != nil && !f.final {
			return nil, nil, c.ctxError(ctx, r.Model, lastErr)
		}
		lastErr = f.err
		if rl, ok := f.err.(*RateLimitError); ok && f.cooled {
			last429 = rl
		}
		if f.final {
			return nil, nil, f.err
		}
		if attempt > c.cfg.maxRetries {
			return nil, nil, &RetryError{Attempts: attempt, Last: lastErr}
		}
		if err := c.pause(ctx, f, &prevSleep, r.Model, g.keyIndex, attempt); err != nil {
			if errors.Is(err, errWouldPassDeadline) {
				return nil, nil, &RetryError{Attempts: attempt, Last: lastErr}
			}
			return nil, nil, err
		}
	}
}

// attempt is step 3: one HTTP attempt with grant g, settled. It returns the
// response (or open stream), or what failed.
func (c *Client) attempt(ctx context.Context, g grant, w *waiter, r *ChatRequest, body []byte, p *callPlan, cc *callConfig,
	stream bool, attempt int, start time.Time, prevSleep *time.Duration) (resp *ChatResponse, st *Stream, f *failure) {
	if c.obs.on {
		sent := time.Now()
		defer func() {
			if f != nil && f.requeue {
				return // not an attempt: nothing was sent
			}
			e := AttemptEvent{Model: r.Model, Attempt: attempt, Duration: time.Since(sent), Quota: g.quotaName, KeyIndex: g.keyIndex}
			switch {
			case resp != nil:
				e.Status, e.RequestID = http.StatusOK, resp.Meta.RequestID
			case st != nil:
				e.Status, e.RequestID = http.StatusOK, st.Meta.RequestID
			case f != nil:
				e.Err = f.err
				var apiErr *APIError
				if errors.As(f.err, &apiErr) {
					e.Status, e.RequestID = apiErr.StatusCode, apiErr.RequestID
				}
			}
			c.obs.attemptDone(ctx, e)
		}()
	}
	if c.sched.cooling(g) { // another call's 429 arrived since this one was admitted
		c.sched.finish(g, outcome{})
		return nil, nil, &failure{requeue: true}
	}
	if c.sched.shared != nil { // the processes' shared buckets must admit it too
		if f := c.sharedAdmit(ctx, &g); f != nil {
			return nil, nil, f
		}
	}
	res, err := c.send(ctx, g, body, stream)
	if err == nil && res.status/100 == 2 {
		meta := ResponseMeta{RequestID: res.header.Get("X-Request-Id"), Attempts: attempt, KeyIndex: g.keyIndex, RateLimit: res.info}
		if stream {
			st, serr := c.openStream(ctx, res, g, r.Model, meta, start, p.budgetHold, func(u *Usage) { c.learn(p, u) }, cc.callback)
			if serr == nil {
				return nil, st, nil
			}
			err = serr // nothing reached the caller yet: retried
		} else {
			resp, derr := c.decode(res, g, meta, start)
			if derr == nil {
				c.learn(p, resp.Usage)
				c.log.LogAttrs(ctx, slog.LevelDebug, "groq: chat ok", slog.String("model", r.Model), slog.Int("key", g.keyIndex),
					slog.Int("attempts", attempt), slog.String("request_id", resp.Meta.RequestID))
				return resp, nil, nil
			}
			var de *decodeError
			if errors.As(derr, &de) {
				return nil, nil, &failure{err: derr, final: true}
			}
			err = derr
		}
	}
	if err != nil { // the connection failed: the server may have counted it, unless it never got it
		c.sched.finish(g, outcome{counted: !neverSent(err), used: g.reserved})
		c.log.LogAttrs(ctx, slog.LevelWarn, "groq: attempt failed", slog.Int("attempt", attempt), slog.Int("key", g.keyIndex), slog.String("error", err.Error()))
		return nil, nil, &failure{err: err}
	}
	return nil, nil, c.refused(ctx, g, w, r.Model, res, attempt, prevSleep)
}

// refused settles an attempt the server answered with an error status and says
// whether and when to retry.
func (c *Client) refused(ctx context.Context, g grant, w *waiter, model string, res *attemptResult, attempt int, prevSleep *time.Duration) *failure {
	apiErr := parseAPIError(res.status, res.header, res.body)
	apiErr.redact(c.redact)
	wait, hasWait := serverWait(res.header, res.status, apiErr.Message, res.at)
	f := &failure{err: apiErr, final: !retryableStatus(res.status, res.header)}
	switch res.status {
	case http.StatusTooManyRequests:
		if !hasWait || wait <= 0 {
			*prevSleep = decorrelatedJitter(*prevSleep, c.cfg.backoffBase, c.cfg.backoffMax, c.cfg.randN)
			wait = *prevSleep
		}
		o := outcome{info: res.info, coolUntil: res.at.Add(wait)}
		if hw, ok := serverWait(res.header, 0, "", res.at); !ok || hw <= 0 {
			o.shareCool = true // send shared a header's wait already
		}
		if sig, ok := parseLimitSignal(apiErr.Message); ok {
			o.limited = &sig
			if n := sig.serverCost(); n > 0 {
				w.tokens = n // the retry reserves what the server counts
			}
		}
		c.sched.finish(g, o)
		f.err, f.cooled = &RateLimitError{APIError: *apiErr, RetryAfter: wait, RateLimit: res.info, Model: model, KeyIndex: g.keyIndex}, true
		if c.obs.on {
			e := RateLimitedEvent{Model: model, Quota: g.quotaName, ServerWait: wait, CooldownUntil: o.coolUntil}
			if o.limited != nil {
				e.Limit = o.limited.kind.String()
			}
			c.obs.rateLimited(ctx, e)
		}
	case http.StatusRequestEntityTooLarge:
		c.sched.finish(g, outcome{info: res.info})
		f.err, f.final = &RateLimitError{APIError: *apiErr, RateLimit: res.info, Model: model, KeyIndex: g.keyIndex}, true
	case http.StatusNotFound:
		c.sched.finish(g, outcome{counted: true, info: res.info})
		if apiErr.Code == "model_not_found" {
			f.err = &ModelNotFoundError{Model: model, Err: apiErr, Suggestions: closest(model, c.knownModels(), 3)}
		}
	default:
		// Server errors are not billed; other client errors count as a request.
		c.sched.finish(g, outcome{counted: res.status < 500 && res.status != 498, info: res.info})
		if hasWait && wait > 0 {
			f.serverWait, f.apiErr, f.info = wait, apiErr, res.info
		}
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "groq: attempt failed", slog.Int("attempt", attempt), slog.Int("key", g.keyIndex),
		slog.Int("status", res.status), slog.String("request_id", apiErr.RequestID), slog.Duration("server_wait", wait))
	return f
}

// pause is step 4: the wait before the next attempt. A 429's wait is the quota's
// cooldown, which admission enforces (and another quota may serve sooner); a
// server's wait is slept as asked, or refused at once when it is too long; else a
// jittered backoff.
func (c *Client) pause(ctx context.Context, f *failure, prevSleep *time.Duration, model string, key, attempt int) error {
	status := 0 // of the failed attempt; 0 when no response came
	var apiErr *APIError
	if errors.As(f.err, &apiErr) {
		status = apiErr.StatusCode
	}
	announce := func(reason string, d time.Duration) {
		if c.obs.on {
			c.obs.retry(ctx, RetryEvent{Model: model, Attempt: attempt, Reason: reason, Status: status, Delay: d})
		}
	}
	switch {
	case f.cooled:
		announce("rate_limited", 0)
		return nil
	case f.serverWait > 0:
		announce("server_wait", f.serverWait)
		return c.sleep(ctx, f.serverWait, true, f.apiErr, f.info, model, key)
	}
	*prevSleep = decorrelatedJitter(*prevSleep, c.cfg.backoffBase, c.cfg.backoffMax, c.cfg.randN)
	reason := "transport"
	if status != 0 {
		reason = "status"
	}
	announce(reason, *prevSleep)
	err := c.sleep(ctx, *prevSleep, false, nil, RateLimitInfo{}, model, -1)
	if err != nil && !errors.Is(err, ErrClientClosed) && ctx.Err() != nil {
		return c.ctxError(ctx, model, f.err)
	}
	return err
}

// decodeError is a 2xx response whose body is not a chat completion. It is not
// retried: the server did answer. It matches ErrBadResponse and unwraps to the
// decoding error.
type decodeError struct {
	requestID string
	err       error
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("groq: decoding the response to request %s: %v", e.requestID, e.err)
}

func (e *decodeError) Unwrap() error { return e.err }

// Is matches ErrBadResponse.
func (e *decodeError) Is(target error) bool { return target == ErrBadResponse }

// errNotACompletion is a 2xx body that decodes but holds no completion.
var errNotACompletion = errors.New(`the body has no "id", "object" or "choices"`)

// decode reads a complete 2xx answer and settles its grant.
func (c *Client) decode(res *attemptResult, g grant, meta ResponseMeta, start time.Time) (*ChatResponse, error) {
	data, err := res.readAll()
	if err != nil {
		return nil, err // a body cut mid-way: a transport failure, retried
	}
	resp := new(ChatResponse)
	err = json.Unmarshal(data, resp)
	if err == nil && resp.ID == "" && resp.Object == "" && resp.Choices == nil { // {} or null
		err = errNotACompletion
	}
	if err != nil {
		c.sched.finish(g, outcome{counted: true, used: g.reserved, info: res.info})
		return nil, &decodeError{requestID: meta.RequestID, err: err}
	}
	c.sched.finish(g, outcome{counted: true, used: usedTokens(resp.Usage, g.reserved), info: res.info})
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
	if resp.StatusCode == http.StatusTooManyRequests {
		// Cool the quota down from the header at once, before the body is read:
		// other calls must not be sent on it while this one is being settled.
		if wait, ok := serverWait(resp.Header, 0, "", now); ok && wait > 0 {
			c.sched.coolNow(g, now.Add(wait), true)
		}
	}
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
