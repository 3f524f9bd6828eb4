package groqtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// The Files and Batches endpoints: a file store per organization, and batches that
// run on the server's clock. A batch validates its input when it is created (a
// line that is not a JSON object with a custom_id, a repeated custom_id or
// another endpoint fails the whole batch, as Groq does); it then validates for a
// tenth of the batch duration, runs for the rest (its request counts grow
// linearly), and completes with an output file of the successful lines and an
// error file of the failed ones. A line fails when its body is not a valid chat
// request for a model the server serves, or at the failure rate. Batches use no
// per-minute limit.

// DefaultBatchDuration is how long a simulated batch takes without
// WithBatchDuration.
const DefaultBatchDuration = 2 * time.Second

// WithBatchDuration sets how long a batch takes from creation to completion
// (DefaultBatchDuration by default). It panics when d is not positive.
func WithBatchDuration(d time.Duration) Option {
	return func(s *Server) {
		if d <= 0 {
			panic("groqtest: WithBatchDuration: the duration must be positive")
		}
		s.batchDuration = d
	}
}

// WithBatchFailureRate makes each line of a batch fail with probability p (a 500
// in the error file), drawn from the server's seeded random source when the batch
// is created. It panics when p is outside [0, 1].
func WithBatchFailureRate(p float64) Option {
	return func(s *Server) {
		if !(p >= 0 && p <= 1) {
			panic("groqtest: WithBatchFailureRate: p must be within [0, 1]")
		}
		s.batchFailRate = p
	}
}

type simFile struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Bytes     int    `json:"bytes"`
	CreatedAt int64  `json:"created_at"`
	Filename  string `json:"filename"`
	Purpose   string `json:"purpose"`

	org  string
	data []byte
}

type simLine struct {
	customID string
	req      *request
	fail     string // why the line fails ("" when it succeeds)
	status   int
}

type simBatch struct {
	id, org, input, window string
	metadata               map[string]string
	created, cancelAt      time.Time
	lines                  []simLine
	invalid                []map[string]any // validation errors: the batch fails
	output, errors         string           // file ids, once finished
	finished               bool
}

// serveFilesAndBatches answers the Files and Batches endpoints; tail is the path
// after the API root (…/v1). It returns false for a path it does not serve.
func (s *Server) serveFilesAndBatches(w http.ResponseWriter, r *http.Request, tail string) bool {
	parts := strings.Split(strings.Trim(tail, "/"), "/")
	if len(parts) == 0 || (parts[0] != "files" && parts[0] != "batches") {
		return false
	}
	reqID := s.requestID()
	org, ok := s.org(bearer(r))
	if !ok {
		writeError(w, reqID, errorBody{http.StatusUnauthorized, "Invalid API Key", "invalid_request_error", "invalid_api_key", ""})
		return true
	}
	w.Header().Set("X-Request-Id", reqID)
	m := r.Method
	switch {
	case parts[0] == "files" && len(parts) == 1 && m == http.MethodPost:
		s.uploadFile(w, r, org, reqID)
	case parts[0] == "files" && len(parts) == 1 && m == http.MethodGet:
		s.mu.Lock()
		list := []*simFile{}
		for _, f := range s.files {
			if f.org == org {
				list = append(list, f)
			}
		}
		s.mu.Unlock()
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
		writeJSON(w, map[string]any{"object": "list", "data": list})
	case parts[0] == "files" && len(parts) >= 2 && len(parts) <= 3:
		return s.serveFile(w, org, reqID, parts, m)
	case parts[0] == "batches" && len(parts) == 1 && m == http.MethodPost:
		s.createBatch(w, r, org, reqID)
	case parts[0] == "batches" && len(parts) == 1 && m == http.MethodGet:
		now := time.Now()
		s.mu.Lock()
		list := []map[string]any{}
		ids := make([]string, 0, len(s.batches))
		for id, b := range s.batches {
			if b.org == org {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			list = append(list, s.batchJSON(s.batches[id], now))
		}
		s.mu.Unlock()
		writeJSON(w, map[string]any{"object": "list", "data": list})
	case parts[0] == "batches" && (len(parts) == 2 && m == http.MethodGet || len(parts) == 3 && parts[2] == "cancel" && m == http.MethodPost):
		s.batchByID(w, org, reqID, parts)
	default:
		return false
	}
	return true
}

// serveFile answers GET and DELETE /files/{id} and GET /files/{id}/content; it
// returns false for another method or path.
func (s *Server) serveFile(w http.ResponseWriter, org, reqID string, parts []string, m string) bool {
	s.mu.Lock()
	f := s.files[parts[1]]
	if f != nil && f.org != org {
		f = nil
	}
	if f != nil && m == http.MethodDelete && len(parts) == 2 {
		delete(s.files, f.ID)
	}
	s.mu.Unlock()
	switch {
	case f == nil:
		writeError(w, reqID, errorBody{http.StatusNotFound, fmt.Sprintf("file %s not found", parts[1]), "invalid_request_error", "not_found", ""})
	case len(parts) == 3 && parts[2] == "content" && m == http.MethodGet:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(f.data)
	case len(parts) == 2 && m == http.MethodGet:
		writeJSON(w, f)
	case len(parts) == 2 && m == http.MethodDelete:
		writeJSON(w, map[string]any{"id": f.ID, "object": "file", "deleted": true})
	default:
		return false
	}
	return true
}

// batchByID answers GET /batches/{id} and POST /batches/{id}/cancel.
func (s *Server) batchByID(w http.ResponseWriter, org, reqID string, parts []string) {
	now := time.Now()
	s.mu.Lock()
	b := s.batches[parts[1]]
	if b != nil && b.org != org {
		b = nil
	}
	var out map[string]any
	if b != nil {
		if len(parts) == 3 && b.cancelAt.IsZero() && !b.finished {
			s.batchJSON(b, now) // settle the state first: a batch already done stays done
			if !b.finished {
				b.cancelAt = now
			}
		}
		out = s.batchJSON(b, now)
	}
	s.mu.Unlock()
	if b == nil {
		writeError(w, reqID, errorBody{http.StatusNotFound, fmt.Sprintf("batch %s not found", parts[1]), "invalid_request_error", "not_found", ""})
		return
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request, org, reqID string) {
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		writeError(w, reqID, errorBody{http.StatusBadRequest, "the body must be multipart/form-data: " + err.Error(), "invalid_request_error", "", ""})
		return
	}
	defer r.MultipartForm.RemoveAll()
	purpose := r.FormValue("purpose")
	if purpose != "batch" {
		writeError(w, reqID, errorBody{http.StatusBadRequest, fmt.Sprintf("purpose must be 'batch', got %q", purpose), "invalid_request_error", "", "purpose"})
		return
	}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		writeError(w, reqID, errorBody{http.StatusBadRequest, "'file' is missing", "invalid_request_error", "", "file"})
		return
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, 100<<20+1))
	if err != nil || len(data) > 100<<20 {
		writeError(w, reqID, errorBody{http.StatusRequestEntityTooLarge, "the file is larger than 100 MB", "invalid_request_error", "", "file"})
		return
	}
	f := s.storeFile(org, hdr.Filename, "batch", data, time.Now())
	writeJSON(w, f)
}

// storeFile keeps a file and returns it.
func (s *Server) storeFile(org, name, purpose string, data []byte, now time.Time) *simFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeFileLocked(org, name, purpose, data, now)
}

func (s *Server) storeFileLocked(org, name, purpose string, data []byte, now time.Time) *simFile {
	if s.files == nil {
		s.files = map[string]*simFile{}
	}
	s.nextFile++
	f := &simFile{ID: fmt.Sprintf("file_sim%08d", s.nextFile), Object: "file", Bytes: len(data), CreatedAt: now.Unix(),
		Filename: name, Purpose: purpose, org: org, data: data}
	s.files[f.ID] = f
	return f
}

func (s *Server) createBatch(w http.ResponseWriter, r *http.Request, org, reqID string) {
	var p struct {
		InputFileID      string            `json:"input_file_id"`
		Endpoint         string            `json:"endpoint"`
		CompletionWindow string            `json:"completion_window"`
		Metadata         map[string]string `json:"metadata"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&p); err != nil {
		writeError(w, reqID, errorBody{http.StatusBadRequest, "We could not parse the JSON body of your request.", "invalid_request_error", "", ""})
		return
	}
	if p.Endpoint != "/v1/chat/completions" {
		writeError(w, reqID, errorBody{http.StatusBadRequest, fmt.Sprintf("endpoint %q is not supported", p.Endpoint), "invalid_request_error", "", "endpoint"})
		return
	}
	if !validWindow(p.CompletionWindow) {
		writeError(w, reqID, errorBody{http.StatusBadRequest, fmt.Sprintf("completion_window %q must be between 24h and 7d", p.CompletionWindow), "invalid_request_error", "", "completion_window"})
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[p.InputFileID]
	if f == nil || f.org != org || f.Purpose != "batch" {
		writeError(w, reqID, errorBody{http.StatusBadRequest, fmt.Sprintf("input file %s not found", p.InputFileID), "invalid_request_error", "", "input_file_id"})
		return
	}
	s.nextBatch++
	b := &simBatch{id: fmt.Sprintf("batch_sim%08d", s.nextBatch), org: org, input: f.ID, window: p.CompletionWindow,
		metadata: p.Metadata, created: now}
	seen := map[string]bool{}
	for i, raw := range bytes.Split(f.data, []byte("\n")) {
		s.readBatchLine(b, i+1, raw, seen)
	}
	if len(b.lines) == 0 && len(b.invalid) == 0 {
		b.invalid = append(b.invalid, map[string]any{"code": "empty_file", "message": "the input file has no lines"})
	}
	if s.batches == nil {
		s.batches = map[string]*simBatch{}
	}
	s.batches[b.id] = b
	writeJSON(w, s.batchJSON(b, now))
}

// readBatchLine checks line n of a batch's input and adds it to b: as invalid
// (the batch fails validation), as a line that will fail, or as a request. The
// caller holds s.mu.
func (s *Server) readBatchLine(b *simBatch, n int, raw []byte, seen map[string]bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	var line struct {
		CustomID string          `json:"custom_id"`
		Method   string          `json:"method"`
		URL      string          `json:"url"`
		Body     json.RawMessage `json:"body"`
	}
	invalid := func(code, msg string) {
		b.invalid = append(b.invalid, map[string]any{"code": code, "message": msg, "line": n})
	}
	if err := json.Unmarshal(raw, &line); err != nil {
		invalid("invalid_json_line", "line is not a JSON object: "+err.Error())
		return
	}
	switch {
	case line.CustomID == "":
		invalid("missing_custom_id", "custom_id is missing")
		return
	case seen[line.CustomID]:
		invalid("duplicate_custom_id", fmt.Sprintf("custom_id %q is repeated", line.CustomID))
		return
	case line.URL != "/v1/chat/completions" || (line.Method != "" && line.Method != "POST"):
		invalid("invalid_url", fmt.Sprintf("line must POST to /v1/chat/completions, not %s %s", line.Method, line.URL))
		return
	}
	seen[line.CustomID] = true
	sl := simLine{customID: line.CustomID}
	var req request
	if err := json.Unmarshal(line.Body, &req); err != nil {
		sl.fail, sl.status = "the body is not a chat request", http.StatusBadRequest
	} else if msg, _ := validate(&req); msg != "" {
		sl.fail, sl.status = msg, http.StatusBadRequest
	} else if _, known := s.models[req.Model]; !known {
		sl.fail, sl.status = fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model), http.StatusNotFound
	} else if s.batchFailRate > 0 && s.rng.Float64() < s.batchFailRate {
		sl.fail, sl.status = "simulated internal error", http.StatusInternalServerError
	}
	sl.req = &req
	b.lines = append(b.lines, sl)
}

func validWindow(w string) bool {
	var n int
	var unit string
	if _, err := fmt.Sscanf(w, "%d%s", &n, &unit); err != nil || fmt.Sprintf("%d%s", n, unit) != w {
		return false
	}
	switch unit {
	case "d":
		n *= 24
	case "h":
	default:
		return false
	}
	return n >= 24 && n <= 168
}

// batchJSON is the batch as the API describes it at now, finishing it (writing its
// files) when its time has come. s.mu is held.
func (s *Server) batchJSON(b *simBatch, now time.Time) map[string]any {
	d := s.batchDuration
	if d == 0 {
		d = DefaultBatchDuration
	}
	validated := b.created.Add(d / 10)
	done := func(t time.Time) int { // lines finished by t
		if t.Before(validated) {
			return 0
		}
		k := int(float64(len(b.lines)) * float64(t.Sub(validated)) / float64(d-d/10))
		return min(k, len(b.lines))
	}
	ts := func(t time.Time) int64 { return t.Unix() }
	out := map[string]any{"id": b.id, "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": b.input,
		"completion_window": b.window, "created_at": ts(b.created), "expires_at": ts(b.created.Add(24 * time.Hour)),
		"metadata": b.metadata, "output_file_id": nil, "error_file_id": nil, "errors": nil}
	counts := func(k int) {
		failed := 0
		for _, l := range b.lines[:k] {
			if l.fail != "" {
				failed++
			}
		}
		out["request_counts"] = map[string]int{"total": len(b.lines), "completed": k - failed, "failed": failed}
	}
	switch {
	case len(b.invalid) > 0:
		out["request_counts"] = map[string]int{"total": 0, "completed": 0, "failed": 0}
		if now.Before(validated) {
			out["status"] = "validating"
			break
		}
		out["status"], out["failed_at"] = "failed", ts(validated)
		out["errors"] = map[string]any{"object": "list", "data": b.invalid}
	case !b.cancelAt.IsZero():
		k := done(b.cancelAt)
		counts(k)
		out["cancelling_at"] = ts(b.cancelAt)
		if now.Before(b.cancelAt.Add(d / 20)) {
			out["status"] = "cancelling"
			break
		}
		s.finishBatch(b, k, now)
		out["status"], out["cancelled_at"] = "cancelled", ts(b.cancelAt.Add(d/20))
	case now.Before(validated):
		out["status"] = "validating"
		counts(0)
	case now.Before(b.created.Add(d)):
		out["status"], out["in_progress_at"] = "in_progress", ts(validated)
		counts(done(now))
	default:
		counts(len(b.lines))
		s.finishBatch(b, len(b.lines), now)
		out["status"], out["in_progress_at"], out["finalizing_at"], out["completed_at"] = "completed", ts(validated), ts(b.created.Add(d)), ts(b.created.Add(d))
	}
	if b.output != "" {
		out["output_file_id"] = b.output
	}
	if b.errors != "" {
		out["error_file_id"] = b.errors
	}
	return out
}

// failCode is the error code of a failed line, by its status.
var failCode = map[int]string{http.StatusBadRequest: "invalid_request", http.StatusNotFound: "model_not_found", http.StatusInternalServerError: "internal_server_error"}

// finishBatch writes the output and error files of a batch's first k lines, once.
// s.mu is held.
func (s *Server) finishBatch(b *simBatch, k int, now time.Time) {
	if b.finished {
		return
	}
	b.finished = true
	var ok, failed bytes.Buffer
	enc := func(buf *bytes.Buffer, v any) {
		line, _ := json.Marshal(v)
		buf.Write(line)
		buf.WriteByte('\n')
	}
	for i, l := range b.lines[:k] {
		s.nextID++
		reqID := fmt.Sprintf("req_sim%012d", s.nextID)
		id := fmt.Sprintf("batch_req_%s_%d", b.id, i)
		if l.fail != "" {
			enc(&failed, map[string]any{"id": id, "custom_id": l.customID, "response": map[string]any{
				"status_code": l.status, "request_id": reqID,
				"body": map[string]any{"error": map[string]any{"message": l.fail, "type": "invalid_request_error"}}},
				"error": map[string]any{"code": failCode[l.status], "message": l.fail}})
			continue
		}
		maxC, hasMax := l.req.maxCompletion()
		content, finish := answer(l.req, maxC, hasMax)
		prompt, completion := s.serverTokens(l.req.promptTokens()), countTokens(content)
		enc(&ok, map[string]any{"id": id, "custom_id": l.customID, "error": nil, "response": map[string]any{
			"status_code": 200, "request_id": reqID,
			"body": map[string]any{"id": "chatcmpl-" + shortHash(reqID+content), "object": "chat.completion", "created": now.Unix(), "model": l.req.Model,
				"choices": []any{map[string]any{"index": 0, "message": answerMessage(content, nil), "finish_reason": finish}},
				"usage":   map[string]int{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}},
		}})
	}
	if ok.Len() > 0 {
		b.output = s.storeFileLocked(b.org, b.id+"_output.jsonl", "batch_output", ok.Bytes(), now).ID
	}
	if failed.Len() > 0 {
		b.errors = s.storeFileLocked(b.org, b.id+"_errors.jsonl", "batch_output", failed.Bytes(), now).ID
	}
}
