package groqtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// streamAnswer is a completion to write: whole (writeCompletion) or as a stream.
type streamAnswer struct {
	id, reqID, content, finish string
	calls                      []toolCall
	usage                      usage
	latency                    time.Duration // spread over the stream's chunks
	cut                        bool          // FaultStreamCut: stop half-way
}

// stream writes content as data-only server-sent events, as Groq does: a first chunk
// with the role and x_groq.id, several content deltas (or one delta per tool call),
// a last chunk with the finish
// reason and x_groq.usage (and a top-level usage when include_usage was asked), then
// data: [DONE]. cut stops half-way without [DONE].
func (s *Server) stream(w http.ResponseWriter, r *http.Request, req *request, a *streamAnswer) {
	id, reqID, content, calls, finish, u, latency, cut := a.id, a.reqID, a.content, a.calls, a.finish, a.usage, a.latency, a.cut
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	created := time.Now().Unix()
	base := func(choice map[string]any) map[string]any {
		return map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_groqtest", "choices": []any{choice},
		}
	}
	var events []map[string]any
	first := base(map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""}, "logprobs": nil, "finish_reason": nil})
	first["x_groq"] = map[string]any{"id": reqID, "seed": 42}
	events = append(events, first)
	if content != "" {
		for _, piece := range splitPieces(content, 4) {
			events = append(events, base(map[string]any{"index": 0, "delta": map[string]any{"content": piece}, "logprobs": nil, "finish_reason": nil}))
		}
	}
	for i, c := range calls { // Groq sends each call whole, in one delta
		d := map[string]any{"index": i, "id": c.ID, "type": c.Type, "function": c.Function}
		events = append(events, base(map[string]any{"index": 0, "delta": map[string]any{"tool_calls": []any{d}}, "logprobs": nil, "finish_reason": nil}))
	}
	last := base(map[string]any{"index": 0, "delta": map[string]any{}, "logprobs": nil, "finish_reason": finish})
	last["x_groq"] = map[string]any{"id": reqID, "usage": u}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		last["usage"] = u
	}
	events = append(events, last)

	gap := s.chunkWait
	if gap == 0 && latency > 0 {
		gap = latency / time.Duration(len(events))
	}
	for i, ev := range events {
		if cut && i == len(events)/2 {
			panic(http.ErrAbortHandler)
		}
		if i > 0 && gap > 0 {
			sleepCtx(r, gap)
		}
		if r.Context().Err() != nil {
			return
		}
		b, _ := json.Marshal(ev)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
}

// splitPieces cuts s into about n pieces at word boundaries.
func splitPieces(s string, n int) []string {
	words := strings.SplitAfter(s, " ")
	if len(words) <= n {
		return words
	}
	per := (len(words) + n - 1) / n
	var out []string
	for i := 0; i < len(words); i += per {
		out = append(out, strings.Join(words[i:min(i+per, len(words))], ""))
	}
	return out
}
