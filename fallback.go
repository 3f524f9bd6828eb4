package groq

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file is a call that accepts several models: the options that give the
// list it may be served from (each call works its list out in Client.listFor,
// client.go) and their checks.
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
