package groq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// This file is a call that accepts several models: the list it may be served
// from, the options that give it, and the error of a call every model failed.
// The choice itself is made by admission (priority.go): a call with a list
// waits in the queue of each of its models, and is admitted on the first model
// that can take it now.

// MaxModels is the most models one call may accept.
const MaxModels = 8

// WithModels makes the call accept every model of models, in order of
// preference, instead of one. It is admitted on the first model of the list that
// can take it now; when none can, on the one that can take it soonest. Priority
// and each model's queue hold as for a call of one model: the call waits in the
// queue of every model of the list, and leaves the others when one admits it.
//
// After a send, a 429 whose wait is longer than WithFallbackAfter's tolerance (a
// spent day, say), a 404 or a decommissioned model, a 413, and a 5xx that
// exhausts its retries move the call on to the next model of the list that is
// left; a model whose limits or context window cannot take the request is not
// tried. When the list is down to one model, that model is retried as a call of
// one model is. ChatResponse.Model says which model served; when every model
// failed, the error is a *FallbackError holding each model's.
//
// The cache and in-flight de-duplication key on the list: an answer from any
// model of the list answers the same call again. The list overrides WithModel and
// the request's Model and Models. An empty list, an empty or repeated name, or
// more than MaxModels names is a *RequestError.
func WithModels(models ...string) CallOption {
	return func(c *callConfig) error {
		if err := checkModels("WithModels", models); err != nil {
			return err
		}
		c.models = slices.Clone(models)
		return nil
	}
}

// WithFallbackAfter sets how long the call may wait for an earlier model of its
// list before a later one serves it: an earlier model is kept while its wait is
// at most d. The default, 0, takes any model that can go now; a caller that
// prefers quality sets, say, 2 s, so that the next model serves only when the
// first would make it wait longer. It also decides, after a 429, whether the call
// stays on the model (the server's wait is at most d) or moves on. A negative d is
// a *RequestError. A model the call waits for holds back the later calls of its
// other models' queues for at most d.
func WithFallbackAfter(d time.Duration) CallOption {
	return func(c *callConfig) error {
		if d < 0 {
			return &RequestError{Field: "WithFallbackAfter", Reason: fmt.Sprintf("negative duration %s", d)}
		}
		c.fallbackAfter = d
		return nil
	}
}

// WithRoute names a list of models: a call for the model name goes through
// models as with WithModels (a route's models are models, not routes). The
// config file's "routes" does the same; a name given both ways takes the later
// option's list at NewClient, and WithRoute's after a Reload. A name given twice
// takes the later list; a route's name stands for its list even when
// a model has the same name. An empty name or list, or an empty or repeated
// model, is an *OptionError.
func WithRoute(name string, models ...string) Option {
	return func(c *settings) error {
		if strings.TrimSpace(name) == "" {
			return optErr("WithRoute", "empty route name")
		}
		if err := checkModels("WithRoute", models); err != nil {
			return &OptionError{Option: "WithRoute", Reason: err.(*RequestError).Reason, Err: err}
		}
		if c.routes == nil {
			c.routes = map[string][]string{}
		}
		if c.optRoutes == nil {
			c.optRoutes = map[string][]string{}
		}
		c.routes[name] = slices.Clone(models)
		c.optRoutes[name] = c.routes[name]
		return nil
	}
}

// checkModels refuses an empty list, an empty or repeated name, and a list
// longer than MaxModels.
func checkModels(field string, models []string) error {
	if len(models) == 0 {
		return &RequestError{Field: field, Reason: "no model given"}
	}
	if len(models) > MaxModels {
		return &RequestError{Field: field, Reason: fmt.Sprintf("%d models; at most %d", len(models), MaxModels)}
	}
	for i, m := range models {
		if strings.TrimSpace(m) == "" {
			return &RequestError{Field: field, Reason: fmt.Sprintf("model #%d is empty", i)}
		}
		if slices.Index(models, m) < i {
			return &RequestError{Field: field, Reason: fmt.Sprintf("model %q is given twice", m)}
		}
	}
	return nil
}

// listFor is the list a call for model may be served from: WithModels', else
// the request's models (with model first when it is set, is not among them and
// is not a route), else the route model names; nil for a call of one model.
func (c *Client) listFor(model string, models []string, cc *callConfig) ([]string, error) {
	switch {
	case cc.models != nil:
		return cc.models, nil
	case len(models) > 0:
		list := models
		if model != "" && c.route(model) == nil && !slices.Contains(list, model) {
			list = append([]string{model}, list...)
		}
		if err := checkModels("models", list); err != nil {
			return nil, err
		}
		return list, nil
	}
	return c.route(model), nil
}

// route is the list the route name stands for; nil when name is no route.
// Safe for concurrent use with Reload.
func (c *Client) route(name string) []string {
	if m := c.routes.Load(); m != nil {
		return (*m)[name]
	}
	return nil
}

// FallbackError is the error of a call that accepted several models when every
// model it tried failed: Errs holds each model's error, in the order tried
// (Models[i] failed with Errs[i]). errors.Is and errors.As look into each, so
// that errors.As(err, &rateLimitErr) finds a model's 429.
type FallbackError struct {
	Models []string
	Errs   []error
}

func (e *FallbackError) Error() string {
	var b strings.Builder
	b.WriteString("groq: every model failed:")
	for i, err := range e.Errs {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, " %s: %v", e.Models[i], err)
	}
	return b.String()
}

// Unwrap returns each model's error.
func (e *FallbackError) Unwrap() []error { return e.Errs }

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
