package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/groqkit/groq"
)

// batchRun is one local batch through the client.
type batchRun struct {
	client      *groq.Client
	lines       []batchLine
	done        map[string]bool
	out         io.Writer // the output file, appended to line by line
	progress    io.Writer // stderr
	terminal    bool      // progress as a redrawn bar instead of periodic lines
	concurrency int
	grace       time.Duration // after an interrupt, how long calls on the wire may finish
	every       time.Duration // plain progress line interval
	defModel    string
	defModels   []string     // --model's list: the models of a line that names none (nil for one)
	wire        *wireTracker // fed by the client's observer (wire.observer()); nil: nothing is known to be on the wire
	picture     *runReport   // --report's recorder, fed by its observer; nil without --report

	mu                        sync.Mutex
	finished, failed, limited int
	unsent                    int  // lines handed to the client but stopped before an answer: not written
	seq                       int  // output lines so far, this run's and the earlier runs': ids are unique
	simulated                 bool // the simulator answers: the lines say so

	// Set by run, for report.
	left, leftTok      map[string]int // per model, the calls and tokens not finished
	start              time.Time
	total, before, all int
}

// run sends every line not done yet and writes each result as it comes. stop
// ends the sending (a first interrupt, at any time, also after the last line was
// handed out): the lines waiting in the client are stopped at once and the calls
// on the wire get grace to finish (no grace when none is on the wire); kill (a
// second interrupt) ends them at once. A line stopped before its answer is not
// written: the next run sends it. It returns how many lines succeeded and whether
// it was interrupted.
func (b *batchRun) run(stop, kill <-chan struct{}) (ok, total int, interrupted bool) {
	if b.wire == nil {
		b.wire = &wireTracker{}
	}
	var todo []batchLine
	for _, l := range b.lines {
		if !b.done[l.CustomID] {
			todo = append(todo, l)
		}
	}
	b.total, b.before, b.all = len(todo), len(b.lines)-len(todo), len(b.lines)
	callCtx, cancelCalls := context.WithCancel(context.Background())
	defer cancelCalls()
	plan := planBatch(b.lines, b.done, b.defModel)
	b.left, b.leftTok = plan.perModel, plan.tokens

	next := make(chan batchLine)
	var wg sync.WaitGroup
	for range b.concurrency {
		wg.Go(func() {
			for l := range next {
				b.callLine(callCtx, l)
			}
		})
	}
	ticker := time.NewTicker(b.every)
	defer ticker.Stop()
	b.start = time.Now()
	stopped := b.feed(todo, next, stop, ticker.C)
	close(next)
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	stopped = b.drain(waited, stopped, stop, kill, ticker.C, cancelCalls)
	b.report(true)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.finished - b.failed, b.total, stopped
}

// feed hands the lines out until they are all out or stop closes, with a
// progress line at each tick; it reports whether it was stopped.
func (b *batchRun) feed(todo []batchLine, next chan<- batchLine, stop <-chan struct{}, tick <-chan time.Time) bool {
	for _, l := range todo {
		for sent := false; !sent; {
			select {
			case next <- l:
				sent = true
			case <-stop:
				return true
			case <-tick:
				b.report(false)
			}
		}
	}
	return false
}

// drain waits for the calls handed out to end. After a stop, the lines waiting in
// the client are cancelled, and those on the wire get the grace; kill ends them.
func (b *batchRun) drain(waited <-chan struct{}, stopped bool, stop, kill <-chan struct{}, tick <-chan time.Time, cancelCalls func()) bool {
	var grace *time.Timer
	stopping := func() {
		stopped = true
		if b.wire.stop() == 0 { // nothing on the wire: no reason to wait
			cancelCalls()
			return
		}
		grace = time.AfterFunc(b.grace, cancelCalls)
	}
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	if stopped {
		stopping()
		stop = nil
	}
	for {
		select {
		case <-waited:
			return stopped
		case <-stop: // the last lines were handed out: the calls on the wire get the grace
			stop = nil
			stopping()
		case <-kill:
			kill = nil
			stopped = true
			cancelCalls()
		case <-tick:
			b.report(false)
		}
	}
}

// callLine sends one line, in a context the wire tracker can stop, and counts
// what is left.
func (b *batchRun) callLine(ctx context.Context, l batchLine) {
	ctx, st := b.wire.begin(ctx)
	defer b.wire.end(st)
	b.call(ctx, l)
	model, tokens := l.cost(b.defModel)
	b.mu.Lock()
	b.left[model]--
	b.leftTok[model] -= tokens
	b.mu.Unlock()
}

// report writes the progress: lines done (successes, earlier runs' included) of
// all lines, and this run's failures apart, as the closing line counts them.
func (b *batchRun) report(final bool) {
	b.mu.Lock()
	finished, failed, limited, unsent := b.finished, b.failed, b.limited, b.unsent
	eta := predict(b.client, b.left, b.leftTok)
	b.mu.Unlock()
	done := b.before + finished - failed
	rate := float64(finished) / max(time.Since(b.start).Seconds(), 1e-9)
	// The limits say how long the rest takes when every call succeeds at once;
	// the pace so far counts what failures cost too (backoff, server waits).
	if remaining := b.total - finished - unsent; finished > 0 && remaining > 0 {
		eta = max(eta, time.Duration(float64(remaining)/rate*float64(time.Second)))
	}
	if b.terminal {
		width := 30
		filled := width * done / max(b.all, 1)
		fmt.Fprintf(b.progress, "\r[%s%s] %d/%d done  429s %d  failed %d  ETA %s ", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
			done, b.all, limited, failed, eta.Round(time.Second))
		if final {
			fmt.Fprintln(b.progress)
		}
		return
	}
	fmt.Fprintf(b.progress, "batch: %d/%d done, %d failed, %.1f/s, ETA %s\n", done, b.all, failed, rate, eta.Round(time.Second))
}

// wireTracker knows, through the client's observer, which of a batch's calls are
// on the wire (admitted, their attempt not ended) and which wait in the client
// (queued, or between retries). Once stopped, a call that waits is cancelled at
// once, and so is one that would go back to the queue for a retry.
type wireTracker struct {
	mu      sync.Mutex
	calls   map[*lineCall]bool // the calls in the client
	onWire  int
	stopped bool
}

// lineCall is one line's call, as the tracker sees it.
type lineCall struct {
	cancel context.CancelFunc
	wire   bool
}

type lineCallKey struct{}

// observer is the client option's half of the tracker.
func (t *wireTracker) observer() groq.Observer {
	return groq.Observer{
		Admitted:    func(ctx context.Context, _ groq.AdmittedEvent) { t.mark(ctx, true) },
		AttemptDone: func(ctx context.Context, _ groq.AttemptEvent) { t.mark(ctx, false) },
		Queued: func(ctx context.Context, _ groq.QueuedEvent) { // a call, or a retry, waits for admission
			if c, ok := ctx.Value(lineCallKey{}).(*lineCall); ok {
				t.mu.Lock()
				if t.stopped {
					c.cancel()
				}
				t.mu.Unlock()
			}
		},
	}
}

// mark notes that a call went on the wire or came off it.
func (t *wireTracker) mark(ctx context.Context, wire bool) {
	c, ok := ctx.Value(lineCallKey{}).(*lineCall)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.wire == wire {
		return
	}
	c.wire = wire
	if wire {
		t.onWire++
	} else {
		t.onWire--
	}
}

// begin registers a call; its context is cancelled by a stop unless it is on the
// wire then.
func (t *wireTracker) begin(ctx context.Context) (context.Context, *lineCall) {
	ctx, cancel := context.WithCancel(ctx)
	c := &lineCall{cancel: cancel}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.calls == nil {
		t.calls = map[*lineCall]bool{}
	}
	t.calls[c] = true
	if t.stopped {
		cancel()
	}
	return context.WithValue(ctx, lineCallKey{}, c), c
}

// end forgets a call.
func (t *wireTracker) end(c *lineCall) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.calls, c)
	if c.wire {
		t.onWire--
	}
	c.cancel()
}

// stop cancels every call that is not on the wire, and returns how many are.
func (t *wireTracker) stop() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	for c := range t.calls {
		if !c.wire {
			c.cancel()
		}
	}
	return t.onWire
}

// call sends one line and writes its output line.
func (b *batchRun) call(ctx context.Context, l batchLine) {
	opts := []groq.CallOption{groq.WithoutCache()}
	if l.Priority > 0 {
		opts = append(opts, groq.WithPriority(l.Priority))
	}
	if l.audio != nil {
		b.callAudio(ctx, l, opts[1:])
		return
	}
	if b.defModels != nil && l.Body.Model == "" && len(l.Body.Models) == 0 {
		opts = append(opts, groq.WithModels(b.defModels...))
	}
	resp, err := b.client.ChatCompletion(ctx, l.Body, opts...)
	var meta *groq.ResponseMeta
	if resp != nil {
		meta = &resp.Meta
	}
	b.writeLine(ctx, l.CustomID, resp, meta, err)
}
