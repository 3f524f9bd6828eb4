package groq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// A call goes through these steps, each below in this order, whatever its
// endpoint (a chat completion or stream, audio, files, batches, models), which
// says what it costs, what an attempt sends and how a 2xx answer is read:
//
//  1. plan (the endpoint's): estimate the request's cost (corrected by what the
//     server has counted), check the context window, hold the daily budget, and
//     check that a quota can ever admit it; files, batches and models cost
//     nothing that is counted;
//  2. admit (scheduler.acquire, keymanager.go): wait in the model's queue until
//     a quota has capacity and a concurrency slot is free; the call then holds
//     the grant;
//  3. try: send, then read the answer (the endpoint's read) or classify the
//     failure (refused); settle, the one place that settles a grant, settles it
//     with what the server said (a stream handed over settles it when it ends);
//  4. pause: before the next attempt, wait as the server asked (or back off); a 429's
//     wait is enforced by admission instead, as a cooldown of its quota;
//  5. end: settle the budget, learn the cost, store the answer in the cache, tell
//     the observer and the callback. It runs once per call, whatever happened.

// endpoint is one of the API's services as a call sees it: what its request
// costs, what an attempt sends and how a 2xx answer is read. Everything else
// (the queue, admission, the retry loop, settling, the end) is the call's, the
// same for every endpoint. The endpoints are a chat completion (chatComplete)
// and a chat stream (chatStream), at the end of this file; the audio services
// (audioEndpoint, audio.go), and models, files and batches (restCall, rest.go).
type endpoint interface {
	// plan is step 1: what the request costs, refused when no quota could ever
	// admit it. The budget hold it takes is the call's to settle.
	plan(k *call) (*callPlan, error)
	// wire is what an attempt with g sends.
	wire(k *call, g *grant) wireRequest
	// read reads a 2xx answer res. It returns the answer (nil for an endpoint
	// whose answer is not a chat completion) and the outcome that settles the
	// attempt's grant. open says that the answer was handed over unread (a
	// stream): whoever holds it settles the grant when it ends (call.settle). An
	// error that is not a finalError is a transport failure, retried.
	read(k *call, res *attemptResult, meta ResponseMeta) (resp *ChatResponse, o outcome, open bool, err error)
	// what names the call in errors ("chat llama-3.1-8b-instant", "GET /files").
	what(k *call) string
	// creating says that a request creates something (a file, a batch): once it
	// may have reached the server, it is not sent again.
	creating() bool
}

// call is one call through its life, from the checked request to end. It is
// used by one goroutine at a time: the caller's, then the stream's reader.
type call struct {
	c      *Client
	ctx    context.Context // with the observer's span, once told of the start
	ep     endpoint        // what the call's requests and answers are
	model  string
	r      *ChatRequest // a chat call's request, validated, with the call options applied
	cc     *callConfig
	stream bool // the answer is read as it arrives
	start  time.Time
	body   []byte               // the request's JSON, sent on every attempt
	bodies map[string][]byte    // with a list of models: each model's body, once encoded
	plans  map[string]*callPlan // with a list of models: each model's plan
	tried  []modelFailure       // with a list of models: the models left, and why
	key    string               // the cache and in-flight key ("" when neither applies)
	store  bool                 // store a complete answer under key
	told   bool                 // the observer was told of the start: it hears of the end

	plan      *callPlan
	w         *waiter
	held      *grant        // the admission not yet settled: settle takes it
	attempt   int           // 1 for the first
	backoff   time.Duration // the last jittered delay (decorrelated jitter's state)
	waited    time.Duration // queued for admission, over the attempts
	lastErr   error
	last429   *RateLimitError
	st        *Stream                    // the open stream, for a streamed call
	landing   func(*ChatResponse, error) // set while the call leads identical calls in flight (flights, cache.go)
	usage     *Usage                     // what the answer said it used
	requestID string                     // the last answer's (for the attempt's event)
	used      int                        // the tokens to settle the budget with
	ended     bool
}

// newCall checks ctx, the client and req, applies opts and tells the observer
// that the call starts. A call that fails here has ended already (its callback has
// run); an invalid option has no call to end and is only returned.
func (c *Client) newCall(ctx context.Context, req *ChatRequest, opts []CallOption, stream bool) (*call, error) {
	r, cc, err := c.begin(ctx, req, opts)
	if cc == nil {
		return nil, err
	}
	k := &call{c: c, ctx: ctx, ep: chatComplete{}, r: r, cc: cc, stream: stream, start: time.Now()}
	if stream {
		k.ep = chatStream{}
	}
	if r != nil {
		k.model = r.Model
	}
	switch {
	case err != nil:
	case stream && r == req:
		cp := *req // req is never modified
		k.r = &cp
		k.r.Stream = true
	case stream:
		r.Stream = true
	case r.Stream:
		err = &RequestError{Field: "stream", Reason: "ChatCompletion does not stream; use ChatStream"}
	}
	if err != nil {
		k.end(nil, err)
		return nil, err
	}
	k.model = k.r.Model
	k.tell(CallStartEvent{Model: k.model, Models: k.r.Models, Priority: cc.priority, Stream: stream, URL: c.sched.urlFor(k.model), Request: k.r})
	return k, nil
}

// tell tells the observer that the call starts (it then hears of its end).
func (k *call) tell(e CallStartEvent) {
	if k.c.obs.on {
		k.ctx = k.c.obs.callStart(k.ctx, e)
		k.told = true
	}
}

// lookup asks the cache (when the call uses it) and computes the call's key. With
// dedup the key is computed even without a cache, for in-flight de-duplication.
func (k *call) lookup(dedup bool) *ChatResponse {
	hit, key := k.c.probe(k.ctx, k.r, k.cc, dedup)
	k.key, k.store = key, key != "" && k.c.cache != nil && !k.cc.noCache
	return hit
}

// encode marshals the request once, for every attempt.
func (k *call) encode() error {
	body, err := k.encodeFor(k.r.Model)
	if err != nil {
		return &RequestError{Field: "request", Reason: err.Error()}
	}
	k.body = body
	return nil
}

// encodeFor is the request's JSON for model: Groq is sent one model.
func (k *call) encodeFor(model string) ([]byte, error) {
	a := chatRequestAlias(*k.r)
	a.Model, a.Models = model, nil
	return encodeKeeping(a, k.r.Extra) // not through MarshalJSON: no second pass over the bytes
}

// settleBudget settles the plan's budget hold with used tokens. A plan that holds
// none (audio holds no token budget) settles nothing.
func (p *callPlan) settleBudget(c *Client, used int) {
	if p != nil && p.budgeted {
		c.budget.settle(time.Now(), p.budgetHold, int64(used))
	}
}

// callPlan is what a call knows of its cost before it is queued.
type callPlan struct {
	model      string
	estimate   int  // the tokenizer's prompt count, uncorrected
	openEnded  bool // no max tokens: the completion reserve is a guess
	reserve    int  // tokens to reserve in the buckets
	cost       int  // tokens the daily budget holds
	budgetHold budgetHold
	budgeted   bool // a chat plan: its hold is settled at the end, even one of 0 tokens
	free       bool // no quota counts the request: admitted at once, with the organization's key
}

// planChat is step 1 of a chat call, for its model or its list of models.
func (k *call) planChat() (*callPlan, error) {
	if k.r.Models != nil {
		return k.planList()
	}
	return k.c.plan(k.r)
}

// plan is step 1. The budget hold it takes is the caller's to settle.
func (c *Client) plan(r *ChatRequest) (*callPlan, error) {
	p, err := c.planModel(r, r.Model)
	if err != nil {
		return nil, err
	}
	if p.budgetHold, err = c.budget.reserve(time.Now(), int64(p.cost)); err != nil {
		return nil, err
	}
	return p, nil
}

// planModel is step 1 for r sent to model, but for the budget: its cost, its
// context window and its limits.
func (c *Client) planModel(r *ChatRequest, model string) (*callPlan, error) {
	p := &callPlan{model: model, estimate: c.cfg.tokenizer.CountTokens(model, r.Messages) + estimateTools(r.Tools), budgeted: true}
	prompt, asked := c.costs.prompt(model, p.estimate), r.completionLimit()
	// Compared without adding, so that no max tokens (math.MaxInt, say) can wrap
	// the sum negative and pass every check.
	if cw := c.sched.contextWindow(model); cw > 0 && (prompt > cw || asked > cw-prompt) {
		return nil, &ContextWindowError{Model: model, PromptTokens: prompt, CompletionTokens: asked, ContextWindow: cw}
	}
	if asked > maxRequestTokens || prompt > maxRequestTokens {
		return nil, &RequestError{Field: "max_completion_tokens",
			Reason: fmt.Sprintf("%d prompt and %d completion tokens are more than any model's context window (%d)", prompt, asked, maxRequestTokens)}
	}
	completion := asked
	if p.openEnded = asked == 0; p.openEnded {
		completion = c.costs.completionReserve(model)
	}
	reserve, err := c.sched.check(model, prompt+asked, prompt+completion)
	if err != nil {
		return nil, err
	}
	p.reserve, p.cost = reserve, prompt+completion
	return p, nil
}

// failure is what became of an attempt that did not succeed.
type failure struct {
	err        error           // what the caller gets if this is the last attempt
	final      bool            // not retried
	serverWait time.Duration   // the wait the server asked for before a retry (0: none)
	cooled     bool            // a 429: its wait is enforced by admission (a cooldown)
	limit      *RateLimitError // with serverWait: the error if the wait is refused
	requeue    bool            // not sent: a 429 cooled the quota after admission
	keyIndex   int             // the index of the key the attempt used
	logged     []slog.Attr     // "attempt failed"'s attributes, logged once the grant is settled
}

// run takes the call through steps 1 to 4 and the retry loop. A streamed call
// returns with k.st open once the first event has arrived: a failure before that
// is retried like any other, a failure after it is the stream's.
func (k *call) run() (*ChatResponse, error) {
	c := k.c
	p, err := k.ep.plan(k)
	if err != nil {
		var be *BudgetError
		if c.obs.on && errors.As(err, &be) {
			c.obs.budgetRefused(k.ctx, BudgetRefusedEvent{Model: k.model, Requested: be.Requested, Remaining: max(0, be.Limit-be.Used-be.Reserved)})
		}
		return nil, err
	}
	if k.w == nil {
		k.w = newWaiter(k.cc.priority, k.model, p.reserve)
	}
	k.plan = p
	k.w.caller = k.cc.caller
	defer k.onPanic()
	for k.attempt = 1; ; k.attempt++ {
		if err := k.admit(); err != nil {
			return nil, k.failed(err)
		}
		resp, f := k.try()
		switch {
		case f == nil:
			return resp, nil
		case f.requeue:
			k.attempt-- // nothing was sent: back to the queue, which waits out the cooldown
			continue
		case k.movesOn(f):
			continue // the next attempt goes to another model of the list
		}
		if err := k.retry(f); err != nil {
			var wait *RateLimitError // a server's wait refused (too long, past the deadline)
			if k.w.choices() > 1 && k.ctx.Err() == nil && (errors.As(err, new(*RetryError)) || errors.As(err, &wait) && !wait.Local) {
				k.leave(err) // retries ran out on this model: the next of the list
				continue
			}
			return nil, k.failed(err)
		}
	}
}

// do runs the call and ends it: what a call that is not a stream does.
func (k *call) do() (*ChatResponse, error) {
	resp, err := k.run()
	k.end(resp, err)
	return resp, err
}

// onPanic settles what the call holds when a panic passes through run: a slot or
// a budget hold left behind would hang or starve every later call.
func (k *call) onPanic() {
	if v := recover(); v != nil {
		k.settle(outcome{})
		k.plan.settleBudget(k.c, 0)
		k.plan = nil
		panic(v)
	}
}

// admit is step 2: one wait for admission, told to the observer; the call then
// holds the grant until it settles it. A local refusal after a 429 is that 429,
// with the reason the retry was not attempted.
func (k *call) admit() error {
	c, model := k.c, k.model
	if k.plan.free {
		k.held = &grant{free: true, keyIndex: -1, key: c.sched.orgKey()}
		return nil
	}
	queued := time.Now()
	if c.obs.on {
		c.obs.queued(k.ctx, QueuedEvent{Model: model, Priority: k.cc.priority, Attempt: k.attempt})
	}
	g, err := c.sched.acquire(k.ctx, k.w)
	k.waited += time.Since(queued)
	if err == nil {
		k.held = g // held from here on: a panic's cleanup settles it
		if g.model != k.model {
			k.serve(g.model)
			model = k.model
		}
		if c.obs.on {
			c.obs.admitted(k.ctx, AdmittedEvent{Model: model, Priority: k.cc.priority, Attempt: k.attempt, QueueWait: time.Since(queued),
				Quota: g.quotaName, KeyIndex: g.keyIndex})
		}
		return nil
	}
	var local *RateLimitError
	if errors.As(err, &local) && local.Local {
		if c.obs.on {
			c.obs.rateLimited(k.ctx, RateLimitedEvent{Model: model, ServerWait: local.RetryAfter, Local: true})
		}
		if k.last429 != nil {
			k.last429.Reason = "retry not attempted: " + local.Reason
			return k.last429
		}
	}
	if k.ctx.Err() != nil {
		return k.ctxError(k.lastErr)
	}
	return err
}

// quiet says that no quota counts the call (files, batches, models): the
// observer, the logs and Status do not follow it.
func (k *call) quiet() bool { return k.plan.free }

// settle is where an attempt's grant is settled with what became of it (never
// sent, answered, failed), whatever the endpoint: after the attempt, or when a
// stream handed over open ends, or by a panic's cleanup. It takes the grant the
// call holds, so a grant is settled once; with none held it does nothing.
func (k *call) settle(o outcome) {
	if g := k.held; g != nil {
		k.held = nil
		if !g.free {
			k.c.sched.finish(*g, o)
		}
	}
}

// retry decides, after failure f of an attempt, whether there is another
// attempt, and pauses before it (step 4). A nil error means: try again.
func (k *call) retry(f *failure) error {
	c := k.c
	if k.ctx.Err() != nil && !f.final {
		if k.quiet() { // files, batches, models named the attempt that just failed
			return k.ctxError(f.err)
		}
		return k.ctxError(k.lastErr)
	}
	k.lastErr = f.err
	if rl, ok := f.err.(*RateLimitError); ok && f.cooled {
		k.last429 = rl
	}
	if f.final {
		return f.err
	}
	if k.attempt > c.cfg.maxRetries {
		return &RetryError{Attempts: k.attempt, Last: k.lastErr}
	}
	if err := k.pause(f); err != nil {
		if errors.Is(err, errWouldPassDeadline) {
			return &RetryError{Attempts: k.attempt, Last: k.lastErr}
		}
		return err
	}
	return nil
}

// try is step 3, told to the observer: one HTTP attempt with the grant the call
// holds, settled (unless its answer was handed over open).
func (k *call) try() (*ChatResponse, *failure) {
	g := k.held
	sent := time.Now()
	resp, o, f, open := k.send(g)
	if !open {
		k.settle(o)
	}
	switch { // logged once the grant is settled, after what settling it logs
	case f != nil && f.logged != nil:
		k.c.log.LogAttrs(k.ctx, slog.LevelWarn, "groq: attempt failed", f.logged...)
	case resp != nil:
		k.c.log.LogAttrs(k.ctx, slog.LevelDebug, "groq: chat ok", slog.String("model", k.model), slog.Int("key", g.keyIndex),
			slog.Int("attempts", k.attempt), slog.String("request_id", resp.Meta.RequestID))
	}
	if f != nil {
		f.keyIndex = g.keyIndex
		if f.cooled {
			k.toldLimited(g, o, f)
		}
	}
	if !k.c.obs.on || k.quiet() || (f != nil && f.requeue) { // a requeue is not an attempt: nothing was sent
		return resp, f
	}
	e := AttemptEvent{Model: k.model, Attempt: k.attempt, Duration: time.Since(sent), Quota: g.quotaName, KeyIndex: g.keyIndex}
	switch {
	case f == nil:
		e.Status, e.RequestID = http.StatusOK, k.requestID
	default:
		e.Err = f.err
		var apiErr *APIError
		if errors.As(f.err, &apiErr) {
			e.Status, e.RequestID = apiErr.StatusCode, apiErr.RequestID
		}
	}
	k.c.obs.attemptDone(k.ctx, e)
	return resp, f
}

// clear says whether g's request may be sent now: nil when it may, else why not
// (a quota that cooled down since, or the QuotaStore's refusal). A request no
// quota counts may always be sent.
func (k *call) clear(g *grant) *failure {
	c := k.c
	switch {
	case g.free:
		return nil
	case !c.sched.handOver(*g): // another call's 429 arrived since this one was admitted
		return &failure{requeue: true}
	}
	return c.storeAdmit(k.ctx, g) // the QuotaStore's buckets must admit it too
}

// storeAdmit asks the processes that share g's quota (its QuotaStore) to admit
// g, just before it is sent: nil to send it (always, without a store), else the
// failure to return (see storeSync.admit). g is passed to the store by value:
// through the interface a pointer would put every call's grant on the heap.
func (c *Client) storeAdmit(ctx context.Context, g *grant) *failure {
	admitted, owed, f := c.sched.store.admit(ctx, c, *g)
	g.storeAdmitted, g.owed = admitted, owed
	return f
}

// send makes the attempt with g. It returns the answer (or, for a stream, nil
// with open set: the answer was handed over), or what failed, and the outcome to
// settle g with.
func (k *call) send(g *grant) (*ChatResponse, outcome, *failure, bool) {
	c := k.c
	if f := k.clear(g); f != nil {
		return nil, outcome{}, f, false
	}
	res, err := c.post(k.ctx, *g, k.ep.wire(k, g))
	if err == nil && res.status/100 == 2 {
		meta := ResponseMeta{RequestID: res.header.Get("X-Request-Id"), Attempts: k.attempt, KeyIndex: g.keyIndex, RateLimit: res.info}
		resp, o, open, rerr := k.ep.read(k, res, meta)
		var fe finalError
		switch {
		case rerr == nil:
			return resp, o, nil, open
		case errors.As(rerr, &fe):
			return nil, o, &failure{err: fe.error, final: true}, false
		}
		err = rerr // nothing reached the caller yet: retried
	}
	if err != nil { // the connection failed: the server may have counted it, unless it never got it
		// A call that creates something is not sent again once it may have arrived.
		f := &failure{err: err, final: k.ep.creating() && !neverConnected(err) && k.ctx.Err() == nil}
		if !k.quiet() {
			f.logged = []slog.Attr{slog.Int("attempt", k.attempt), slog.Int("key", g.keyIndex), slog.String("error", err.Error())}
		}
		return nil, outcome{counted: !neverSent(err), used: g.reserved}, f, false
	}
	o, f := k.refused(*g, res)
	return nil, o, f, false
}

// refused classifies an attempt the server answered with an error status: the
// outcome to settle it with, and whether and when to retry.
func (k *call) refused(g grant, res *attemptResult) (outcome, *failure) {
	c, model := k.c, k.model
	apiErr := parseAPIError(res.status, res.header, res.body)
	apiErr.redact(c.redact)
	wait, hasWait := serverWait(res.header, res.status, apiErr.Message, res.at)
	f := &failure{err: apiErr, final: !retryableStatus(res.status, res.header) || (k.ep.creating() && !notActedOn(res.status))}
	// Server errors are not billed; other client errors count as a request.
	o := outcome{counted: res.status < 500 && res.status != 498, info: res.info}
	status := res.status
	if g.free {
		status = 0 // no quota: a 429's wait is slept, like a 5xx's
	}
	switch status {
	case http.StatusTooManyRequests:
		o = k.limited(apiErr, res, wait, hasWait)
		wait = o.coolUntil.Sub(res.at)
		f.err, f.cooled = &RateLimitError{APIError: *apiErr, RetryAfter: wait, RateLimit: res.info, Model: model, KeyIndex: g.keyIndex}, true
	case http.StatusRequestEntityTooLarge:
		o = outcome{info: res.info}
		f.err, f.final = &RateLimitError{APIError: *apiErr, RateLimit: res.info, Model: model, KeyIndex: g.keyIndex}, true
	case http.StatusNotFound:
		o = outcome{counted: true, info: res.info}
		if apiErr.Code == "model_not_found" {
			f.err = &ModelNotFoundError{Model: model, Err: apiErr, Suggestions: closest(model, c.knownModels(), 3)}
		}
	default:
		if hasWait && wait > 0 {
			f.serverWait = wait
			f.limit = &RateLimitError{APIError: *apiErr, RetryAfter: wait, RateLimit: res.info, Model: model, KeyIndex: g.keyIndex}
		}
	}
	if !k.quiet() {
		f.logged = []slog.Attr{slog.Int("attempt", k.attempt), slog.Int("key", g.keyIndex),
			slog.Int("status", res.status), slog.String("request_id", apiErr.RequestID), slog.Duration("server_wait", wait)}
	}
	return o, f
}

// limited is the outcome of a 429: its quota cools down for the server's wait (or
// a backoff when it gave none), and what its message says of the limit is learnt.
func (k *call) limited(apiErr *APIError, res *attemptResult, wait time.Duration, hasWait bool) outcome {
	c := k.c
	if !hasWait || wait <= 0 {
		k.backoff = decorrelatedJitter(k.backoff, c.cfg.backoffBase, c.cfg.backoffMax, c.cfg.randN)
		wait = k.backoff
	}
	o := outcome{info: res.info, coolUntil: res.at.Add(wait)}
	if hw, ok := serverWait(res.header, 0, "", res.at); !ok || hw <= 0 {
		o.shareCool = true // send shared a header's wait already
	}
	if sig, ok := parseLimitSignal(apiErr.Message); ok {
		o.limited = &sig
		// The message's "try again in 100ms" is the bucket's own state; an
		// integer Retry-After rounds it up (to 1 s): the cooldown keeps to the
		// header, the bucket to the message.
		if mw, ok := messageWait(apiErr.Message); ok && mw > 0 && mw < wait {
			o.fitsIn = mw
		}
		if n := sig.serverCost(); n > 0 {
			k.w.reserveOn(k.model, n) // the retry reserves what the server counts
		}
	}
	return o
}

// toldLimited tells the observer of a 429 on g, settled with o.
func (k *call) toldLimited(g *grant, o outcome, f *failure) {
	if !k.c.obs.on {
		return
	}
	e := RateLimitedEvent{Model: k.model, Quota: g.quotaName, ServerWait: f.err.(*RateLimitError).RetryAfter, CooldownUntil: o.coolUntil}
	if o.limited != nil {
		e.Limit = o.limited.kind.String()
	}
	k.c.obs.rateLimited(k.ctx, e)
}

// pause is step 4: the wait before the next attempt. A 429's wait is the quota's
// cooldown, which admission enforces (and another quota may serve sooner); a
// server's wait is slept as asked, or refused at once when it is too long; else a
// jittered backoff.
func (k *call) pause(f *failure) error {
	c, model := k.c, k.model
	status := 0 // of the failed attempt; 0 when no response came
	var apiErr *APIError
	if errors.As(f.err, &apiErr) {
		status = apiErr.StatusCode
	}
	announce := func(reason string, d time.Duration) {
		if k.quiet() {
			return
		}
		c.recent.add(model, time.Now(), eventRetry)
		if c.obs.on {
			c.obs.retry(k.ctx, RetryEvent{Model: model, Attempt: k.attempt, Reason: reason, Status: status, Delay: d})
		}
	}
	switch {
	case f.cooled:
		announce("rate_limited", 0)
		return nil
	case f.serverWait > 0:
		announce("server_wait", f.serverWait)
		f.limit.KeyIndex = f.keyIndex
		err := c.sleep(k.ctx, f.serverWait, k.ep.what(k), f.limit)
		if k.quiet() && err != nil && !errors.Is(err, ErrClientClosed) && k.ctx.Err() != nil {
			return k.ctxError(f.err) // as the rest loop did
		}
		return err
	}
	k.backoff = decorrelatedJitter(k.backoff, c.cfg.backoffBase, c.cfg.backoffMax, c.cfg.randN)
	reason := "transport"
	if status != 0 {
		reason = "status"
	}
	announce(reason, k.backoff)
	err := c.sleep(k.ctx, k.backoff, k.ep.what(k), nil)
	if err != nil && !errors.Is(err, ErrClientClosed) && k.ctx.Err() != nil {
		return k.ctxError(f.err)
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

// end is step 5, for every call, once: it settles the budget with what the server
// counted, teaches the client the call's real cost, stores a complete answer in
// the cache, lands the flight of the identical calls waiting on it, and tells the
// observer and WithCallback's function how the call ended. A call that holds nothing (a cache hit, an answer shared in flight, a
// request refused before planning) only reports.
func (k *call) end(resp *ChatResponse, err error) {
	if k.ended {
		return
	}
	k.ended = true
	c := k.c
	if k.plan != nil {
		if err == nil && k.usage != nil {
			c.costs.observe(k.plan.model, k.plan.estimate, k.usage, k.plan.openEnded)
		}
		k.plan.settleBudget(c, k.used)
	}
	if err == nil && k.store && resp != nil && len(resp.Choices) > 0 && (!k.stream || resp.Choices[0].FinishReason != "") {
		stored := resp
		if resp.body != nil { // the cache keeps the decoded answer, not its bytes too
			cp := *resp
			cp.body = nil
			stored = &cp
		}
		if serr := c.cache.Set(k.ctx, k.key, stored); serr != nil {
			c.log.Error("groq: cache write failed", "error", serr)
		}
	}
	if land := k.landing; land != nil {
		k.landing = nil
		land(resp, err)
	}
	if k.told {
		c.obs.callDone(k.ctx, k.doneEvent(resp, err))
	}
	if k.cc.callback != nil {
		k.cc.callback(resp, err)
	}
}

// doneEvent describes the call's end to the observer.
func (k *call) doneEvent(resp *ChatResponse, err error) CallDoneEvent {
	if s := k.st; s != nil {
		e := CallDoneEvent{Model: s.model, Stream: true, Err: err, Duration: time.Since(k.start), Attempts: s.Meta.Attempts,
			FromCache: s.res == nil, Usage: s.usage, ResponseModel: s.model, ResponseID: s.id, Chunks: s.chunks, Response: resp}
		if s.finish != "" {
			e.FinishReasons = []string{s.finish}
		}
		return e
	}
	e := CallDoneEvent{Model: k.model, Stream: k.stream, Err: err, Duration: time.Since(k.start)}
	if resp == nil && err == nil {
		e.Attempts = k.attempt // an audio call
	}
	if resp != nil {
		e.Attempts, e.FromCache, e.Shared, e.Usage = resp.Meta.Attempts, resp.Meta.FromCache, resp.Meta.Shared, resp.Usage
		e.ResponseModel, e.ResponseID, e.Response = resp.Model, resp.ID, resp
		for _, ch := range resp.Choices {
			e.FinishReasons = append(e.FinishReasons, ch.FinishReason)
		}
	}
	return e
}

// errWouldPassDeadline marks a backoff sleep that was not started because the
// context would end first.
var errWouldPassDeadline = errors.New("groq: backoff would pass the context deadline")

// sleep waits d before a retry of what (for the context's error). With limit, the
// wait is the server's: when it is longer than the maximum delay or would pass the
// deadline it is not slept, and limit comes back at once with the reason. Without,
// a backoff that would pass the deadline gives errWouldPassDeadline. Close ends
// the sleep with ErrClientClosed.
func (c *Client) sleep(ctx context.Context, d time.Duration, what string, limit *RateLimitError) error {
	dl, hasDL := ctx.Deadline()
	past := hasDL && time.Now().Add(d).After(dl)
	switch {
	case limit != nil && d > c.cfg.maxRetryDelay:
		limit.Reason = fmt.Sprintf("the wait is longer than the maximum delay %s", c.cfg.maxRetryDelay)
		return limit
	case limit != nil && past:
		limit.Reason = "the wait would pass the context deadline"
		return limit
	case past:
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
		return fmt.Errorf("groq: %s: %w", what, ctx.Err())
	}
}

// ctxError is the error of a chat call to model whose context ended, with its
// last failure.
func (c *Client) ctxError(ctx context.Context, model string, last error) error {
	return endedError(ctx, "chat "+model, last)
}

// ctxError is the error of k when its context ended, with its last failure.
func (k *call) ctxError(last error) error { return endedError(k.ctx, k.ep.what(k), last) }

// endedError is the error of the call named what (see endpoint.what) whose
// context ended, with its last failure when there was one.
func endedError(ctx context.Context, what string, last error) error {
	if last != nil {
		return fmt.Errorf("groq: %s: %w (last failure: %v)", what, ctx.Err(), last)
	}
	return fmt.Errorf("groq: %s: %w", what, ctx.Err())
}

// planList is step 1 for a call that accepts several models: each model is
// planned as a call of one (cost, context window, limits) and one that cannot
// take the request is left out. The budget holds the most any model left would
// use. The call's waiter gets one entry per model left.
func (k *call) planList() (*callPlan, error) {
	c := k.c
	k.plans, k.bodies = map[string]*callPlan{}, map[string][]byte{}
	var first *callPlan
	cost := 0
	for _, m := range k.r.Models {
		p, err := c.planModel(k.r, m)
		body := k.body // encode's, for the list's first model
		if err == nil && (m != k.r.Model || body == nil) {
			// Encoded now, not when the call moves on: a move to the next model
			// never fails to encode.
			body, err = k.encodeFor(m)
		}
		if err != nil {
			k.tried = append(k.tried, modelFailure{m, err})
			continue
		}
		k.plans[m], k.bodies[m] = p, body
		if first == nil {
			first = p
			k.w = newWaiter(k.cc.priority, m, p.reserve)
		} else {
			k.w.addModel(m, p.reserve)
			k.w.list.after = k.cc.fallbackAfter
		}
		cost = max(cost, p.cost)
	}
	if first == nil {
		return nil, k.failed(nil)
	}
	k.model, k.body = first.model, k.bodies[first.model]
	var err error
	if first.budgetHold, err = c.budget.reserve(time.Now(), int64(cost)); err != nil {
		return nil, err
	}
	return first, nil
}

// serve makes model the call's: its plan (which takes the budget hold) and body.
func (k *call) serve(model string) {
	p := k.plans[model]
	if p == nil || p == k.plan {
		return
	}
	p.budgetHold, k.plan.budgetHold = k.plan.budgetHold, budgetHold{}
	k.plan, k.model, k.body = p, model, k.bodies[model]
}

// movesOn says whether failure f of an attempt leaves the call's model for the
// next of its list: a 429 whose wait is past WithFallbackAfter's tolerance, a
// model that is not found or decommissioned, a request larger than the model's
// limits or context window. A call of one model never moves on.
func (k *call) movesOn(f *failure) bool {
	if k.w.choices() < 2 {
		return false
	}
	status, code := 0, ""
	var apiErr *APIError
	if errors.As(f.err, &apiErr) {
		status, code = apiErr.StatusCode, apiErr.Code
	}
	switch {
	case f.cooled:
		if rl, ok := f.err.(*RateLimitError); ok && rl.RetryAfter <= k.w.list.after {
			return false
		}
	case status == http.StatusNotFound, status == http.StatusRequestEntityTooLarge:
	case status == http.StatusBadRequest && (code == "model_decommissioned" || code == "context_length_exceeded"):
	default:
		return false
	}
	k.leave(f.err)
	return true
}

// leave takes the call's model out of its list for err, and starts the count of
// attempts again for the models left.
func (k *call) leave(err error) {
	c := k.c
	c.log.LogAttrs(k.ctx, slog.LevelInfo, "groq: moving on to the next model", slog.String("model", k.model), slog.String("error", err.Error()))
	c.recent.add(k.model, time.Now(), eventRetry)
	if c.obs.on {
		e := RetryEvent{Model: k.model, Attempt: k.attempt, Reason: "next_model"}
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			e.Status = apiErr.StatusCode
		}
		c.obs.retry(k.ctx, e)
	}
	k.tried = append(k.tried, modelFailure{k.model, err})
	k.w.dropModel(k.model)
	k.attempt, k.backoff, k.last429, k.lastErr = 0, 0, nil, nil
	k.serve(k.w.model)
}

// failed is the error a call ends with: err itself for a call that left no
// model or that ended for a reason of its own (its context, Close, a full
// queue), else a *FallbackError with each model's error (err, when not nil, the
// last model's).
func (k *call) failed(err error) error {
	var left []modelFailure // dropped while queued: their limits changed
	if k.w != nil && k.w.list != nil {
		left = k.w.list.left
	}
	if len(k.tried)+len(left) == 0 || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrClientClosed) || errors.Is(err, ErrQueueFull) {
		return err // not a model's failure: the call itself ended
	}
	fe := &FallbackError{}
	for _, t := range append(slices.Clone(k.tried), left...) {
		fe.Models, fe.Errs = append(fe.Models, t.model), append(fe.Errs, t.err)
	}
	if err != nil && (len(left) == 0 || err != left[len(left)-1].err) {
		fe.Models, fe.Errs = append(fe.Models, k.model), append(fe.Errs, err)
	}
	return fe
}

// The chat endpoints.

// chatComplete is the chat completions endpoint, answered whole.
type chatComplete struct{ chatCall }

func (chatComplete) plan(k *call) (*callPlan, error) { return k.planChat() }

func (chatComplete) wire(k *call, g *grant) wireRequest {
	return wireRequest{url: g.url, body: k.body, contentType: "application/json", accept: "application/json"}
}

// read decodes a complete answer.
func (chatComplete) read(k *call, res *attemptResult, meta ResponseMeta) (*ChatResponse, outcome, bool, error) {
	data, err := res.readAll()
	if err != nil {
		return nil, outcome{}, false, err // a body cut mid-way: a transport failure, retried
	}
	reserved := k.held.reserved
	resp := new(ChatResponse)
	// Decoded as the alias, not through UnmarshalJSON: one pass over the bytes.
	resp.Extra, err = decodeKeeping(data, (*chatResponseAlias)(resp))
	if err == nil && resp.ID == "" && resp.Object == "" && resp.Choices == nil { // {} or null
		err = errNotACompletion
	}
	if err != nil {
		return nil, outcome{counted: true, used: reserved, info: res.info}, false, finalError{&decodeError{requestID: meta.RequestID, err: err}}
	}
	k.usage, k.used = resp.Usage, usedTokens(resp.Usage, reserved)
	meta.Latency, meta.Queued = time.Since(k.start), k.waited
	if meta.RequestID == "" && resp.XGroq != nil {
		meta.RequestID = resp.XGroq.ID
	}
	resp.Meta, k.requestID = meta, meta.RequestID
	resp.body = data
	return resp, outcome{counted: true, used: countedTokens(resp.Usage, reserved), info: res.info}, false, nil
}

// finalError marks an error from reading an answer that is not retried: the
// server did answer. The call's error is the one it wraps.
type finalError struct{ error }

// chatCall names a chat call (and an audio call: its errors read as a chat's).
type chatCall struct{}

func (chatCall) what(k *call) string { return "chat " + k.model }

func (chatCall) creating() bool { return false }

// chatStream is the chat completions endpoint, streamed: an attempt succeeds once
// the first event has arrived, and the stream settles the grant when it ends.
type chatStream struct{ chatCall }

func (chatStream) plan(k *call) (*callPlan, error) { return k.planChat() }

func (chatStream) wire(k *call, g *grant) wireRequest {
	return wireRequest{url: g.url, body: k.body, contentType: "application/json", accept: "text/event-stream", stream: true}
}

// read reads the first event of a 2xx streamed answer into k.st and hands the
// answer over open: the stream settles the grant when it ends. An error here
// (the connection broke, the body ended) is returned for the retry loop, which
// then settles the grant; an error event is the stream's own error, not retried.
//
// The stream ends the call when it ends, which can be here already (an answer of
// one event).
func (chatStream) read(k *call, res *attemptResult, meta ResponseMeta) (*ChatResponse, outcome, bool, error) {
	c, model := k.c, k.model
	meta.Queued = k.waited
	st := &Stream{c: c, ctx: k.ctx, res: res, sse: newSSEReader(res.resp.Body), reserved: k.held.reserved, start: k.start, Meta: meta, model: model, call: k}
	chunk, done, err := st.read()
	res.firstByte()
	if err == nil && c.obs.on {
		c.obs.streamFirst(k.ctx, StreamFirstEvent{Model: model, TimeToFirstChunk: time.Since(k.start)})
	}
	var se *StreamError
	if err != nil && !errors.As(err, &se) {
		res.resp.Body.Close()
		res.release()
		return nil, outcome{}, false, err
	}
	k.st, k.requestID = st, st.Meta.RequestID // an x_groq id read with the first event too
	switch {
	case err != nil:
		st.fail(err)
	case done:
		st.done = true
		st.end()
	default:
		st.first = chunk
	}
	return nil, outcome{}, true, nil
}
