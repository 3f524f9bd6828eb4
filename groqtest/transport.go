package groqtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// errConnReset is what the in-memory transport reports when the handler aborted the
// connection (FaultDisconnect, FaultStreamCut).
var errConnReset = errors.New("groqtest: connection reset by simulated server")

// memTransport calls the server's handler in memory. The response body is a pipe,
// so streams arrive as they are written; closing it cancels the handler's context.
type memTransport struct {
	h http.Handler
}

func (t *memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	r := req.Clone(ctx)
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RequestURI = req.URL.RequestURI()
	r.RemoteAddr = "192.0.2.1:1234"
	pr, pw := io.Pipe()
	rw := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler {
					pw.CloseWithError(errConnReset)
					rw.signal()
					cancel()
					panic(v)
				}
				pw.CloseWithError(errConnReset)
				if !rw.started() {
					rw.aborted = true // read by RoundTrip only after ready is closed
				}
				rw.signal()
				return
			}
			rw.WriteHeader(http.StatusOK) // a handler that wrote nothing
			pw.Close()
		}()
		t.h.ServeHTTP(rw, r)
	}()
	select {
	case <-rw.ready:
	case <-req.Context().Done():
		cancel()
		pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	if rw.aborted {
		cancel()
		return nil, errConnReset
	}
	resp := &http.Response{
		Status:     strconv.Itoa(rw.status) + " " + http.StatusText(rw.status),
		StatusCode: rw.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rw.sent, Body: &pipeBody{pr: pr, cancel: cancel}, ContentLength: -1, Request: req,
	}
	if cl, err := strconv.ParseInt(rw.sent.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = cl
	}
	return resp, nil
}

// pipeWriter is the handler's http.ResponseWriter.
type pipeWriter struct {
	header  http.Header
	sent    http.Header
	status  int
	pw      *io.PipeWriter
	once    sync.Once
	ready   chan struct{}
	aborted bool
	mu      sync.Mutex
	wrote   bool
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wrote {
		return
	}
	w.wrote = true
	w.status = status
	w.sent = w.header.Clone()
	w.signal()
}

func (w *pipeWriter) started() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wrote
}

func (w *pipeWriter) signal() { w.once.Do(func() { close(w.ready) }) }

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(p)
}

// Flush is a no-op: every write goes straight into the pipe.
func (w *pipeWriter) Flush() {}

type pipeBody struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
}

func (b *pipeBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

func (b *pipeBody) Close() error {
	b.pr.CloseWithError(errors.New("groqtest: response body closed"))
	b.cancel()
	return nil
}
