package groq

import (
	"context"
	"errors"
	"sync"
)

// flights de-duplicates identical calls in flight: the first call with a key runs,
// and the calls that arrive with the same key while it runs wait for its answer
// (each until its own context ends). A response is shared as a copy.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one running call that others may wait for.
type flight struct {
	done   chan struct{} // closed when resp and err are set
	resp   *ChatResponse // the waiters' copy, read-only
	err    error
	joined int // waiters, under flights.mu
}

// join returns the flight for key, and whether the caller leads it (runs the call
// and must land it).
func (fs *flights) join(key string) (*flight, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[key]; ok {
		f.joined++
		return f, false
	}
	if fs.m == nil {
		fs.m = map[string]*flight{}
	}
	f := &flight{done: make(chan struct{})}
	fs.m[key] = f
	return f, true
}

// land gives the flight's answer to everyone waiting and forgets the key. The
// waiters get a copy of resp, so that the leader's caller may keep and change
// resp itself.
func (fs *flights) land(key string, f *flight, resp *ChatResponse, err error) {
	fs.mu.Lock()
	delete(fs.m, key)
	joined := f.joined
	fs.mu.Unlock()
	if resp != nil && joined > 0 {
		meta := resp.Meta
		resp = cloneResponse(resp)
		resp.Meta = meta
	}
	f.resp, f.err = resp, err
	close(f.done)
}

// errLeaderPanicked is what calls waiting on an identical call get when it
// panicked.
var errLeaderPanicked = errors.New("groq: the identical call this one waited for panicked")

// run runs k once for every identical call in flight at the same time (k's key).
// The leader's end stores the answer in the cache, then lands the flight, so that
// a call arriving later finds one or the other. A waiter whose context has not
// ended, given the leader's context error, runs the call itself.
func (fs *flights) run(k *call) (*ChatResponse, error) {
	f, leads := fs.join(k.key)
	if leads {
		k.landing = func(resp *ChatResponse, err error) { fs.land(k.key, f, resp, err) }
		defer func() { // a panic must not leave the waiters waiting
			if k.landing != nil {
				k.landing(nil, errLeaderPanicked)
			}
		}()
		return k.do()
	}
	select {
	case <-f.done:
	case <-k.ctx.Done():
		err := k.c.ctxError(k.ctx, k.model, nil)
		k.end(nil, err)
		return nil, err
	}
	if f.err != nil {
		if errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded) {
			return k.do()
		}
		k.end(nil, f.err)
		return nil, f.err
	}
	resp := cloneResponse(f.resp)
	resp.Meta = f.resp.Meta
	resp.Meta.Shared = true
	k.end(resp, nil)
	return resp, nil
}
