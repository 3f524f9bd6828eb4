package groq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Match them with errors.Is; the typed errors below carry the data.
var (
	// ErrNoAPIKey: no key was given to NewClient and neither GROQ_API_KEYS nor
	// GROQ_API_KEY is set.
	ErrNoAPIKey = errors.New("groq: no API key (use WithAPIKeys, GROQ_API_KEYS or GROQ_API_KEY)")
	// ErrRateLimited matches every *RateLimitError of a 429, and the client's own
	// refusals when the wait for capacity would be too long.
	ErrRateLimited = errors.New("groq: rate limited")
	// ErrRequestTooLarge matches a 413 from Groq and a request whose estimated tokens
	// exceed the model's tokens-per-minute limit, refused before any network call.
	ErrRequestTooLarge = errors.New("groq: request too large for the model's token limit")
	// ErrRetriesExhausted matches a *RetryError: every attempt failed.
	ErrRetriesExhausted = errors.New("groq: retries exhausted")
	// ErrClientClosed is returned by calls made after Close, and by calls that were
	// waiting in the queue or sleeping before a retry when Close was called.
	ErrClientClosed = errors.New("groq: client closed")
	// ErrStreamClosed is what a stream's WithCallback receives when the stream was
	// closed before its last event.
	ErrStreamClosed = errors.New("groq: stream closed before its end")
	// ErrQueueFull is returned when WithMaxQueue waiters are already queued.
	ErrQueueFull = errors.New("groq: priority queue full")
	// ErrContextWindowExceeded matches a *ContextWindowError.
	ErrContextWindowExceeded = errors.New("groq: context window exceeded")
	// ErrBudgetExceeded matches a *BudgetError.
	ErrBudgetExceeded = errors.New("groq: daily token budget exceeded")
	// ErrInvalidRequest matches every *RequestError: a request refused before any
	// network call because it was malformed.
	ErrInvalidRequest = errors.New("groq: invalid request")
	// ErrBadResponse matches a 2xx answer that is not what was asked for: a body
	// that does not decode, or JSON that is not a chat completion ({} or null).
	// It is not retried (the server did answer, and may have counted it); the
	// error names the request id.
	ErrBadResponse = errors.New("groq: the response is not a chat completion")
)

// APIError is an error response from Groq: a status other than 2xx, with the fields
// of Groq's {"error":{...}} body. A body that is not Groq's JSON still gives an
// APIError whose Message holds the start of the body.
type APIError struct {
	StatusCode       int
	Type             string // e.g. invalid_request_error, tokens, requests
	Code             string // e.g. invalid_api_key, rate_limit_exceeded, context_length_exceeded
	Param            string
	Message          string
	FailedGeneration string
	RequestID        string // x-request-id
}

// redact passes every text the server wrote through mask (which hides keys).
func (e *APIError) redact(mask func(string) string) {
	e.Type, e.Code, e.Param = mask(e.Type), mask(e.Code), mask(e.Param)
	e.Message, e.FailedGeneration = mask(e.Message), mask(e.FailedGeneration)
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "groq: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	} else if e.Type != "" {
		fmt.Fprintf(&b, " (%s)", e.Type)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

// Is lets errors.Is(err, ErrRequestTooLarge) match a 413.
func (e *APIError) Is(target error) bool {
	return target == ErrRequestTooLarge && e.StatusCode == http.StatusRequestEntityTooLarge
}

// RateLimitError is a 429 or 413 from Groq, or the client's own refusal to wait for
// capacity (Local). It embeds the API error (zero when Local) and matches
// ErrRateLimited (ErrRequestTooLarge for a 413); errors.As reaches the *APIError too.
type RateLimitError struct {
	APIError
	// RetryAfter is how long the server asked to wait (or, when Local, how long
	// until the client's own limiter or cooldown would admit the request).
	RetryAfter time.Duration
	// RateLimit holds the x-ratelimit-* headers of the response (zero when Local).
	RateLimit RateLimitInfo
	// Local is true when no request was sent: the client refused because the wait
	// would pass the context's deadline or WithMaxRetryDelay.
	Local bool
	// Model and KeyIndex say which quota was limited (KeyIndex -1 when unknown).
	Model    string
	KeyIndex int
	// Reason says why the client gave up instead of waiting.
	Reason string
}

func (e *RateLimitError) Error() string {
	if e.Local {
		return fmt.Sprintf("groq: rate limited locally on model %s: capacity in %s; %s",
			e.Model, e.RetryAfter.Round(time.Millisecond), e.Reason)
	}
	s := e.APIError.Error()
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; server asks to wait %s", e.RetryAfter.Round(time.Millisecond))
	}
	if e.Reason != "" {
		s += "; " + e.Reason
	}
	return s
}

// Is matches ErrRateLimited, or ErrRequestTooLarge for a 413.
func (e *RateLimitError) Is(target error) bool {
	if e.StatusCode == http.StatusRequestEntityTooLarge {
		return target == ErrRequestTooLarge
	}
	return target == ErrRateLimited
}

// Unwrap gives errors.As access to the embedded *APIError (nil when Local).
func (e *RateLimitError) Unwrap() error {
	if e.Local {
		return nil
	}
	return &e.APIError
}

// RetryError is returned when every attempt failed with a retryable error. It
// matches ErrRetriesExhausted and unwraps to the last failure.
type RetryError struct {
	Attempts int
	Last     error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("groq: giving up after %d attempts: %v", e.Attempts, e.Last)
}

// Unwrap returns ErrRetriesExhausted and the last failure.
func (e *RetryError) Unwrap() []error { return []error{ErrRetriesExhausted, e.Last} }

// RequestError is a request refused before any network call: no messages, an empty
// model, an unknown role, an invalid call option. It matches ErrInvalidRequest.
type RequestError struct {
	Field  string // e.g. "messages[2].role", "model"
	Reason string
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("groq: invalid request: %s: %s", e.Field, e.Reason)
}

// Is matches ErrInvalidRequest.
func (e *RequestError) Is(target error) bool { return target == ErrInvalidRequest }

// ContextWindowError is a request whose estimated prompt plus requested completion
// exceeds the model's context window; it is refused before any network call.
type ContextWindowError struct {
	Model            string
	PromptTokens     int // estimated by the client's Tokenizer
	CompletionTokens int // requested max_completion_tokens (0 when unset)
	ContextWindow    int
}

func (e *ContextWindowError) Error() string {
	return fmt.Sprintf("groq: model %s: about %d prompt tokens plus %d requested completion tokens exceed the context window of %d",
		e.Model, e.PromptTokens, e.CompletionTokens, e.ContextWindow)
}

// Is matches ErrContextWindowExceeded.
func (e *ContextWindowError) Is(target error) bool { return target == ErrContextWindowExceeded }

// OptionError is returned by NewClient for an option with a bad value; it names the
// option.
type OptionError struct {
	Option string // e.g. "WithBackoff"
	Reason string
	Err    error // the underlying error, when there is one (a *ConfigError for WithConfig)
}

func (e *OptionError) Error() string { return fmt.Sprintf("groq: %s: %s", e.Option, e.Reason) }

// Unwrap returns the underlying error, if any.
func (e *OptionError) Unwrap() error { return e.Err }

// parseAPIError builds the error for a non-2xx response body.
func parseAPIError(status int, h http.Header, body []byte) *APIError {
	e := &APIError{StatusCode: status, RequestID: h.Get("X-Request-Id")}
	var wire struct {
		Error *ErrorPayload `json:"error"`
	}
	if err := json.Unmarshal(body, &wire); err == nil && wire.Error != nil {
		e.Type, e.Code, e.Param = wire.Error.Type, wire.Error.Code, wire.Error.Param
		e.Message, e.FailedGeneration = wire.Error.Message, wire.Error.FailedGeneration
		return e
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = "(empty body)"
	}
	e.Message = "unexpected body: " + msg
	return e
}

// ErrorType is a short, low-cardinality name for the class of a call's error, for
// metrics labels and logs (OpenTelemetry's error.type): the HTTP status when the
// server answered ("429", "500"), else what stopped the call ("timeout",
// "canceled", "client_closed", "rate_limited_locally", "budget_exceeded",
// "request_too_large", "context_window_exceeded", "queue_full",
// "invalid_request", "bad_response", "stream_closed", "stream_broken"), or
// "_OTHER". It is "" for a nil error.
func ErrorType(err error) string {
	var rl *RateLimitError
	var apiErr *APIError
	var se *StreamError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &rl) && rl.Local:
		return "rate_limited_locally"
	case errors.As(err, &rl):
		return strconv.Itoa(rl.StatusCode)
	case errors.As(err, &apiErr):
		return strconv.Itoa(apiErr.StatusCode)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrClientClosed):
		return "client_closed"
	case errors.Is(err, ErrStreamClosed):
		return "stream_closed"
	case errors.Is(err, ErrBudgetExceeded):
		return "budget_exceeded"
	case errors.Is(err, ErrRequestTooLarge):
		return "request_too_large"
	case errors.Is(err, ErrContextWindowExceeded):
		return "context_window_exceeded"
	case errors.Is(err, ErrQueueFull):
		return "queue_full"
	case errors.Is(err, ErrInvalidRequest):
		return "invalid_request"
	case errors.Is(err, ErrBadResponse):
		return "bad_response"
	case errors.As(err, &se):
		return "stream_broken"
	}
	return "_OTHER"
}

// limitText is a limit for a message: its figure, or "none" for 0 (unknown
// or none).
func limitText(n int) string {
	if n <= 0 {
		return "none"
	}
	return strconv.Itoa(n)
}

// ErrModelNotFound matches a *ModelNotFoundError.
var ErrModelNotFound = errors.New("groq: model not found")

// ModelNotFoundError is a model the server does not know, with the names it
// serves that are closest to it.
type ModelNotFoundError struct {
	Model string
	// Suggestions are the closest names the server serves (Model), or for a chat
	// call the closest the client knows (its built-in table and configured
	// limits), closest first; may be empty.
	Suggestions []string
	Err         *APIError
}

func (e *ModelNotFoundError) Error() string {
	msg := fmt.Sprintf("groq: model %q not found", e.Model)
	if len(e.Suggestions) > 0 {
		msg += "; did you mean " + strings.Join(quoteAll(e.Suggestions), " or ") + "?"
	}
	return msg
}

// Is matches ErrModelNotFound.
func (e *ModelNotFoundError) Is(target error) bool { return target == ErrModelNotFound }

// Unwrap returns the server's 404.
func (e *ModelNotFoundError) Unwrap() error { return e.Err }

// StreamError is a stream that broke after it had started. It keeps what was
// received; the stream is never silently replayed.
type StreamError struct {
	Err       error  // the cause: an *APIError for an error event, else the read failure
	Text      string // the content received before the failure
	RequestID string
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("groq: stream %s broke after %d bytes of text: %v", e.RequestID, len(e.Text), e.Err)
}

func (e *StreamError) Unwrap() error { return e.Err }

func quoteAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// BudgetError is a call refused, before any network call, because its estimated
// tokens would pass the daily token budget. It matches ErrBudgetExceeded.
type BudgetError struct {
	Used, Reserved, Requested, Limit int64
	ResetAt                          time.Time
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("groq: daily token budget exceeded: %d used and %d reserved of %d, this call needs about %d; the budget resets at %s",
		e.Used, e.Reserved, e.Limit, e.Requested, e.ResetAt.Format(time.RFC3339))
}

// Is matches ErrBudgetExceeded.
func (e *BudgetError) Is(target error) bool { return target == ErrBudgetExceeded }

// closest returns up to n of names nearest to target: those within an edit
// distance of a third of its length (at least 2), or that contain it or are
// contained in it, nearest first.
func closest(target string, names []string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	lt := strings.ToLower(target)
	for _, name := range names {
		ln := strings.ToLower(name)
		d := editDistance(lt, ln)
		if d <= max(2, len(target)/3) || strings.Contains(ln, lt) || strings.Contains(lt, ln) {
			cs = append(cs, cand{name, d})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.d - b.d })
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
