package groq

import (
	"context"
	"errors"
	"sync"
)

// BatchResult is one call of a batch: its position in the input, and its response or
// error. Cancelled is true when the batch's context ended before the call
// finished (Err then matches context.Canceled or context.DeadlineExceeded).
type BatchResult struct {
	Index     int
	Response  *ChatResponse
	Err       error
	Cancelled bool
}

// WithProgress is a call option for ChatBatch: f is called after each call of the
// batch finishes, with how many are done and the total; calls to f are
// serialized. A single call (Chat, ChatCompletion, a stream) given it fails with a
// *RequestError: it has no progress to report (use WithCallback).
func WithProgress(f func(done, total int)) CallOption {
	return func(c *callConfig) error {
		if f == nil {
			return &RequestError{Field: "WithProgress", Reason: "nil function"}
		}
		c.progress = f
		return nil
	}
}

// ChatBatch sends every request through the scheduler and returns the results in
// input order. opts apply to every call (WithCallback is called once per call;
// WithProgress reports the batch's progress). Up to twice the bound on requests in
// flight (WithMaxConcurrency, or MaxAdaptiveConcurrency) wait in the client's
// queue at once; the scheduler decides their order.
// Cancelling ctx stops the calls not yet sent at once and the calls in flight
// promptly; their results say Cancelled. A nil request gives a *RequestError in
// its result.
func (c *Client) ChatBatch(ctx context.Context, reqs []*ChatRequest, opts ...CallOption) []BatchResult {
	results := make([]BatchResult, len(reqs))
	if ctx == nil {
		for i := range results {
			results[i] = BatchResult{Index: i, Err: &RequestError{Field: "ctx", Reason: "nil context.Context; use context.Background()"}}
		}
		return results
	}
	opts = append(opts[:len(opts):len(opts)], func(cc *callConfig) error { cc.inBatch = true; return nil })
	var bc callConfig
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&bc); err != nil {
			for i := range results {
				results[i] = BatchResult{Index: i, Err: err}
			}
			return results
		}
	}
	workers := 2 * c.sched.slots
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
	)
	next := make(chan int)
	for range min(workers, len(reqs)) {
		wg.Go(func() {
			for i := range next {
				r := BatchResult{Index: i}
				if reqs[i] == nil {
					r.Err = &RequestError{Field: "request", Reason: "nil *ChatRequest"}
				} else {
					r.Response, r.Err = c.ChatCompletion(ctx, reqs[i], opts...)
				}
				r.Cancelled = r.Err != nil && ctx.Err() != nil &&
					(errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded))
				results[i] = r
				mu.Lock()
				done++
				if bc.progress != nil {
					bc.progress(done, len(reqs))
				}
				mu.Unlock()
			}
		})
	}
	sent := 0
feed:
	for ; sent < len(reqs); sent++ {
		select {
		case next <- sent:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i := sent; i < len(reqs); i++ {
		results[i] = BatchResult{Index: i, Err: c.ctxError(ctx, "batch", nil), Cancelled: true}
	}
	return results
}
