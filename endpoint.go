package groq

import (
	"errors"
	"time"
)

// endpoint is one of the API's services as a call sees it: what its request
// costs, what an attempt sends and how a 2xx answer is read. Everything else
// (the queue, admission, the retry loop, settling, the end) is the call's, the
// same for every endpoint (call.go). The endpoints are a chat completion
// (chatComplete) and a chat stream (chatStream), here; the audio services
// (audioEndpoint, audio.go), and models, files and batches (restCall, rest.go).
type endpoint interface {
	// plan is step 1: what the request costs, refused when no quota could ever
	// admit it. The budget hold it takes is the call's to settle.
	plan(k *call) (*callPlan, error)
	// wire is what an attempt with g sends.
	wire(k *call, g *grant) wireRequest
	// read reads a 2xx answer res. It returns the answer (nil for an endpoint
	// whose answer is not a chat completion) and the outcome that settles the
	// attempt's grant. open says that the answer was handed over unread (a
	// stream): whoever holds it settles the grant when it ends (call.settle). An
	// error that is not a finalError is a transport failure, retried.
	read(k *call, res *attemptResult, meta ResponseMeta) (resp *ChatResponse, o outcome, open bool, err error)
	// what names the call in errors ("chat llama-3.1-8b-instant", "GET /files").
	what(k *call) string
	// creating says that a request creates something (a file, a batch): once it
	// may have reached the server, it is not sent again.
	creating() bool
}

// chatComplete is the chat completions endpoint, answered whole.
type chatComplete struct{ chatCall }

func (chatComplete) plan(k *call) (*callPlan, error) { return k.planChat() }

func (chatComplete) wire(k *call, g *grant) wireRequest {
	return wireRequest{url: g.url, body: k.body, contentType: "application/json", accept: "application/json"}
}

// read decodes a complete answer.
func (chatComplete) read(k *call, res *attemptResult, meta ResponseMeta) (*ChatResponse, outcome, bool, error) {
	data, err := res.readAll()
	if err != nil {
		return nil, outcome{}, false, err // a body cut mid-way: a transport failure, retried
	}
	reserved := k.held.reserved
	resp := new(ChatResponse)
	// Decoded as the alias, not through UnmarshalJSON: one pass over the bytes.
	resp.Extra, err = decodeKeeping(data, (*chatResponseAlias)(resp))
	if err == nil && resp.ID == "" && resp.Object == "" && resp.Choices == nil { // {} or null
		err = errNotACompletion
	}
	if err != nil {
		return nil, outcome{counted: true, used: reserved, info: res.info}, false, finalError{&decodeError{requestID: meta.RequestID, err: err}}
	}
	k.usage, k.used = resp.Usage, usedTokens(resp.Usage, reserved)
	meta.Latency, meta.Queued = time.Since(k.start), k.waited
	if meta.RequestID == "" && resp.XGroq != nil {
		meta.RequestID = resp.XGroq.ID
	}
	resp.Meta, k.requestID = meta, meta.RequestID
	resp.body = data
	return resp, outcome{counted: true, used: countedTokens(resp.Usage, reserved), info: res.info}, false, nil
}

// finalError marks an error from reading an answer that is not retried: the
// server did answer. The call's error is the one it wraps.
type finalError struct{ error }

// chatCall names a chat call (and an audio call: its errors read as a chat's).
type chatCall struct{}

func (chatCall) what(k *call) string { return "chat " + k.model }

func (chatCall) creating() bool { return false }

// open reads the first event of a 2xx streamed answer into k.st. An error
// here (the connection broke, the body ended) is returned for the retry loop,
// which then settles the grant; an error event is the stream's own error, not
// retried.
//
// The stream ends the call when it ends, which can be here already (an answer of
// one event).
func (chatStream) open(k *call, res *attemptResult, meta ResponseMeta) error {
	c, model := k.c, k.model
	st := &Stream{c: c, ctx: k.ctx, res: res, sse: newSSEReader(res.resp.Body), reserved: k.held.reserved, start: k.start, Meta: meta, model: model, call: k}
	chunk, done, err := st.read()
	res.firstByte()
	if err == nil && c.obs.on {
		c.obs.streamFirst(k.ctx, StreamFirstEvent{Model: model, TimeToFirstChunk: time.Since(k.start)})
	}
	var se *StreamError
	if err != nil && !errors.As(err, &se) {
		res.resp.Body.Close()
		res.release()
		return err
	}
	k.st, k.requestID = st, st.Meta.RequestID // an x_groq id read with the first event too
	switch {
	case err != nil:
		st.fail(err)
	case done:
		st.done = true
		st.end()
	default:
		st.first = chunk
	}
	return nil
}

// chatStream is the chat completions endpoint, streamed: an attempt succeeds once
// the first event has arrived, and the stream settles the grant when it ends.
type chatStream struct{ chatCall }

func (chatStream) plan(k *call) (*callPlan, error) { return k.planChat() }

func (chatStream) wire(k *call, g *grant) wireRequest {
	return wireRequest{url: g.url, body: k.body, contentType: "application/json", accept: "text/event-stream", stream: true}
}

func (ep chatStream) read(k *call, res *attemptResult, meta ResponseMeta) (*ChatResponse, outcome, bool, error) {
	meta.Queued = k.waited
	if err := ep.open(k, res, meta); err != nil {
		return nil, outcome{}, false, err
	}
	return nil, outcome{}, true, nil
}
