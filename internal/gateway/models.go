package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// A model name is a caller's string that becomes the client's scheduler state and
// the metrics' series: left open, any token holder can grow both without end (20
// calls naming 1 MB models took 3.1 GB). So a chat names a model of at most
// maxModelName bytes that Groq lists (GET models, read at most every
// modelListTTL, again at most every modelListRetry after a miss or a failure);
// while the list cannot be read, at most maxUnlisted other names go through.
const (
	maxModelName   = 256
	maxUnlisted    = 64
	modelListTTL   = 10 * time.Minute
	modelListRetry = 30 * time.Second
)

// modelGate is the set of model names the gateway lets through.
type modelGate struct {
	mu       sync.Mutex
	listed   map[string]bool // Groq's list, as last read (nil: never read)
	readAt   time.Time       // when it was last read, or tried
	unlisted map[string]bool // names let through while the list could not be read
}

// checkModel says why model may not go to Groq (status 0 when it may): too
// long, or neither configured nor a model Groq lists.
func (g *Gateway) checkModel(ctx context.Context, model string) (int, *apiError) {
	if len(model) > maxModelName {
		return http.StatusBadRequest, &apiError{Message: "the model name is longer than the gateway takes (256 bytes)", Type: "invalid_request_error", Param: ptr("model")}
	}
	if model == "" {
		return 0, nil // the client's default model
	}
	if g.cfg.Configured != nil && g.cfg.Configured(model) {
		return 0, nil
	}
	m := &g.modelSet
	m.mu.Lock()
	defer m.mu.Unlock()
	age := time.Since(m.readAt)
	if m.readAt.IsZero() || age >= modelListTTL || (!m.listed[model] && age >= modelListRetry) {
		m.read(ctx, g)
	}
	if m.listed[model] {
		return 0, nil
	}
	if m.listed == nil && (m.unlisted[model] || len(m.unlisted) < maxUnlisted) {
		if m.unlisted == nil {
			m.unlisted = map[string]bool{}
		}
		m.unlisted[model] = true
		return 0, nil
	}
	return http.StatusNotFound, &apiError{Message: "The model `" + model + "` does not exist or you do not have access to it.", Type: "invalid_request_error", Code: "model_not_found", Param: ptr("model")}
}

// read reads Groq's model list. m.mu is held: calls wait for one read rather
// than each making its own.
func (m *modelGate) read(ctx context.Context, g *Gateway) {
	m.readAt = time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ms, err := g.c.Models(ctx)
	if err != nil || len(ms) == 0 {
		return // keep what was read before
	}
	listed := make(map[string]bool, len(ms))
	for _, x := range ms {
		listed[x.ID] = true
	}
	m.listed, m.unlisted = listed, nil
}
