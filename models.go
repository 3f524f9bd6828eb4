package groq

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Models lists the models the API serves (GET /models), sorted by id. It is
// retried like a chat call on 429, 498 and 5xx (obeying the server's wait) and
// uses no chat rate limit. Errors: an *APIError, a *RetryError, ErrClientClosed,
// or the context's error.
func (c *Client) Models(ctx context.Context) ([]Model, error) {
	var list struct {
		Data []Model `json:"data"`
	}
	if _, err := c.rest(ctx, restCall{method: http.MethodGet, path: "/models"}, &list); err != nil {
		return nil, err
	}
	slices.SortFunc(list.Data, func(a, b Model) int { return strings.Compare(a.ID, b.ID) })
	return list.Data, nil
}

// Model describes one model (GET /models/{id}). For a model the server does not
// know it returns a *ModelNotFoundError (ErrModelNotFound) naming the closest
// models it serves. When the client has no context window for the model (it is
// neither in the built-in table nor configured), the one the server gives is
// kept, and later calls are checked against it before any network call.
func (c *Client) Model(ctx context.Context, id string) (*Model, error) {
	if strings.TrimSpace(id) == "" {
		return nil, &RequestError{Field: "model", Reason: "empty"}
	}
	var m Model
	_, err := c.rest(ctx, restCall{method: http.MethodGet, path: "/models/" + url.PathEscape(id)}, &m)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
		nf := &ModelNotFoundError{Model: id, Err: apiErr}
		if all, lerr := c.Models(ctx); lerr == nil {
			names := make([]string, len(all))
			for i, x := range all {
				names[i] = x.ID
			}
			nf.Suggestions = closest(id, names, 3)
		}
		return nil, nf
	}
	if err != nil {
		return nil, err
	}
	if m.ContextWindow > 0 {
		c.learnContextWindow(m.ID, m.ContextWindow)
	}
	return &m, nil
}

// knownModels are the model names the client knows without a network call: the
// built-in table and the configured limits.
func (c *Client) knownModels() []string {
	names := make([]string, 0, len(builtinLimits)+len(c.cfg.modelLimits))
	for m := range builtinLimits {
		names = append(names, m)
	}
	for m := range c.cfg.modelLimits {
		if _, ok := builtinLimits[m]; !ok {
			names = append(names, m)
		}
	}
	sort.Strings(names)
	return names
}

// learnContextWindow keeps a context window the server gave for a model the
// client had none for.
func (c *Client) learnContextWindow(model string, n int) {
	s := c.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := c.cfg.modelLimits[model]
	if !ok {
		l = builtinLimits[model]
	}
	if l.ContextWindow > 0 {
		return
	}
	l.ContextWindow = n
	c.cfg.modelLimits[model] = l
	for _, q := range s.quotas {
		q.buckets.reconfigure(s.now())
	}
}
