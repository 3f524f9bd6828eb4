package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/groqkit/groq"
)

// body reads the request's body, at most limit bytes (a 413 past it), within
// bodyTimeout, once its bytes fit among the bodies in flight (a 503 when they
// do not within bodyWait). The room is given back when the call ends.
func (q *request) body(limit int64) ([]byte, bool) {
	n := limit
	if cl := q.r.ContentLength; cl > limit {
		q.tooLarge(&http.MaxBytesError{Limit: limit})
		return nil, false
	} else if cl >= 0 {
		n = cl
	}
	if !q.room(n, q.g.bodyTimeout) {
		return nil, false
	}
	data := make([]byte, 0, n+1) // read into its size: no doubling growth
	buf := bytes.NewBuffer(data)
	_, err := buf.ReadFrom(http.MaxBytesReader(q.w, q.r.Body, limit))
	if err != nil {
		if !q.tooLarge(err) {
			q.fail(http.StatusBadRequest, &apiError{Message: "reading the request body: " + err.Error(), Type: "invalid_request_error"})
		}
		return nil, false
	}
	q.read()
	return buf.Bytes(), true
}

// room waits until n bytes fit among the bodies in flight (at most bodyWait),
// and gives the body read timeout to read them; false when it answered a 503.
func (q *request) room(n int64, timeout time.Duration) bool {
	n = max(1, min(n, q.g.cfg.MaxBodiesInFlight))
	if !q.g.bodies.TryAcquire(n) && !q.waitRoom(n) {
		q.w.Header().Set("Retry-After", "1")
		q.fail(http.StatusServiceUnavailable, &apiError{Message: "the gateway is reading as many request bodies as it holds at once; try again", Type: "server_error", Code: "busy"})
		return false
	}
	q.held += n
	http.NewResponseController(q.w).SetReadDeadline(time.Now().Add(timeout))
	return true
}

// waitRoom waits at most bodyWait for n bytes of room among the bodies.
func (q *request) waitRoom(n int64) bool {
	ctx, cancel := context.WithTimeout(q.r.Context(), q.g.bodyWait)
	defer cancel()
	return q.g.bodies.Acquire(ctx, n) == nil
}

// read lifts the body's read deadline once it is read: the server's watch for
// a caller that goes away reads on, and a deadline passing there would end the
// call's context.
func (q *request) read() {
	q.bodyRead = true
	http.NewResponseController(q.w).SetReadDeadline(time.Time{})
}

// tooLarge answers a 413 naming the bound when err is a body read past its
// http.MaxBytesReader, and says whether it did.
func (q *request) tooLarge(err error) bool {
	var mb *http.MaxBytesError
	if !errors.As(err, &mb) {
		return false
	}
	q.fail(http.StatusRequestEntityTooLarge, &apiError{Message: fmt.Sprintf("%v (%d bytes)", errBodyTooLarge, mb.Limit), Type: "invalid_request_error", Code: "request_too_large"})
	return true
}

// decode reads the request's JSON body (at most limit bytes) into v; false when
// it answered the refusal.
func (q *request) decode(limit int64, v any) bool {
	data, ok := q.body(limit)
	if !ok {
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		q.fail(http.StatusBadRequest, &apiError{Message: "We could not parse the JSON body of your request: " + err.Error(), Type: "invalid_request_error"})
		return false
	}
	return true
}

// begin is what every call to Groq does first: its priority, its context, and
// its turn among its token's calls in flight (MaxInFlight; a wait past its
// deadline is a 429). ok is false when the call was answered (refused) already.
func (q *request) begin() (ctx context.Context, cancel context.CancelFunc, opts []groq.CallOption, ok bool) {
	p, err := q.priority()
	if err == nil {
		ctx, cancel, err = q.context()
	}
	if err != nil {
		q.fail(http.StatusBadRequest, &apiError{Message: err.Error(), Type: "invalid_request_error"})
		return nil, nil, nil, false
	}
	if s := q.who.slots; s != nil {
		if err := s.Acquire(ctx, 1); err != nil {
			cancel()
			q.failWith(err)
			return nil, nil, nil, false
		}
		stop := cancel
		cancel = func() { stop(); s.Release(1) }
	}
	return ctx, cancel, q.who.opts[p], true
}

// chat serves POST chat/completions, plain or streamed. The body is a chat request
// as any OpenAI SDK sends it; every field passes through to Groq.
func (g *Gateway) chat(q *request) {
	if len(g.tokens) == 0 && !jsonBody(q.r) {
		q.fail(http.StatusUnsupportedMediaType, &apiError{Message: "a chat body is JSON: send Content-Type: application/json", Type: "invalid_request_error"})
		return
	}
	var req groq.ChatRequest
	if !q.decode(g.cfg.MaxBody, &req) {
		return
	}
	q.model = firstModel(&req)
	if status, e := g.checkModels(q.r.Context(), &req); e != nil {
		q.fail(status, e)
		return
	}
	ctx, cancel, opts, ok := q.begin()
	if !ok {
		return
	}
	defer cancel()
	if !q.reserve(chatCost(&req)) {
		return
	}
	q.w.Header().Set("X-Groq-Queue-Position", strconv.Itoa(g.c.Waiting(q.model, q.prio)))
	if req.Stream {
		g.stream(ctx, q, &req, opts)
		return
	}
	resp, err := g.c.ChatCompletion(ctx, &req, opts...)
	if err != nil {
		q.settle(0)
		q.failWith(err)
		return
	}
	q.settle(int64(usedTokens(resp.Usage)))
	q.meta(resp.Meta)
	q.served(resp.Model)
	if b := resp.Body(); b != nil { // Groq's bytes, unchanged: no encoding again
		q.write(http.StatusOK, b)
		return
	}
	q.json(http.StatusOK, resp)
}

// stream passes a streamed completion through chunk by chunk, as server-sent
// events ending with [DONE]. A failure before the first chunk is an error
// answer; after it, an error event, and no [DONE]. A caller that leaves a write
// unread for writeTimeout (or past its call's deadline) is cut, so that it
// does not hold a slot. What was sent is charged to the caller's budget: the
// usage Groq reports, else (a stream cut short) an estimate of what it sent.
func (g *Gateway) stream(ctx context.Context, q *request, req *groq.ChatRequest, opts []groq.CallOption) {
	st, err := g.c.ChatCompletionStream(ctx, req, opts...)
	if err != nil {
		q.settle(0)
		q.failWith(err)
		return
	}
	defer st.Close()
	q.meta(st.Meta)
	more := st.Next() // the first event is read already: it names the model that serves
	if more {
		q.served(st.Current().Model)
	}
	h := q.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	q.status = http.StatusOK
	rc := http.NewResponseController(q.w)
	q.deadline(ctx, rc)
	q.w.WriteHeader(http.StatusOK)
	buf := make([]byte, 0, 512)
	sent := 0 // bytes of content sent, for a cut stream's charge
	defer func() {
		if u := st.Usage(); u != nil {
			q.settle(int64(u.TotalTokens))
			return
		}
		q.settle(int64(groq.EstimateTokens(req.Model, req.Messages) + (sent+3)/4))
	}()
	for ; more; more = st.Next() {
		ch := st.Current()
		for _, c := range ch.Choices {
			sent += len(c.Delta.Content) + len(c.Delta.Reasoning)
		}
		chunk, _ := json.Marshal(ch)
		buf = append(append(append(buf[:0], "data: "...), chunk...), "\n\n"...)
		q.deadline(ctx, rc)
		if _, err := q.w.Write(buf); err != nil {
			return // the caller went away or stopped reading: Close ends the call
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	if err := st.Err(); err != nil {
		status, e := q.errorOf(err)
		ev, _ := json.Marshal(map[string]any{"error": e})
		q.status = status
		q.deadline(ctx, rc)
		fmt.Fprintf(q.w, "data: %s\n\n", ev)
		return // no [DONE]: the stream did not end well
	}
	q.deadline(ctx, rc)
	q.w.Write([]byte("data: [DONE]\n\n"))
}

// served names the model that served the call, for a call of one model as
// for one that accepted several: the header X-Groq-Model and the log's model.
func (q *request) served(model string) {
	if model == "" {
		return
	}
	q.model = model
	q.w.Header().Set("X-Groq-Model", model)
}

// deadline bounds the next write to the caller: writeTimeout from now, and no
// later than the call's deadline.
func (q *request) deadline(ctx context.Context, rc *http.ResponseController) {
	d := time.Now().Add(q.g.writeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	rc.SetWriteDeadline(d)
}

// models serves GET models and GET models/{id}.
func (g *Gateway) models(q *request) {
	ctx, cancel := context.WithTimeout(q.r.Context(), time.Minute)
	defer cancel()
	if id := q.r.PathValue("id"); id != "" {
		m, err := g.c.Model(ctx, id)
		if err != nil {
			q.failWith(err)
			return
		}
		q.json(http.StatusOK, m)
		return
	}
	ms, err := g.c.Models(ctx)
	if err != nil {
		q.failWith(err)
		return
	}
	for i := range ms {
		if ms[i].Object == "" {
			ms[i].Object = "model"
		}
	}
	q.json(http.StatusOK, map[string]any{"object": "list", "data": ms})
}

// multipartMemory is how much of an upload's files is kept in memory; the
// rest waits in a temporary file, which the client reads from as it sends (it
// is not copied into memory). Parsing a larger file part still buffers about
// twice this much before it goes to disk, per upload.
const multipartMemory = 1 << 20

// transcribe serves POST audio/transcriptions and audio/translations: the caller's
// multipart form, read within the bound, becomes a TranscriptionRequest.
func (g *Gateway) transcribe(q *request) {
	n := g.cfg.MaxAudioBody
	if cl := q.r.ContentLength; cl > n {
		q.tooLarge(&http.MaxBytesError{Limit: n})
		return
	} else if cl >= 0 {
		n = cl
	}
	if !q.room(n, g.audioBodyTimeout) {
		return
	}
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, g.cfg.MaxAudioBody)
	err := q.r.ParseMultipartForm(multipartMemory)
	if err == nil {
		q.read()
	}
	if err != nil {
		if q.tooLarge(err) {
			return
		}
		q.fail(http.StatusBadRequest, &apiError{Message: "request must be multipart/form-data: " + err.Error(), Type: "invalid_request_error"})
		return
	}
	defer q.r.MultipartForm.RemoveAll()
	f := q.r.MultipartForm
	get := func(k string) string {
		if v := f.Value[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	req := &groq.TranscriptionRequest{Model: get("model"), URL: get("url"), Language: get("language"), Prompt: get("prompt"),
		ResponseFormat: get("response_format"), TimestampGranularities: f.Value["timestamp_granularities[]"]}
	if t := get("temperature"); t != "" {
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			q.fail(http.StatusBadRequest, &apiError{Message: "temperature is not a number", Type: "invalid_request_error", Param: ptr("temperature")})
			return
		}
		req.Temperature = &v
	}
	if files := f.File["file"]; len(files) > 0 {
		file, err := files[0].Open()
		if err != nil {
			q.fail(http.StatusBadRequest, &apiError{Message: "reading the file: " + err.Error(), Type: "invalid_request_error", Param: ptr("file")})
			return
		}
		defer file.Close()
		req.File, req.FileName = file, files[0].Filename
	}
	q.model = req.Model
	ctx, cancel, opts, ok := q.begin()
	if !ok {
		return
	}
	defer cancel()
	if !q.reserve(1) { // audio is not counted in tokens; a spent budget refuses it
		return
	}
	defer q.settle(0)
	call := g.c.Transcribe
	if strings.HasSuffix(q.r.URL.Path, "/translations") {
		call = g.c.Translate
	}
	tr, err := call(ctx, req, opts...)
	if err != nil {
		q.failWith(err)
		return
	}
	q.meta(tr.Meta)
	if req.ResponseFormat == "text" {
		q.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(q.w, tr.Text+"\n")
		return
	}
	q.json(http.StatusOK, tr)
}

// speech serves POST audio/speech: the audio's bytes as they arrive.
func (g *Gateway) speech(q *request) {
	var req groq.SpeechRequest
	if !q.decode(g.cfg.MaxBody, &req) {
		return
	}
	q.model = req.Model
	ctx, cancel, opts, ok := q.begin()
	if !ok {
		return
	}
	defer cancel()
	if !q.reserve(1) {
		return
	}
	defer q.settle(0)
	st, err := g.c.SpeechStream(ctx, &req, opts...)
	if err != nil {
		q.failWith(err)
		return
	}
	defer st.Close()
	q.meta(st.Meta)
	q.w.Header().Set("Content-Type", st.ContentType)
	q.w.WriteHeader(http.StatusOK)
	io.Copy(q.w, st)
}

// meta sets the answer's headers: Groq's request id and rate-limit headers (with
// Groq's meanings), and how long the call waited in the gateway's queue.
func (q *request) meta(m groq.ResponseMeta) {
	h := q.w.Header()
	if m.RequestID != "" {
		h.Set("X-Request-Id", m.RequestID)
	}
	h.Set("X-Groq-Queue-Wait-Ms", strconv.FormatInt(m.Queued.Milliseconds(), 10))
	rl := m.RateLimit
	set := func(name string, v int) {
		if v >= 0 {
			h.Set(name, strconv.Itoa(v))
		}
	}
	if rl.Present {
		set("X-Ratelimit-Limit-Requests", rl.RequestsPerDay)
		set("X-Ratelimit-Remaining-Requests", rl.RequestsLeftToday)
		set("X-Ratelimit-Limit-Tokens", rl.TokensPerMinute)
		set("X-Ratelimit-Remaining-Tokens", rl.TokensLeftInMinute)
	}
}

func (q *request) json(status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		q.fail(http.StatusInternalServerError, &apiError{Message: "encoding the answer: " + err.Error(), Type: "server_error"})
		return
	}
	q.write(status, data)
}

// write answers status with the JSON data, within the write bound.
func (q *request) write(status int, data []byte) {
	http.NewResponseController(q.w).SetWriteDeadline(time.Now().Add(q.g.writeTimeout))
	q.status = status
	h := q.w.Header()
	h["Content-Type"] = jsonType
	h["Content-Length"] = []string{strconv.Itoa(len(data))}
	q.w.WriteHeader(status)
	q.w.Write(data)
}

var jsonType = []string{"application/json"}

func usedTokens(u *groq.Usage) int {
	if u == nil {
		return 0
	}
	return u.TotalTokens
}
