package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/groqkit/groq"
)

// apiError is the "error" object of an OpenAI-shaped error answer, which the
// OpenAI and Groq SDKs read.
type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    any     `json:"code"`
}

// writeError writes an OpenAI-shaped error answer.
func writeError(w http.ResponseWriter, status int, e *apiError) {
	if e.Code == "" {
		e.Code = nil
	}
	data, _ := json.Marshal(map[string]any{"error": e})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(data)
}

func (q *request) fail(status int, e *apiError) {
	q.status = status
	if !q.bodyRead {
		unread(q.w, q.r)
	}
	writeError(q.w, status, e)
}

// unread closes the connection after a refusal that left r's body unread:
// otherwise the server reads what is left of it (up to 256 KB) before
// answering, and a body that stalls would hold the connection.
func unread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// failWith answers the client's error as the SDKs expect it.
func (q *request) failWith(err error) {
	status, e := q.errorOf(err)
	var rl *groq.RateLimitError
	var be *groq.BudgetError
	switch {
	case errors.As(err, &rl) && rl.RetryAfter > 0 && status == http.StatusTooManyRequests:
		q.w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
	case errors.As(err, &be) && time.Until(be.ResetAt) > 0:
		q.w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(time.Until(be.ResetAt).Seconds()))))
	case errors.Is(err, groq.ErrQueueFull), e.Code == "queue_timeout", e.Code == "shutting_down":
		q.w.Header().Set("Retry-After", "1")
	}
	var apiErr *groq.APIError
	if errors.As(err, &apiErr) && apiErr.RequestID != "" {
		q.w.Header().Set("X-Request-Id", apiErr.RequestID)
	}
	q.fail(status, e)
}

// errorOf is errorOf for this call: the drain's grace over is a 503; a
// deadline passed while the call waited for a slot (never sent) a 429; Groq
// refusing the gateway's own key is not the caller's invalid key but a 502; and
// a failure to reach Groq is a 502 that does not show Groq's address (the log
// has it).
func (q *request) errorOf(err error) (int, *apiError) {
	status, e := errorOf(err)
	var api *groq.APIError
	switch {
	case q.g.stop.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return http.StatusServiceUnavailable, &apiError{Message: "the gateway is shutting down; try again", Type: "server_error", Code: "shutting_down"}
	case status == http.StatusGatewayTimeout && !q.admitted.Load():
		return http.StatusTooManyRequests, &apiError{Message: "no slot to Groq came free within X-Groq-Timeout; try again, or allow a longer wait", Type: "requests", Code: "queue_timeout"}
	case errors.As(err, &api) && (api.StatusCode == http.StatusUnauthorized || api.StatusCode == http.StatusForbidden):
		q.g.cfg.Logger.Error("gateway: Groq refused the gateway's key", "id", q.id, "status", api.StatusCode, "groq_request_id", api.RequestID, "message", api.Message)
		return http.StatusBadGateway, &apiError{Message: "Groq refused the gateway's own key: the gateway's operator must fix it (your token is fine)", Type: "server_error", Code: "upstream_auth_failed"}
	case e.Code == "upstream_error":
		q.g.cfg.Logger.Warn("gateway: Groq could not be reached", "id", q.id, "error", err.Error())
		return status, &apiError{Message: "the gateway could not reach Groq (its log has the detail, under id " + q.id + ")", Type: "server_error", Code: "upstream_error"}
	}
	return status, e
}

// errorOf maps a client error to a status and an OpenAI-shaped error: a local
// refusal where waiting helps (a wait past the caller's deadline, the queue full,
// the budget) is a 429 with Retry-After; one waiting cannot help (the request is
// larger than the model's limits) a 413; a bad request a 400; Groq's own error
// passes through with its status.
func errorOf(err error) (int, *apiError) {
	msg := err.Error()
	var fe *groq.FallbackError
	if errors.As(err, &fe) && len(fe.Errs) > 0 {
		// Every model of the call's list failed: the status is the last model's,
		// the message names each.
		status, e := errorOf(fe.Errs[len(fe.Errs)-1])
		e.Message = msg
		return status, e
	}
	var (
		re  *groq.RequestError
		rl  *groq.RateLimitError
		be  *groq.BudgetError
		cw  *groq.ContextWindowError
		mnf *groq.ModelNotFoundError
		api *groq.APIError
	)
	switch {
	case errors.As(err, &re):
		field := re.Field
		return http.StatusBadRequest, &apiError{Message: msg, Type: "invalid_request_error", Param: &field}
	case errors.As(err, &cw):
		return http.StatusBadRequest, &apiError{Message: msg, Type: "invalid_request_error", Code: "context_length_exceeded"}
	case errors.Is(err, groq.ErrRequestTooLarge):
		return http.StatusRequestEntityTooLarge, &apiError{Message: msg, Type: "tokens", Code: "request_too_large"}
	case errors.As(err, &mnf):
		return http.StatusNotFound, &apiError{Message: msg, Type: "invalid_request_error", Code: "model_not_found"}
	case errors.As(err, &rl):
		typ := rl.Type // Groq's: "requests" or "tokens", as its 429 said
		if typ == "" {
			typ = "tokens" // a local refusal
		}
		return http.StatusTooManyRequests, &apiError{Message: msg, Type: typ, Code: "rate_limit_exceeded"}
	case errors.As(err, &be):
		return http.StatusTooManyRequests, &apiError{Message: msg, Type: "tokens", Code: "budget_exceeded"}
	case errors.Is(err, groq.ErrQueueFull):
		return http.StatusTooManyRequests, &apiError{Message: msg, Type: "requests", Code: "queue_full"}
	case errors.As(err, &api):
		e := &apiError{Message: api.Message, Type: api.Type, Code: api.Code}
		if api.Param != "" {
			e.Param = &api.Param
		}
		if api.StatusCode >= 400 {
			return api.StatusCode, e
		}
		return http.StatusBadGateway, e
	case errors.Is(err, groq.ErrClientClosed):
		return http.StatusServiceUnavailable, &apiError{Message: msg, Type: "server_error", Code: "shutting_down"}
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, &apiError{Message: msg, Type: "timeout"}
	case errors.Is(err, context.Canceled):
		return 499, &apiError{Message: msg, Type: "cancelled"}
	}
	return http.StatusBadGateway, &apiError{Message: msg, Type: "server_error", Code: "upstream_error"}
}

func ptr(s string) *string { return &s }
