package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/groqkit/groq"
)

// The exit codes of a batch stopped by SIGINT (130) or SIGTERM (143), as a shell
// reports a process killed by them. The first signal stops the sending and gives
// the calls in flight graceBatch to finish; a second ends them at once.
const (
	exitInterrupted = 130
	exitTerminated  = 143
	graceBatch      = 5 * time.Second
)

// batchLine is one input line, in Groq's batch format; method and url may be
// left out.
type batchLine struct {
	CustomID string            `json:"custom_id"`
	Method   string            `json:"method,omitempty"`
	URL      string            `json:"url,omitempty"`
	Body     *groq.ChatRequest `json:"body"`
	Priority int               `json:"priority,omitempty"`

	audio *audioLine // the body of a /v1/audio/transcriptions or /translations line (Body is nil)
	line  int        // 1-based line number in the input
}

// readBatch reads and checks every line of the input before anything is sent: a
// line that is not JSON, has an unknown field, lacks a custom_id or repeats one,
// names another endpoint, has an invalid body or a bad "models" list, or fits
// the context window of none of its models. defaults are the models of a line
// that names none (--model). It returns every problem, each naming its line.
func readBatch(r io.Reader, name string, defaults []string) ([]batchLine, []string) {
	var lines []batchLine
	var problems []string
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 32<<20)
	n := 0
	windows := groq.BuiltinLimits()
	for sc.Scan() {
		n++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		bad := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("%s:%d: %s", name, n, fmt.Sprintf(format, args...)))
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var l batchLine
		if err := dec.Decode(&l); err != nil {
			bad("%v", strings.TrimPrefix(err.Error(), "json: "))
			continue
		}
		l.line = n
		switch {
		case strings.TrimSpace(l.CustomID) == "":
			bad("no custom_id")
			continue
		case seen[l.CustomID] > 0:
			bad("custom_id %q repeats line %d", l.CustomID, seen[l.CustomID])
			continue
		case l.Method != "" && l.Method != "POST":
			bad("method %q: only POST is batched", l.Method)
			continue
		case l.URL != "" && l.URL != "/v1/chat/completions" && l.URL != "/openai/v1/chat/completions" && audioEndpoint(l.URL) == "":
			bad("url %q: /v1/chat/completions, /v1/audio/transcriptions and /v1/audio/translations are batched", l.URL)
			continue
		case l.Body == nil && l.audio == nil:
			bad("no body")
			continue
		case l.audio != nil:
			if msg := l.audio.check(); msg != "" {
				bad("body: %s", msg)
				continue
			}
			seen[l.CustomID] = n
			lines = append(lines, l)
			continue
		case l.Priority < 0 || l.Priority > 10:
			bad("priority %d is outside 1..10", l.Priority)
			continue
		}
		seen[l.CustomID] = n
		if err := l.Body.Validate(); err != nil {
			bad("body: %v", err)
			continue
		}
		if l.Body.Stream {
			bad("body: stream is not batched")
			continue
		}
		if msg := checkModelList(l.Body.Models); len(l.Body.Models) > 0 && msg != "" {
			bad("body: models: %s", msg)
			continue
		}
		if msg := l.fits(l.models(defaults), windows); msg != "" {
			bad("%s", msg)
			continue
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, fmt.Sprintf("%s: %v", name, err))
	}
	return lines, problems
}

func maxTokens(r *groq.ChatRequest) int {
	switch {
	case r.MaxCompletionTokens != nil:
		return *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		return *r.MaxTokens
	}
	return 0
}

// batchPlan is what --dry-run prints, and what the ETA starts from.
type batchPlan struct {
	lines, skipped int
	perModel       map[string]int
	tokens         map[string]int
}

func planBatch(lines []batchLine, done map[string]bool, defaultModel string) batchPlan {
	p := batchPlan{perModel: map[string]int{}, tokens: map[string]int{}}
	for _, l := range lines {
		if done[l.CustomID] {
			p.skipped++
			continue
		}
		model, tokens := l.cost(defaultModel)
		p.lines++
		p.perModel[model]++
		p.tokens[model] += tokens
	}
	return p
}

// cost is the line's model (the first of its list) and its estimated tokens
// (prompt and max tokens).
func (l batchLine) cost(defaultModel string) (model string, tokens int) {
	if l.audio != nil {
		return l.audio.model(l.URL), 0
	}
	model = l.Body.Model
	if model == "" && len(l.Body.Models) > 0 {
		model = l.Body.Models[0]
	}
	if model == "" {
		model = defaultModel
	}
	return model, groq.EstimateTokens(model, l.Body.Messages) + max(maxTokens(l.Body), 0)
}

// models are the models a chat line accepts, in order: its body's "models"
// (after its "model" when that is set and not among them, as the client takes
// them), else its "model", else defaults.
func (l batchLine) models(defaults []string) []string {
	b := l.Body
	switch {
	case len(b.Models) > 0 && b.Model != "" && !slices.Contains(b.Models, b.Model):
		return append([]string{b.Model}, b.Models...)
	case len(b.Models) > 0:
		return b.Models
	case b.Model != "":
		return []string{b.Model}
	}
	return defaults
}

// fits says why the line fits the context window of none of models ("" when
// one takes it, or its window is not known).
func (l batchLine) fits(models []string, windows map[string]groq.Limits) string {
	var sizes []string
	need := 0
	for _, m := range models {
		need = groq.EstimateTokens(m, l.Body.Messages) + max(maxTokens(l.Body), 0)
		cw := windows[m].ContextWindow
		if cw == 0 || need <= cw {
			return ""
		}
		sizes = append(sizes, fmt.Sprintf("%s (%d)", m, cw))
	}
	if len(sizes) == 1 {
		return fmt.Sprintf("about %d tokens do not fit the context window of %s", need, sizes[0])
	}
	return fmt.Sprintf("about %d tokens fit the context window of none of its models: %s", need, strings.Join(sizes, ", "))
}

// checkModelList says what is wrong with a list of models a chat accepts: an
// empty name, a name given twice, more than groq.MaxModels ("" when nothing is).
func checkModelList(list []string) string {
	for i, m := range list {
		switch {
		case strings.TrimSpace(m) == "":
			return fmt.Sprintf("model #%d of the list is empty", i+1)
		case slices.Index(list, m) < i:
			return fmt.Sprintf("%s is given twice", m)
		}
	}
	if len(list) > groq.MaxModels {
		return fmt.Sprintf("%d models; a call accepts at most %d", len(list), groq.MaxModels)
	}
	return ""
}

// predict is how long the work left takes under the client's limits: per model,
// what its quotas can take at once (their buckets now) and then at their refill
// rates; models are separate resources, so the longest wins. It is a prediction
// from the limits, not an extrapolation of the rate so far.
func predict(c *groq.Client, requests, tokens map[string]int) time.Duration {
	var longest time.Duration
	for model, n := range requests {
		snap := c.RateLimits(model)
		var reqNow, reqRate, tokNow, tokRate float64
		for _, q := range snap.Quotas {
			if q.Limits.RPM > 0 {
				reqRate += float64(q.Limits.RPM) / 60
				reqNow += float64(max(0, q.Burst.RPM-max(q.RequestsThisMinute, 0)))
			}
			if q.Limits.TPM > 0 {
				tokRate += float64(q.Limits.TPM) / 60
				tokNow += float64(max(0, q.Burst.TPM-max(q.TokensThisMinute, 0)))
			}
		}
		var d time.Duration
		if reqRate > 0 {
			d = max(d, time.Duration(max(0, float64(n)-reqNow)/reqRate*float64(time.Second)))
		}
		if tokRate > 0 {
			d = max(d, time.Duration(max(0, float64(tokens[model])-tokNow)/tokRate*float64(time.Second)))
		}
		longest = max(longest, d)
	}
	return longest
}

// lineOutput is an output line in Groq's batch output format (for a chat line,
// groq.BatchOutput's shape), and whether the built-in simulator answered it.
type lineOutput struct {
	ID        string               `json:"id"`
	CustomID  string               `json:"custom_id"`
	Response  *lineResponse        `json:"response"`
	Error     *groq.BatchLineError `json:"error"`
	Simulated bool                 `json:"simulated,omitempty"`
}

type lineResponse struct {
	StatusCode int    `json:"status_code"`
	RequestID  string `json:"request_id"`
	Body       any    `json:"body"`
}

// writeLine writes the output line of customID's call: its answer (body, with
// meta) or its error, and counts it.
func (b *batchRun) writeLine(ctx context.Context, customID string, body any, meta *groq.ResponseMeta, err error) {
	if err != nil && ctx.Err() != nil { // stopped before its answer: not written, the next run sends it
		b.mu.Lock()
		b.unsent++
		b.mu.Unlock()
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	o := lineOutput{ID: fmt.Sprintf("batch_req_%06d", b.seq), CustomID: customID, Simulated: b.simulated}
	var rl *groq.RateLimitError
	if errors.As(err, &rl) || (meta != nil && meta.Attempts > 1) {
		b.limited++
	}
	if err == nil {
		o.Response = &lineResponse{StatusCode: 200, RequestID: meta.RequestID, Body: body}
	} else {
		b.failed++
		b.picture.fail(customID)
		o.Error = &groq.BatchLineError{Code: "request_failed", Message: err.Error()}
		var apiErr *groq.APIError
		if errors.As(err, &apiErr) {
			o.Error.Code = fmt.Sprint(apiErr.StatusCode)
			o.Response = &lineResponse{StatusCode: apiErr.StatusCode, RequestID: apiErr.RequestID}
		}
	}
	b.finished++
	line, _ := json.Marshal(o)
	b.out.Write(append(line, '\n')) // one write a line: a crash loses at most the lines in flight
}

// runBatch is "groq batch IN.jsonl -o OUT.jsonl".
func runBatch(o *options, args []string, e env) int {
	if o.dryRun {
		o.noCache = true // a dry run opens nothing for writing
	}
	if err := checkPaths(o, true); err != nil {
		fmt.Fprintf(e.stderr, "groq: %v; nothing was done\n", err)
		return exitUsage
	}
	if o.jsonOut && !(len(args) == 2 && args[0] == "status") {
		fmt.Fprintln(e.stderr, "groq: --json is for a prompt, groq models and groq batch status; a batch writes its answers as JSON lines to -o")
		return exitUsage
	}
	if len(args) == 2 && (args[0] == "status" || args[0] == "results") {
		return batchCommand(o, e, args[0], args[1])
	}
	if msg := checkReport(o); msg != "" {
		fmt.Fprintf(e.stderr, "groq: %s; nothing was done\n", msg)
		return exitUsage
	}
	lines, code := readBatchInput(o, args, e)
	if lines == nil {
		return code
	}
	if msg := oneModelEach(o, lines); o.remote && msg != "" {
		fmt.Fprintf(e.stderr, "groq: %s; nothing was sent\n", msg)
		return exitUsage
	}
	wire := &wireTracker{}
	o.observers = append(o.observers, wire.observer())
	var picture *runReport
	if o.report != "" {
		picture = newRunReport(lines, o.chatModel())
		o.observers = append(o.observers, picture.observer())
	}
	client, closeClient, code := newClient(o, e)
	if client == nil {
		return code
	}
	defer closeClient()
	prev, err := readOutput(o.output, o.simulated)
	if err != nil {
		fmt.Fprintf(e.stderr, "groq: reading %s to resume: %v\n", o.output, err)
		return exitUsage
	}
	if prev.nonOutput {
		fmt.Fprintf(e.stderr, "groq: -o %s holds lines that are not batch output (a batch input?); give a new file, or one an earlier run wrote; nothing was done\n", o.output)
		return exitUsage
	}
	if prev.resent > 0 {
		fmt.Fprintf(e.stderr, "groq: %d answers in %s came from the simulator; they are sent again to Groq\n", prev.resent, o.output)
	}
	if n := doneIn(lines, prev.done); n > 0 && !o.dryRun {
		fmt.Fprintf(e.stderr, "groq: resuming: %d of %d lines are done in %s, %d left\n", n, len(lines), o.output, len(lines)-n)
	}
	if o.remote {
		return runRemote(o, e, client, lines, prev.done, args[0])
	}
	if o.dryRun {
		return dryRun(o, e, client, lines, prev.done)
	}
	out, err := openAppend(o.output)
	if err != nil {
		fmt.Fprintf(e.stderr, "groq: %v\n", err)
		return exitUsage
	}
	defer out.Close()
	b := &batchRun{client: client, lines: lines, done: prev.done, out: out, progress: e.stderr, terminal: isTerminal(e.stderr),
		concurrency: 2 * o.concurrency, grace: graceBatch, every: 2 * time.Second, defModel: o.chatModel(), defModels: o.models,
		wire: wire, seq: prev.lines, simulated: o.simulated, picture: picture}
	return finishReport(o, e, picture, client, runLocal(o, e, b))
}

// chatModels are the models of a chat that names none: --model's list, or
// chatModel.
func (o *options) chatModels() []string {
	if o.models != nil {
		return o.models
	}
	return []string{o.chatModel()}
}

// chatModel is --model (the first of its list), or the default model.
func (o *options) chatModel() string {
	if o.models != nil {
		return o.models[0]
	}
	if o.model != "" {
		return o.model
	}
	return groq.DefaultModel
}

// doneIn counts the lines done.
func doneIn(lines []batchLine, done map[string]bool) int {
	n := 0
	for _, l := range lines {
		if done[l.CustomID] {
			n++
		}
	}
	return n
}

// readBatchInput checks the arguments and reads the input; with nil lines, code
// is the exit code (the problems are printed).
func readBatchInput(o *options, args []string, e env) ([]batchLine, int) {
	if len(args) == 1 && o.output == "" {
		fmt.Fprintf(e.stderr, "groq: -o is missing: groq batch %s -o OUT.jsonl (the file the answers are appended to)\n", args[0])
		return nil, exitUsage
	}
	if len(args) != 1 {
		fmt.Fprintln(e.stderr, "groq: usage: groq batch [--remote] [flags] IN.jsonl -o OUT.jsonl, groq batch status ID, groq batch results ID -o OUT.jsonl (flags may come before or after the file names)")
		return nil, exitUsage
	}
	if sameFile(args[0], o.output) {
		fmt.Fprintf(e.stderr, "groq: -o %s is the input file; give another file for the output; nothing was done\n", o.output)
		return nil, exitUsage
	}
	in, err := os.Open(args[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "groq: %v\n", err)
		return nil, exitUsage
	}
	lines, problems := readBatch(in, args[0], o.chatModels())
	in.Close()
	if len(problems) == 0 {
		return lines, exitOK
	}
	for i, p := range problems {
		if i == 20 {
			fmt.Fprintf(e.stderr, "groq: … and %d more\n", len(problems)-20)
			break
		}
		fmt.Fprintln(e.stderr, p)
	}
	fmt.Fprintln(e.stderr, "groq: nothing was sent")
	return nil, exitUsage
}

// dryRun prints the plan of a local batch.
func dryRun(o *options, e env, client *groq.Client, lines []batchLine, done map[string]bool) int {
	plan := planBatch(lines, done, o.chatModel())
	models := make([]string, 0, len(plan.perModel))
	for m := range plan.perModel {
		models = append(models, m)
	}
	sort.Strings(models)
	fmt.Fprintf(e.stdout, "%d lines to send (%d already done in %s)\n", plan.lines, plan.skipped, o.output)
	for _, m := range models {
		fmt.Fprintf(e.stdout, "  %s: %d calls, about %d tokens\n", m, plan.perModel[m], plan.tokens[m])
	}
	fmt.Fprintf(e.stdout, "predicted duration under the current limits: %s\nevery line fits its model's context window; nothing was sent\n",
		predict(client, plan.perModel, plan.tokens).Round(time.Second))
	return exitOK
}

// runLocal runs b until it ends or a signal stops it, and says how it ended.
func runLocal(o *options, e env, b *batchRun) int {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	stop, kill, watched := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var first os.Signal // written before stop is closed, read after run returns
	go func() {
		defer close(watched)
		s, ok := <-sig
		if !ok {
			return
		}
		first = s
		close(stop)
		if _, ok := <-sig; ok {
			close(kill)
		}
	}()
	defer func() { signal.Stop(sig); close(sig); <-watched }()
	ok, total, interrupted := b.run(stop, kill)
	doneBefore := len(b.lines) - total
	if interrupted {
		fmt.Fprintf(e.stderr, "groq: interrupted: %d of %d lines done in %s (%d before this run), %d left; run the same command again to resume\n",
			ok+doneBefore, len(b.lines), o.output, doneBefore, len(b.lines)-ok-doneBefore)
		if first == syscall.SIGTERM {
			return exitTerminated
		}
		return exitInterrupted
	}
	if ok < total {
		fmt.Fprintf(e.stderr, "groq: %d of %d lines failed (see their \"error\" in %s); run the same command again to retry them\n", total-ok, total, o.output)
		return exitAPI
	}
	fmt.Fprintf(e.stderr, "groq: %d lines done in %s\n", len(b.lines), o.output)
	return exitOK
}
