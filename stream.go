package groq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
)

// replayStream serves a cached response as a stream: a role chunk, the content,
// the tool calls, and a last chunk with the finish reason and usage.
func replayStream(resp *ChatResponse) *Stream {
	st := &Stream{ctx: context.Background(), start: time.Now(), Meta: resp.Meta, model: resp.Model}
	mk := func(d Delta, finish string) *ChatChunk {
		return &ChatChunk{ID: resp.ID, Object: "chat.completion.chunk", Created: resp.Created, Model: resp.Model,
			SystemFingerprint: resp.SystemFingerprint, Choices: []ChunkChoice{{Delta: d, FinishReason: finish}}}
	}
	var msg Message
	finish := "stop"
	if len(resp.Choices) > 0 {
		msg, finish = resp.Choices[0].Message, resp.Choices[0].FinishReason
	}
	first := mk(Delta{Role: RoleAssistant}, "")
	if resp.XGroq != nil {
		first.XGroq = &XGroq{ID: resp.XGroq.ID}
	}
	st.replay = append(st.replay, first)
	if msg.Reasoning != "" {
		st.replay = append(st.replay, mk(Delta{Reasoning: msg.Reasoning}, ""))
	}
	if msg.Content != "" {
		st.replay = append(st.replay, mk(Delta{Content: msg.Content}, ""))
	}
	for i, tc := range msg.ToolCalls {
		st.replay = append(st.replay, mk(Delta{ToolCalls: []ToolCallDelta{{Index: i, ID: tc.ID, Type: tc.Type, Function: tc.Function}}}, ""))
	}
	last := mk(Delta{}, finish)
	last.Usage = resp.Usage
	st.replay = append(st.replay, last)
	return st
}

// Stream is a streamed chat completion. Read it like a bufio.Scanner:
//
//	for st.Next() {
//		fmt.Print(st.Current().Choices[0].Delta.Content)
//	}
//	if err := st.Err(); err != nil { ... }
//
// or range over All. Text, ToolCalls and Usage accumulate what has arrived. A
// Stream is not safe for concurrent use. Close releases the connection, the
// concurrency slot and the token reservation; it is safe to call more than once.
type Stream struct {
	c        *Client
	ctx      context.Context
	res      *attemptResult
	sse      *sseReader
	reserved int // the tokens its admission reserved
	start    time.Time

	first  *ChatChunk // read before the stream was handed out
	cur    *ChatChunk
	err    error
	ended  bool
	done   bool         // the last event arrived
	chunks int          // chunks handed to the caller
	call   *call        // ended when the stream ends (nil in a bare replay)
	replay []*ChatChunk // a cached answer replayed: no connection

	// Meta describes the request (request id, attempts, key, headers).
	Meta ResponseMeta

	text, reasoning strings.Builder
	calls           []ToolCall
	usage           *Usage
	finish          string
	id, model       string
	created         int64
	fingerprint     string
	tier            string
	xgroqID         string
}

// errNoDone is a stream that ended without data: [DONE].
var errNoDone = errors.New("groq: stream ended before [DONE]")

// read returns the next chunk, or done at [DONE]. A failure to read is returned
// as is; an error event as a *StreamError.
func (s *Stream) read() (*ChatChunk, bool, error) {
	data, err := s.sse.next()
	if err != nil {
		if ctxErr := s.ctx.Err(); ctxErr != nil {
			return nil, false, fmt.Errorf("groq: stream: %w", ctxErr)
		}
		if err == io.EOF {
			return nil, false, errNoDone
		}
		if errors.Is(err, errEventTooLarge) { // the server did answer: not retried
			return nil, false, &StreamError{Err: err, RequestID: s.Meta.RequestID}
		}
		return nil, false, fmt.Errorf("groq: reading the stream: %w", err)
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("[DONE]")) {
		return nil, true, nil
	}
	var wire struct {
		ChatChunk
		Error *ErrorPayload `json:"error"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return nil, false, &StreamError{Err: fmt.Errorf("decoding a stream event: %w", err), RequestID: s.Meta.RequestID}
	}
	if wire.Error != nil {
		return nil, false, &StreamError{Err: s.eventError(wire.Error), RequestID: s.Meta.RequestID}
	}
	chunk := wire.ChatChunk
	if chunk.XGroq != nil && chunk.XGroq.Error != nil {
		s.accumulate(&chunk)
		return nil, false, &StreamError{Err: s.eventError(chunk.XGroq.Error), RequestID: s.Meta.RequestID}
	}
	return &chunk, false, nil
}

func (s *Stream) eventError(p *ErrorPayload) *APIError {
	e := &APIError{StatusCode: s.res.status, Type: p.Type, Code: p.Code, Param: p.Param,
		Message: p.Message, FailedGeneration: p.FailedGeneration, RequestID: s.Meta.RequestID}
	e.redact(s.c.redact)
	return e
}

// Next advances to the next chunk. It returns false at the end of the stream, on
// an error (see Err) or after Close.
func (s *Stream) Next() bool {
	if s.ended {
		return false
	}
	chunk := s.first
	s.first = nil
	if chunk == nil && s.res == nil { // replaying a cached answer
		if len(s.replay) == 0 {
			s.done = true
			s.end()
			return false
		}
		chunk, s.replay = s.replay[0], s.replay[1:]
	}
	if chunk == nil {
		var done bool
		var err error
		chunk, done, err = s.read()
		if err != nil {
			s.fail(err)
			return false
		}
		if done {
			s.done = true
			s.end()
			return false
		}
	}
	s.accumulate(chunk)
	s.cur = chunk
	s.chunks++
	return true
}

// Current is the chunk Next moved to.
func (s *Stream) Current() *ChatChunk { return s.cur }

// Err is the error that ended the stream: nil after [DONE] or Close, else a
// *StreamError that keeps the text received (it matches context.Canceled when the
// context ended).
func (s *Stream) Err() error { return s.err }

// All ranges over the chunks; a failure is yielded last, with a nil chunk. The
// stream is closed when the loop ends, early or not.
func (s *Stream) All() iter.Seq2[*ChatChunk, error] {
	return func(yield func(*ChatChunk, error) bool) {
		defer s.Close()
		for s.Next() {
			if !yield(s.Current(), nil) {
				return
			}
		}
		if s.err != nil {
			yield(nil, s.err)
		}
	}
}

// Close ends the stream early, if it has not ended, and releases its connection,
// concurrency slot and reservation.
func (s *Stream) Close() error {
	s.end()
	return nil
}

// Text is the content received so far (choice 0).
func (s *Stream) Text() string { return s.text.String() }

// Reasoning is the reasoning received so far (choice 0).
func (s *Stream) Reasoning() string { return s.reasoning.String() }

// ToolCalls are the tool calls assembled from their deltas so far.
func (s *Stream) ToolCalls() []ToolCall { return append([]ToolCall(nil), s.calls...) }

// Usage is the final usage (x_groq.usage, or the top-level usage with
// stream_options.include_usage); nil until the last chunk.
func (s *Stream) Usage() *Usage { return s.usage }

// FinishReason is choice 0's finish reason; empty until the last chunk.
func (s *Stream) FinishReason() string { return s.finish }

// Response assembles what was received into a ChatResponse.
func (s *Stream) Response() *ChatResponse {
	msg := Message{Role: RoleAssistant, Content: s.text.String(), Reasoning: s.reasoning.String(), ToolCalls: s.ToolCalls()}
	resp := &ChatResponse{
		ID: s.id, Object: "chat.completion", Created: s.created, Model: s.model,
		Choices: []Choice{{Index: 0, Message: msg, FinishReason: s.finish}},
		Usage:   s.usage, SystemFingerprint: s.fingerprint, ServiceTier: s.tier, Meta: s.Meta,
	}
	if s.xgroqID != "" {
		resp.XGroq = &XGroq{ID: s.xgroqID}
	}
	return resp
}

func (s *Stream) accumulate(c *ChatChunk) {
	if c.ID != "" {
		s.id = c.ID
	}
	if c.Model != "" {
		s.model = c.Model
	}
	if c.Created != 0 {
		s.created = c.Created
	}
	if c.SystemFingerprint != "" {
		s.fingerprint = c.SystemFingerprint
	}
	if c.ServiceTier != "" {
		s.tier = c.ServiceTier
	}
	if c.XGroq != nil {
		if c.XGroq.ID != "" {
			s.xgroqID = c.XGroq.ID
			if s.Meta.RequestID == "" {
				s.Meta.RequestID = c.XGroq.ID
			}
		}
		if c.XGroq.Usage != nil {
			s.usage = c.XGroq.Usage
		}
	}
	if c.Usage != nil {
		s.usage = c.Usage
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue
		}
		s.text.WriteString(ch.Delta.Content)
		s.reasoning.WriteString(ch.Delta.Reasoning)
		if ch.FinishReason != "" {
			s.finish = ch.FinishReason
		}
		for _, d := range ch.Delta.ToolCalls {
			if d.Index < 0 || d.Index > 1024 {
				continue
			}
			for len(s.calls) <= d.Index {
				s.calls = append(s.calls, ToolCall{Type: "function"})
			}
			tc := &s.calls[d.Index]
			if d.ID != "" {
				tc.ID = d.ID
			}
			if d.Type != "" {
				tc.Type = d.Type
			}
			tc.Function.Name += d.Function.Name
			tc.Function.Arguments += d.Function.Arguments
		}
	}
}

// fail ends the stream with err, keeping the text received.
func (s *Stream) fail(err error) {
	var se *StreamError
	if !errors.As(err, &se) {
		se = &StreamError{Err: err, RequestID: s.Meta.RequestID}
	}
	se.Text = s.text.String()
	s.err = se
	s.end()
}

// end settles the reservation with the final usage (or keeps it when the usage is
// unknown), frees the slot, closes the body and ends the call. It runs once.
func (s *Stream) end() {
	if s.ended {
		return
	}
	s.ended = true
	s.first, s.replay = nil, nil
	s.Meta.Latency = time.Since(s.start)
	k := s.call
	if s.res != nil { // a replay holds nothing
		s.res.resp.Body.Close()
		s.res.release()
		k.usage, k.used = s.usage, usedTokens(s.usage, s.reserved)
		k.settle(outcome{counted: true, used: countedTokens(s.usage, s.reserved), info: s.res.info})
	}
	if k == nil {
		return
	}
	switch {
	case s.err != nil:
		k.end(nil, s.err)
	case s.done:
		k.end(s.Response(), nil)
	default:
		k.end(nil, ErrStreamClosed)
	}
}
