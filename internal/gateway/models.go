package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/groqkit/groq"
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

// checkModels checks the model of a chat request and each of its "models"
// (OpenRouter's convention: the models the caller accepts, in order): a
// caller's list is no way around the gate. The model may name a route of the
// configuration (Configured), which the client expands.
func (g *Gateway) checkModels(ctx context.Context, req *groq.ChatRequest) (int, *apiError) {
	if len(req.Models) > groq.MaxModels {
		return http.StatusBadRequest, &apiError{Message: fmt.Sprintf("models names %d models; the gateway takes at most %d", len(req.Models), groq.MaxModels), Type: "invalid_request_error", Param: ptr("models")}
	}
	if status, e := g.checkModel(ctx, req.Model); e != nil {
		return status, e
	}
	for _, m := range req.Models {
		if m == "" {
			return http.StatusBadRequest, &apiError{Message: "models holds an empty model name", Type: "invalid_request_error", Param: ptr("models")}
		}
		if status, e := g.checkModel(ctx, m); e != nil {
			e.Param = ptr("models")
			return status, e
		}
	}
	return 0, nil
}

// firstModel is the model a chat request is for first: its model, else the
// first of its models ("" for the client's default).
func firstModel(req *groq.ChatRequest) string {
	if req.Model == "" && len(req.Models) > 0 {
		return req.Models[0]
	}
	return req.Model
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
