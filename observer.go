package groq

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Observer receives what the client does, as it does it: a call queued, admitted,
// each HTTP attempt, each rate-limit signal, each retry, the call's end, a
// stream's first chunk and end, a budget refusal, a burst or margin learnt. Plug it
// in with WithObserver (given more than once, it combines them). Package groqotel turns the
// events into OpenTelemetry spans and metrics.
//
// Every field is optional: a nil field costs one comparison, and a client without
// an observer does no work for it. The functions are called synchronously on the
// goroutine of the call (Learned on the goroutine whose request taught it), so
// they must be quick and must not block; they are called concurrently for
// different calls. A panic in one is recovered and logged (once per event kind);
// the call goes on. No event carries an API key: keys are named by their index,
// quotas by their organization name or "key#N".
//
// CallStart may return a context derived from ctx (with a span, say); every later
// event of the call receives it, and so does the HTTP request. Returning nil keeps
// ctx.
type Observer struct {
	CallStart     func(ctx context.Context, e CallStartEvent) context.Context
	Queued        func(ctx context.Context, e QueuedEvent)
	Admitted      func(ctx context.Context, e AdmittedEvent)
	AttemptDone   func(ctx context.Context, e AttemptEvent)
	RateLimited   func(ctx context.Context, e RateLimitedEvent)
	Retry         func(ctx context.Context, e RetryEvent)
	CallDone      func(ctx context.Context, e CallDoneEvent)
	StreamFirst   func(ctx context.Context, e StreamFirstEvent)
	BudgetRefused func(ctx context.Context, e BudgetRefusedEvent)
	Learned       func(e LearnedEvent)
}

// CallStartEvent: a call entered the client (before the cache).
type CallStartEvent struct {
	Model    string   // the model asked for: with a list, its first
	Models   []string // a call that accepts several models: the list (read-only; nil otherwise)
	Priority int
	Stream   bool
	URL      string       // where the request goes (for server.address)
	Request  *ChatRequest // read-only; its messages are the caller's content; nil for an audio call (Transcribe, Translate, Speech)
}

// QueuedEvent: a call (or a retry) joined its model's queue.
type QueuedEvent struct {
	Model    string
	Priority int
	Attempt  int
}

// AdmittedEvent: a call left the queue with a quota and a concurrency slot.
type AdmittedEvent struct {
	Model     string
	Priority  int
	Attempt   int
	QueueWait time.Duration
	Quota     string // organization name, or "key#N"
	KeyIndex  int
}

// AttemptEvent: one HTTP attempt ended. Status is 0 when no response came (Err
// says why).
type AttemptEvent struct {
	Model     string
	Attempt   int
	Status    int
	Err       error
	Duration  time.Duration
	RequestID string
	Quota     string
	KeyIndex  int
}

// RateLimitedEvent: a 429 (or, with Local, the client's own refusal to wait past
// the deadline or the maximum delay). Limit is "RPM", "RPD", "TPM", "TPD", or ""
// when the server did not say.
type RateLimitedEvent struct {
	Model         string
	Quota         string
	Limit         string
	ServerWait    time.Duration
	CooldownUntil time.Time
	Local         bool
}

// LimitName is Limit for a label: "local" for the client's own refusal, "unknown"
// when the server did not say which limit.
func (e RateLimitedEvent) LimitName() string {
	switch {
	case e.Local:
		return "local"
	case e.Limit == "":
		return "unknown"
	}
	return e.Limit
}

// RetryEvent: the call will try again after Delay (0 when the wait is a quota's
// cooldown, which admission enforces). Reason is "rate_limited", "server_wait",
// "status", or "transport"; or "next_model" when a call that accepts several
// models leaves Model for the next of its list (WithModels).
type RetryEvent struct {
	Model   string
	Attempt int // the attempt that failed
	Reason  string
	Status  int
	Delay   time.Duration
}

// CallDoneEvent: a call ended. For a stream this is when the stream ends.
type CallDoneEvent struct {
	Model         string
	Stream        bool
	Err           error // nil on success
	Duration      time.Duration
	Attempts      int
	FromCache     bool
	Shared        bool // de-duplicated: another identical call made the request
	Usage         *Usage
	ResponseModel string
	ResponseID    string
	FinishReasons []string
	Chunks        int           // a stream's chunks
	Response      *ChatResponse // the answer (a stream's, assembled); read-only, nil on failure
}

// StreamFirstEvent: a stream's first chunk reached the client.
type StreamFirstEvent struct {
	Model            string
	TimeToFirstChunk time.Duration
}

// BudgetRefusedEvent: the daily token budget refused a call.
type BudgetRefusedEvent struct {
	Model     string
	Requested int64
	Remaining int64
}

// LearnedEvent: a refusal taught the client a burst (Burst > 0) or widened a
// pacing margin (Margin > 0) for a quota, model and limit; or the client read a
// refusal as another program's spending (Others), or began or stopped seeing
// another program spend the quota (Foreign, with Limit RPM for requests, TPM for
// tokens).
type LearnedEvent struct {
	Quota  string
	Model  string
	Limit  string
	Burst  int
	Margin time.Duration
	// Others: the 429 came from spending the client cannot see (its message's
	// "Used" was well above what the client had spent): nothing was learnt of the
	// bucket's depth or timing, and the retry waits the server's time.
	Others bool
	// Foreign is the estimate of others' spending after the event, when it
	// concerns them (Others, or another program seen or no longer seen).
	Foreign ForeignSpending
}

// combine combines observers: each event goes to each, in order (CallStart's
// contexts are chained). WithObserver given more than once uses it.
func combine(obs ...Observer) Observer {
	var out Observer
	for _, o := range obs {
		out.CallStart = chainStart(out.CallStart, o.CallStart)
		out.Queued = chain(out.Queued, o.Queued)
		out.Admitted = chain(out.Admitted, o.Admitted)
		out.AttemptDone = chain(out.AttemptDone, o.AttemptDone)
		out.RateLimited = chain(out.RateLimited, o.RateLimited)
		out.Retry = chain(out.Retry, o.Retry)
		out.CallDone = chain(out.CallDone, o.CallDone)
		out.StreamFirst = chain(out.StreamFirst, o.StreamFirst)
		out.BudgetRefused = chain(out.BudgetRefused, o.BudgetRefused)
		if a, b := out.Learned, o.Learned; b != nil {
			out.Learned = func(e LearnedEvent) {
				if a != nil {
					a(e)
				}
				b(e)
			}
		}
	}
	return out
}

func chain[E any](a, b func(context.Context, E)) func(context.Context, E) {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(ctx context.Context, e E) { a(ctx, e); b(ctx, e) }
}

func chainStart(a, b func(context.Context, CallStartEvent) context.Context) func(context.Context, CallStartEvent) context.Context {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(ctx context.Context, e CallStartEvent) context.Context {
		if c := a(ctx, e); c != nil {
			ctx = c
		}
		if c := b(ctx, e); c != nil {
			ctx = c
		}
		return ctx
	}
}

// observing is the client's observer with panic protection.
type observing struct {
	o      Observer
	on     bool // any field set
	log    *slog.Logger
	warned [10]atomic.Bool
}

func (ob *observing) set(o Observer, log *slog.Logger) {
	ob.o, ob.log = o, log
	ob.on = o.CallStart != nil || o.Queued != nil || o.Admitted != nil || o.AttemptDone != nil || o.RateLimited != nil ||
		o.Retry != nil || o.CallDone != nil || o.StreamFirst != nil || o.BudgetRefused != nil || o.Learned != nil
}

// guard recovers a panicking observer function and logs it once per event kind.
func (ob *observing) guard(kind int, name string) {
	if v := recover(); v != nil && !ob.warned[kind].Swap(true) {
		ob.log.Warn("groq: an observer panicked; the call goes on", "event", name, "panic", v)
	}
}

func emit[E any](ob *observing, kind int, name string, f func(context.Context, E), ctx context.Context, e E) {
	if f == nil {
		return
	}
	defer ob.guard(kind, name)
	f(ctx, e)
}

func (ob *observing) callStart(ctx context.Context, e CallStartEvent) context.Context {
	if ob.o.CallStart == nil {
		return ctx
	}
	out := ctx
	func() {
		defer ob.guard(0, "CallStart")
		if c := ob.o.CallStart(ctx, e); c != nil {
			out = c
		}
	}()
	return out
}

func (ob *observing) queued(ctx context.Context, e QueuedEvent) {
	emit(ob, 1, "Queued", ob.o.Queued, ctx, e)
}
func (ob *observing) admitted(ctx context.Context, e AdmittedEvent) {
	emit(ob, 2, "Admitted", ob.o.Admitted, ctx, e)
}
func (ob *observing) attemptDone(ctx context.Context, e AttemptEvent) {
	emit(ob, 3, "AttemptDone", ob.o.AttemptDone, ctx, e)
}
func (ob *observing) rateLimited(ctx context.Context, e RateLimitedEvent) {
	emit(ob, 4, "RateLimited", ob.o.RateLimited, ctx, e)
}
func (ob *observing) retry(ctx context.Context, e RetryEvent) {
	emit(ob, 5, "Retry", ob.o.Retry, ctx, e)
}
func (ob *observing) callDone(ctx context.Context, e CallDoneEvent) {
	emit(ob, 6, "CallDone", ob.o.CallDone, ctx, e)
}
func (ob *observing) streamFirst(ctx context.Context, e StreamFirstEvent) {
	emit(ob, 7, "StreamFirst", ob.o.StreamFirst, ctx, e)
}
func (ob *observing) budgetRefused(ctx context.Context, e BudgetRefusedEvent) {
	emit(ob, 8, "BudgetRefused", ob.o.BudgetRefused, ctx, e)
}
func (ob *observing) learned(e LearnedEvent) {
	if ob.o.Learned == nil {
		return
	}
	defer ob.guard(9, "Learned")
	ob.o.Learned(e)
}
