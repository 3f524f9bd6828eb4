package groqtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// request is what the simulator reads of a chat request.
type request struct {
	Model               string    `json:"model"`
	Messages            []message `json:"messages"`
	MaxCompletionTokens *int      `json:"max_completion_tokens"`
	MaxTokens           *int      `json:"max_tokens"`
	Stream              bool      `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	N           *int            `json:"n"`
	Logprobs    json.RawMessage `json:"logprobs"`
	LogitBias   json.RawMessage `json:"logit_bias"`
	TopLogprobs json.RawMessage `json:"top_logprobs"`
	Tools       []tool          `json:"tools"`
	ToolChoice  json.RawMessage `json:"tool_choice"`
	Documents   []struct {
		ID string `json:"id"`
	} `json:"documents"`
	CitationOptions string `json:"citation_options"`
	ResponseFormat  *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

type tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    *string         `json:"name"`
}

// text returns the message content as text (the text parts of an array).
func (m message) text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return ""
}

// countTokens is the simulator's tokenizer: four bytes a token, rounded up, plus
// four a message and three for the reply. Clients should estimate no lower.
func countTokens(s string) int { return (len(s) + 3) / 4 }

func (r *request) promptTokens() int {
	n := 3
	for _, m := range r.Messages {
		n += 4 + countTokens(m.text())
	}
	for _, t := range r.Tools {
		n += 4 + countTokens(t.Function.Name) + countTokens(t.Function.Description) + countTokens(string(t.Function.Parameters))
	}
	return n
}

func (r *request) maxCompletion() (int, bool) {
	if r.MaxCompletionTokens != nil {
		return *r.MaxCompletionTokens, true
	}
	if r.MaxTokens != nil {
		return *r.MaxTokens, true
	}
	return 0, false
}

func (r *request) lastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].text()
		}
	}
	return ""
}

// ServeHTTP serves the simulated API: POST /openai/v1/chat/completions,
// GET /openai/v1/models and GET /openai/v1/models/{id}, and the Files and
// Batches endpoints (see WithBatchDuration).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case strings.HasSuffix(path, "/chat/completions") && r.Method == http.MethodPost:
		s.chat(w, r)
	case (strings.HasSuffix(path, "/audio/transcriptions") || strings.HasSuffix(path, "/audio/translations")) && r.Method == http.MethodPost:
		s.transcribe(w, r, strings.HasSuffix(path, "/translations"))
	case strings.HasSuffix(path, "/audio/speech") && r.Method == http.MethodPost:
		s.speech(w, r)
	case strings.HasSuffix(path, "/models") && r.Method == http.MethodGet:
		s.listModels(w, r, "")
	case strings.Contains(path, "/models/") && r.Method == http.MethodGet:
		s.listModels(w, r, path[strings.Index(path, "/models/")+len("/models/"):])
	case strings.Contains(path, "/v1/") && s.serveFilesAndBatches(w, r, path[strings.Index(path, "/v1/")+3:]):
	default:
		writeError(w, s.requestID(), errorBody{http.StatusNotFound, "Unknown request URL: " + r.Method + " " + r.URL.Path + ". Please check the URL for typos.", "invalid_request_error", "unknown_url", ""})
	}
}

// record notes an answered request in the arrivals and, when counted (a fault
// is counted in Stats.Faults only), in the stats by its status.
func (s *Server) record(a Arrival, counted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived = append(s.arrived, a)
	switch {
	case !counted:
	case a.Status == http.StatusOK:
		s.stats.Successes++
	case a.Status == http.StatusTooManyRequests:
		s.stats.RateLimited++
	case a.Status == http.StatusRequestEntityTooLarge:
		s.stats.TooLarge++
	case a.Status >= 400 && a.Status < 500:
		s.stats.Errors++
	}
}

func (s *Server) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	return fmt.Sprintf("req_sim%012d", s.nextID)
}

// errorBody is an error answer in Groq's shape: the status, and the body's
// message, type, code and param (code and param left out when empty).
type errorBody struct {
	status                    int
	message, typ, code, param string
}

func writeError(w http.ResponseWriter, reqID string, e errorBody) {
	payload := map[string]string{"message": e.message, "type": e.typ}
	if e.code != "" {
		payload["code"] = e.code
	}
	if e.param != "" {
		payload["param"] = e.param
	}
	b, _ := json.Marshal(map[string]any{"error": payload})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", reqID)
	w.WriteHeader(e.status)
	w.Write(b)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// listModels answers GET /models, or GET /models/{id} when id is set (a 404
// model_not_found for a model it does not serve).
func (s *Server) listModels(w http.ResponseWriter, r *http.Request, id string) {
	if _, ok := s.org(bearer(r)); !ok {
		writeError(w, s.requestID(), errorBody{http.StatusUnauthorized, "Invalid API Key", "invalid_request_error", "invalid_api_key", ""})
		return
	}
	type model struct {
		ID            string `json:"id"`
		Object        string `json:"object"`
		Created       int64  `json:"created"`
		OwnedBy       string `json:"owned_by"`
		Active        bool   `json:"active"`
		ContextWindow int    `json:"context_window"`
	}
	var data []model
	s.mu.Lock()
	for name, l := range s.models {
		data = append(data, model{ID: name, Object: "model", Created: 1700000000, OwnedBy: "groqtest", Active: true, ContextWindow: l.ContextWindow})
	}
	s.mu.Unlock()
	sortModels(data, func(m model) string { return m.ID })
	w.Header().Set("Content-Type", "application/json")
	reqID := s.requestID()
	w.Header().Set("X-Request-Id", reqID)
	if id == "" {
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
		return
	}
	for _, m := range data {
		if m.ID == id {
			json.NewEncoder(w).Encode(m)
			return
		}
	}
	writeError(w, reqID, errorBody{http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", id), "invalid_request_error", "model_not_found", ""})
}

func sortModels[T any](xs []T, key func(T) string) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && key(xs[j]) < key(xs[j-1]); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

// org returns the organization of key, or false when the key is not accepted.
func (s *Server) org(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.orgOfKey) == 0 {
		return "org_" + shortHash(key), true
	}
	o, ok := s.orgOfKey[key]
	return o, ok
}

// decision is what the limiter decided for one request.
type decision struct {
	status     int
	wait       time.Duration
	limitName  string // RPM, RPD, TPM, TPD
	limit      int
	used       int
	requested  int
	headers    http.Header
	violation  bool
	refundFrom *orgModel
}

// chat serves POST /chat/completions: it reads and checks the request, injects
// the next fault, plans the answer and its cost, admits it through the
// organization's buckets for the model, and answers (whole or streamed).
func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	c, body, readErr := s.beginChat(w, r)
	defer c.end()
	if hook := c.hook; hook != nil && hook(w, r, body) {
		c.record(0)
		return
	}
	req, org, limits, ok := c.parse(body, readErr)
	if !ok {
		return
	}
	fault, ok := c.injectFault()
	if !ok {
		return
	}
	p, ok := c.plan(req, org, limits)
	if !ok {
		return
	}
	d, ok := c.admitChat(req, org, limits, p)
	if !ok {
		return
	}
	c.answer(req, org, d, p, fault)
}

// chatCall is one chat request as the simulator serves it.
type chatCall struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	reqID   string
	arr     Arrival
	counted bool // faults are counted in Stats.Faults only
	hook    func(http.ResponseWriter, *http.Request, []byte) bool
}

// chatPlan is the answer a chat request gets, and what it costs.
type chatPlan struct {
	prompt, maxC, completion, cached, cost int
	hasMax                                 bool
	content, finish                        string
	calls                                  []toolCall
}

// beginChat counts a chat request and reads its body.
func (s *Server) beginChat(w http.ResponseWriter, r *http.Request) (*chatCall, []byte, error) {
	c := &chatCall{s: s, w: w, r: r, reqID: s.requestID(), counted: true}
	c.arr = Arrival{At: time.Now(), Key: bearer(r)}
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	s.mu.Lock()
	s.stats.Requests++
	s.stats.PerKey[c.arr.Key]++
	s.inFlight++
	if s.inFlight > s.stats.MaxInFlight {
		s.stats.MaxInFlight = s.inFlight
	}
	c.hook = s.hook
	s.mu.Unlock()
	return c, body, err
}

// end notes that the request is no longer in flight.
func (c *chatCall) end() {
	c.s.mu.Lock()
	c.s.inFlight--
	c.s.mu.Unlock()
}

// record notes the answer's status in the stats and the arrivals.
func (c *chatCall) record(status int) {
	c.arr.Status = status
	c.s.record(c.arr, c.counted)
}

// fail records and writes an error.
func (c *chatCall) fail(status int, msg, typ, code, param string) {
	c.record(status)
	writeError(c.w, c.reqID, errorBody{status, msg, typ, code, param})
}

// parse checks the key, the body, the request and the model.
func (c *chatCall) parse(body []byte, readErr error) (*request, string, Limits, bool) {
	s := c.s
	if readErr != nil {
		c.fail(http.StatusBadRequest, "could not read the request body", "invalid_request_error", "", "")
		return nil, "", Limits{}, false
	}
	org, ok := s.org(c.arr.Key)
	if !ok {
		c.fail(http.StatusUnauthorized, "Invalid API Key", "invalid_request_error", "invalid_api_key", "")
		return nil, "", Limits{}, false
	}
	c.arr.Org = org
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		c.fail(http.StatusBadRequest, "We could not parse the JSON body of your request. Please check the body for syntax errors.", "invalid_request_error", "", "")
		return nil, "", Limits{}, false
	}
	c.arr.Model, c.arr.Prompt = req.Model, req.lastUser()
	s.mu.Lock()
	s.stats.PerModel[req.Model]++
	limits, known := s.models[req.Model]
	s.mu.Unlock()
	if msg, param := validate(&req); msg != "" {
		c.fail(http.StatusBadRequest, msg, "invalid_request_error", "", param)
		return nil, "", Limits{}, false
	}
	if !known {
		c.fail(http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model), "invalid_request_error", "model_not_found", "")
		return nil, "", Limits{}, false
	}
	if msg := notForChat(req.Model, limits); msg != "" {
		c.fail(http.StatusBadRequest, msg, "invalid_request_error", "", "model")
		return nil, "", Limits{}, false
	}
	return &req, org, limits, true
}

// injectFault answers with the next scripted or random fault, if any; a failed
// request is not counted.
func (c *chatCall) injectFault() (Fault, bool) {
	s := c.s
	s.mu.Lock()
	fault := s.nextFault()
	if fault.Kind != FaultNone {
		s.stats.Faults++
	}
	s.mu.Unlock()
	if status, done := s.injectFault(c.w, c.r, fault, c.reqID); done {
		c.counted = false
		c.record(status)
		return fault, false
	}
	return fault, true
}

// plan is the answer and its cost, or a 400 when it does not fit the context
// window.
func (c *chatCall) plan(req *request, org string, limits Limits) (chatPlan, bool) {
	var p chatPlan
	p.prompt = c.s.serverTokens(req.promptTokens())
	p.maxC, p.hasMax = req.maxCompletion()
	if limits.ContextWindow > 0 && p.prompt+p.maxC > limits.ContextWindow {
		c.fail(http.StatusBadRequest,
			fmt.Sprintf("Please reduce the length of the messages or completion. The model's context window is %d tokens; the request needs %d.", limits.ContextWindow, p.prompt+p.maxC),
			"invalid_request_error", "context_length_exceeded", "messages")
		return p, false
	}
	p.content, p.finish = answer(req, p.maxC, p.hasMax)
	p.content, p.calls = req.structuredAnswer(p.content, c.reqID)
	if len(p.calls) > 0 {
		p.finish = "tool_calls"
	}
	p.completion = countTokens(p.content)
	for _, tc := range p.calls {
		p.completion += countTokens(tc.Function.Name) + countTokens(tc.Function.Arguments)
	}
	p.cached = c.s.cachedPrefix(org, req)
	p.cost = p.prompt - p.cached + p.completion
	if p.hasMax {
		p.cost = p.prompt - p.cached + p.maxC // Groq counts the requested completion up front
	}
	return p, true
}

// admitChat lets the request reach the limiter (after a new connection's
// handshake and the network's jitter) and takes its cost from the buckets, or
// answers the 413 or 429.
func (c *chatCall) admitChat(req *request, org string, limits Limits, p chatPlan) (decision, bool) {
	s, w, r, reqID := c.s, c.w, c.r, c.reqID
	arrival := c.arr.At
	delay := time.Duration(0)
	if s.firstConn > 0 && s.firstOnConnection(r, c.arr.Key) {
		delay += s.firstConn
	}
	if s.arrival > 0 {
		s.mu.Lock()
		delay += time.Duration(s.rng.Int64N(int64(s.arrival)))
		s.mu.Unlock()
	}
	if delay > 0 {
		sleepCtx(r, delay)
		arrival = time.Now()
		c.arr.At = arrival
	}
	d := s.admit(org, req.Model, limits, arrival, p.cost)
	if d.violation {
		s.mu.Lock()
		s.stats.Violations++
		s.mu.Unlock()
	}
	switch d.status {
	case http.StatusRequestEntityTooLarge:
		c.record(d.status)
		copyHeader(w.Header(), d.headers)
		writeError(w, reqID, errorBody{d.status, fmt.Sprintf("Request too large for model `%s` in organization `%s` service tier `on_demand` on tokens per minute (TPM): Limit %d, Requested %d, please reduce your message size and try again.", req.Model, org, d.limit, d.requested), "tokens", "rate_limit_exceeded", ""})
		return d, false
	case http.StatusTooManyRequests:
		c.record(d.status)
		s.writeRateLimited(w, r, req, org, d, reqID)
		return d, false
	}
	return d, true
}

// answer waits the latency, settles the buckets and writes the completion
// (whole, streamed, or cut by a fault).
func (c *chatCall) answer(req *request, org string, d decision, p chatPlan, fault Fault) {
	s, w, r, reqID := c.s, c.w, c.r, c.reqID
	if fault.Kind == FaultSlow {
		sleepCtx(r, fault.Delay)
	}
	lat := s.latency
	if s.jitter > 0 {
		s.mu.Lock()
		lat += time.Duration(s.rng.Int64N(int64(s.jitter)))
		s.mu.Unlock()
	}
	if lat > 0 && !req.Stream {
		sleepCtx(r, lat)
	}

	now := time.Now()
	s.mu.Lock()
	s.runOthers(d.refundFrom, now)
	if p.hasMax && p.maxC > p.completion {
		om := d.refundFrom
		for _, b := range []*bucket{om.tpm, om.tpd} {
			if b != nil {
				b.refund(now, float64(p.maxC-p.completion))
			}
		}
	}
	hdr := s.headersLocked(s.buckets[org+"\x00"+req.Model], now)
	s.stats.Tokens += p.prompt + p.completion
	s.mu.Unlock()
	copyHeader(w.Header(), hdr)
	w.Header().Set("X-Request-Id", reqID)
	c.counted = fault.Kind != FaultStreamCut
	c.record(http.StatusOK)

	u := usage{PromptTokens: p.prompt, CompletionTokens: p.completion, TotalTokens: p.prompt + p.completion,
		QueueTime: 0.01, PromptTime: float64(p.prompt) / 1e5, CompletionTime: float64(p.completion) / 1e3}
	if p.cached > 0 {
		u.PromptTokensDetails = &struct {
			CachedTokens int `json:"cached_tokens"`
		}{p.cached}
	}
	u.TotalTime = u.PromptTime + u.CompletionTime
	out := &streamAnswer{id: "chatcmpl-" + shortHash(reqID+p.content), reqID: reqID, content: p.content, calls: p.calls,
		finish: p.finish, usage: u, latency: lat, cut: fault.Kind == FaultStreamCut}
	if req.Stream {
		s.stream(w, r, req, out)
		return
	}
	writeCompletion(w, req, out, now)
}

// writeCompletion writes a whole completion; a FaultStreamCut stops half-way.
func writeCompletion(w http.ResponseWriter, req *request, a *streamAnswer, now time.Time) {
	msg := answerMessage(a.content, a.calls)
	var breakdown any
	if compound(req, msg, a.usage) {
		breakdown = map[string]any{"models": []any{map[string]any{"model": "openai/gpt-oss-120b", "usage": a.usage}}}
	}
	resp := map[string]any{
		"id": a.id, "object": "chat.completion", "created": now.Unix(), "model": req.Model,
		"choices": []any{map[string]any{
			"index": 0, "message": msg,
			"logprobs": nil, "finish_reason": a.finish,
		}},
		"usage": a.usage, "usage_breakdown": breakdown, "system_fingerprint": "fp_groqtest", "service_tier": "on_demand",
		"x_groq": map[string]any{"id": a.reqID, "seed": 42},
	}
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	if a.cut {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	w.Write(b)
}

// cachedPrefix is, with WithPromptCaching, the tokens of req's leading system
// messages when the organization sent the same ones to the model before: what
// Groq's prompt cache serves, which does not count toward the limits. It
// remembers them for the next request.
func (s *Server) cachedPrefix(org string, req *request) int {
	if !s.promptCache {
		return 0
	}
	var prefix strings.Builder
	tokens := 0
	for _, m := range req.Messages {
		if m.Role != "system" {
			break
		}
		prefix.WriteString(m.text())
		prefix.WriteByte(0)
		tokens += countTokens(m.text())
	}
	if tokens == 0 {
		return 0
	}
	k := org + "\x00" + req.Model + "\x00" + prefix.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cachedPrompts[k] {
		return s.serverTokens(tokens)
	}
	if s.cachedPrompts == nil {
		s.cachedPrompts = map[string]bool{}
	}
	s.cachedPrompts[k] = true
	return 0
}

// compound adds to msg what Groq's compound answers carry: for a groq/compound
// model, the web search it ran (executed_tools); for a request with documents
// (and citations not disabled), a citation of the first one (annotations). It
// reports whether the model is a compound system.
func compound(req *request, msg map[string]any, u usage) bool {
	is := strings.HasPrefix(req.Model, "groq/compound")
	if is {
		q, _ := json.Marshal(map[string]string{"query": req.lastUser()})
		msg["executed_tools"] = []any{map[string]any{
			"index": 0, "type": "search", "arguments": string(q), "output": "Title: A simulated result\nURL: https://example.com/result",
			"search_results": map[string]any{"results": []any{map[string]any{"title": "A simulated result", "url": "https://example.com/result",
				"content": "What the simulator found.", "score": 0.9}}},
		}}
	}
	if len(req.Documents) > 0 && req.CitationOptions != "disabled" {
		content, _ := msg["content"].(string)
		msg["annotations"] = []any{map[string]any{"type": "document_citation",
			"document_citation": map[string]any{"document_id": req.Documents[0].ID, "start_index": 0, "end_index": len(content)}}}
	}
	return is
}

// answerMessage is an answer's assistant message: content, or tool calls (with a null
// content, as Groq sends them).
func answerMessage(content string, calls []toolCall) map[string]any {
	if len(calls) > 0 {
		return map[string]any{"role": "assistant", "content": nil, "tool_calls": calls}
	}
	return map[string]any{"role": "assistant", "content": content}
}

type usage struct {
	QueueTime           float64 `json:"queue_time"`
	PromptTokens        int     `json:"prompt_tokens"`
	PromptTime          float64 `json:"prompt_time"`
	CompletionTokens    int     `json:"completion_tokens"`
	CompletionTime      float64 `json:"completion_time"`
	TotalTokens         int     `json:"total_tokens"`
	TotalTime           float64 `json:"total_time"`
	PromptTokensDetails *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details,omitempty"`
}

func validate(r *request) (msg, param string) {
	switch {
	case r.Model == "":
		return "'model' : property 'model' is missing", "model"
	case len(r.Messages) == 0:
		return "'messages' : minimum number of items is 1", "messages"
	case r.N != nil && *r.N != 1:
		return "'n' : number must be at most 1", "n"
	case len(r.Logprobs) > 0 && string(r.Logprobs) != "null" && string(r.Logprobs) != "false":
		return "logprobs is not supported", "logprobs"
	case len(r.LogitBias) > 0 && string(r.LogitBias) != "null":
		return "logit_bias is not supported", "logit_bias"
	case len(r.TopLogprobs) > 0 && string(r.TopLogprobs) != "null":
		return "top_logprobs is not supported", "top_logprobs"
	}
	for i, m := range r.Messages {
		switch m.Role {
		case "system", "user", "assistant", "tool":
		default:
			return fmt.Sprintf("'messages.%d' : discriminator property 'role' has invalid value", i), "messages"
		}
		if m.Name != nil {
			return fmt.Sprintf("'messages.%d' : property 'name' is unsupported", i), "messages"
		}
	}
	if n, ok := r.maxCompletion(); ok && n < 1 {
		return "'max_completion_tokens' : number must be at least 1", "max_completion_tokens"
	}
	return r.validateStructure()
}

// answer is the deterministic reply to a request: it names the prompt, so tests can
// tell answers apart.
func answer(r *request, maxC int, hasMax bool) (content, finish string) {
	var all strings.Builder
	for _, m := range r.Messages {
		all.WriteString(m.Role)
		all.WriteString(":")
		all.WriteString(m.text())
		all.WriteString("\n")
	}
	p := r.lastUser()
	if len(p) > 48 {
		p = p[:48]
	}
	content = fmt.Sprintf("Simulated answer to %q [%s].", p, shortHash(all.String()))
	if hasMax && countTokens(content) > maxC {
		return content[:maxC*4], "length"
	}
	return content, "stop"
}

// admit applies the organization's limits for model to a request of cost tokens.
func (s *Server) admit(org, model string, l Limits, now time.Time, cost int) decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := org + "\x00" + model
	om := s.buckets[k]
	if om == nil {
		om = &orgModel{}
		mk := func(n, capacity int, p time.Duration) *bucket {
			if n <= 0 {
				return nil
			}
			return newBucket(n, capacity, p, s.shape, now)
		}
		om.rpm, om.rpd = mk(l.RPM, l.Burst, time.Minute), mk(l.RPD, 0, 24*time.Hour)
		om.tpm, om.tpd = mk(l.TPM, l.TokenBurst, time.Minute), mk(l.TPD, 0, 24*time.Hour)
		om.ash, om.asd = mk(l.ASH, 0, time.Hour), mk(l.ASD, 0, 24*time.Hour)
		s.buckets[k] = om
		s.spendToday(om, model, now)
		s.attachOthers(om, org, model, now)
	}
	s.runOthers(om, now)
	d := decision{status: http.StatusOK, refundFrom: om, requested: cost}
	if now.After(om.retryIssued) && now.Before(om.retryUntil) {
		d.violation = true
	}
	if (l.TPM > 0 && cost > l.TPM) || (l.TPD > 0 && cost > l.TPD) {
		d.status, d.limit = http.StatusRequestEntityTooLarge, l.TPM
		if l.TPM == 0 || (l.TPD > 0 && cost > l.TPD && cost <= l.TPM) {
			d.limit = l.TPD
		}
		d.headers = s.headersLocked(om, now)
		return d
	}
	checks := []struct {
		name string
		b    *bucket
		n    int
		lim  int
	}{{"RPM", om.rpm, 1, l.RPM}, {"RPD", om.rpd, 1, l.RPD}, {"TPM", om.tpm, cost, l.TPM}, {"TPD", om.tpd, cost, l.TPD},
		{"ASH", om.ash, cost, l.ASH}, {"ASD", om.asd, cost, l.ASD}}
	for _, c := range checks {
		if c.b == nil {
			continue
		}
		if wt := c.b.waitFor(now, float64(c.n)); wt > d.wait {
			d.wait, d.limitName, d.limit = wt, c.name, c.lim
			d.used = c.lim - int(math.Max(0, math.Floor(c.b.available(now))))
			d.requested = c.n
		}
	}
	if d.wait > 0 {
		d.status = http.StatusTooManyRequests
		d.headers = s.headersLocked(om, now)
		return d
	}
	for _, c := range checks {
		if c.b != nil {
			c.b.take(now, float64(c.n))
		}
	}
	return d
}

// headersLocked builds the x-ratelimit-* headers, with Groq's meanings: requests per
// day, tokens per minute. s.mu is held.
func (s *Server) headersLocked(om *orgModel, now time.Time) http.Header {
	h := http.Header{}
	if om == nil {
		return h
	}
	s.runOthers(om, now)
	if om.rpd != nil {
		h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(int(om.rpd.limit)))
		h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(int(math.Max(0, math.Floor(om.rpd.available(now))))))
		h.Set("X-Ratelimit-Reset-Requests", FormatDuration(om.rpd.resetIn(now)))
	}
	if om.tpm != nil {
		h.Set("X-Ratelimit-Limit-Tokens", strconv.Itoa(int(om.tpm.limit)))
		h.Set("X-Ratelimit-Remaining-Tokens", strconv.Itoa(int(math.Max(0, math.Floor(om.tpm.available(now))))))
		h.Set("X-Ratelimit-Reset-Tokens", FormatDuration(om.tpm.resetIn(now)))
	}
	return h
}

// FormatDuration writes d as Groq does in reset headers and messages: Go's duration
// syntax at millisecond precision ("2m59.56s", "7.66s", "150ms").
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return d.Round(time.Millisecond).String()
}

var limitWords = map[string]string{
	"RPM": "requests per minute", "RPD": "requests per day",
	"TPM": "tokens per minute", "TPD": "tokens per day",
	"ASH": "seconds of audio per hour", "ASD": "seconds of audio per day",
}

func (s *Server) writeRateLimited(w http.ResponseWriter, r *http.Request, req *request, org string, d decision, reqID string) {
	secs := int(math.Ceil(d.wait.Seconds()))
	copyHeader(w.Header(), d.headers)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	typ := "requests"
	switch d.limitName[0] {
	case 'T':
		typ = "tokens"
	case 'A':
		typ = "seconds"
	}
	msg := fmt.Sprintf("Rate limit reached for model `%s` in organization `%s` service tier `on_demand` on %s (%s): Limit %d, Used %d, Requested %d. Please try again in %s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing",
		req.Model, org, limitWords[d.limitName], d.limitName, d.limit, d.used, d.requested, FormatDuration(d.wait))
	s.mu.Lock()
	om := s.buckets[org+"\x00"+req.Model]
	now := time.Now()
	om.retryIssued = now
	if until := now.Add(time.Duration(secs) * time.Second); until.After(om.retryUntil) {
		om.retryUntil = until
	}
	s.mu.Unlock()
	writeError(w, reqID, errorBody{http.StatusTooManyRequests, msg, typ, "rate_limit_exceeded", ""})
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = append([]string(nil), v...)
	}
}

func sleepCtx(r *http.Request, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// injectFault writes fault f, reporting the status sent and whether the request is
// done. FaultSlow and FaultStreamCut act later and return false.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, f Fault, reqID string) (int, bool) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	copyHeader(w.Header(), f.Header)
	switch f.Kind {
	case FaultStatus:
		writeError(w, reqID, errorBody{f.Status, "Simulated " + http.StatusText(f.Status), "invalid_request_error", "", ""})
		return f.Status, true
	case Fault500:
		writeError(w, reqID, errorBody{500, "Internal Server Error", "internal_server_error", "", ""})
		return 500, true
	case Fault502:
		writeError(w, reqID, errorBody{502, "Bad Gateway", "internal_server_error", "", ""})
		return 502, true
	case Fault503:
		writeError(w, reqID, errorBody{503, "Service Unavailable", "internal_server_error", "", ""})
		return 503, true
	case FaultCapacity:
		writeError(w, reqID, errorBody{498, "Flex tier capacity exceeded. This is a flex tier request and the capacity is currently exhausted. Please try again later.", "invalid_request_error", "capacity_exceeded", ""})
		return 498, true
	case Fault429:
		writeError(w, reqID, errorBody{429, "Rate limit reached (injected). Please try again in " + retryAfterText(f.RetryAfter) + ".", "requests", "rate_limit_exceeded", ""})
		return 429, true
	case FaultDisconnect:
		panic(http.ErrAbortHandler)
	case FaultNotJSON:
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("X-Request-Id", reqID)
		w.WriteHeader(http.StatusOK)
		io.Copy(w, bytes.NewReader([]byte("<html><body>upstream proxy says hello</body></html>")))
		return 200, true
	}
	return 0, false
}

func retryAfterText(v string) string {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return FormatDuration(time.Duration(n * float64(time.Second)))
	}
	return "1s"
}
