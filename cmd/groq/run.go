package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/batchapi"
	"github.com/groqkit/groq/internal/metrics"
	"github.com/groqkit/groq/internal/serve"
)

// defaultCacheFile is where the command caches answers: in the current directory.
const defaultCacheFile = ".groq_cache.json"

// Exit codes.
const (
	exitOK    = 0
	exitAPI   = 1 // the call (or a self-test check) failed
	exitUsage = 2 // bad flags or input
)

type options struct {
	promptFile, defaultPrompt, system, model, cachePath, config string
	stdin, jsonOut, limits, verbose, stream, noCache, selfTest  bool
	rpm, concurrency, priority, maxTokens                       int
	budget                                                      int64
	temperature                                                 float64
	cacheTTL                                                    time.Duration
	set                                                         map[string]bool // flags given on the command line
	output                                                      string          // batch: -o
	dryRun                                                      bool            // batch: --dry-run
	report                                                      string          // batch: --report, the run's picture (SVG)
	metricsAddr                                                 string          // --metrics: serve Prometheus metrics here
	remote, wait                                                bool            // batch: --remote, --wait
	window                                                      string          // batch: --completion-window
	poll                                                        time.Duration   // batch: --poll
	simulated                                                   bool            // set by newClient: the built-in simulator answers
	version                                                     bool            // --version
	observers                                                   []groq.Observer // given to the client (a batch's wire tracker)
	language, format, timestamps, voice                         string          // transcribe, speak
	once                                                        bool            // status: --once
	adminToken                                                  string          // status: --admin-token
	models                                                      []string        // --model a,b,c: the models a chat accepts (nil for one)
}

// env is what the command reads from its environment.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func newFlags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("groq", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.promptFile, "prompt-file", "", "read the prompt from `file`")
	fs.BoolVar(&o.stdin, "stdin", false, "read the prompt from standard input")
	fs.StringVar(&o.defaultPrompt, "default-prompt", "", "prompt used when no other is given")
	fs.StringVar(&o.system, "system", "", "system message")
	fs.StringVar(&o.model, "model", "", "model (default "+groq.DefaultModel+"); a chat accepts a list, a,b,c: each call goes to the first that can serve it now")
	fs.IntVar(&o.rpm, "rpm", groq.DefaultRPM, "requests per minute for models without a known limit")
	fs.IntVar(&o.concurrency, "concurrency", groq.DefaultMaxConcurrency, "requests in flight at most")
	fs.Int64Var(&o.budget, "budget", 0, "daily token budget (0: none)")
	fs.StringVar(&o.cachePath, "cache", defaultCacheFile, "cache file")
	fs.DurationVar(&o.cacheTTL, "cache-ttl", groq.DefaultCacheTTL, "how long cached answers live")
	fs.BoolVar(&o.noCache, "no-cache", false, "neither read nor write the cache")
	fs.IntVar(&o.priority, "priority", groq.DefaultPriority, "priority, 1 (most urgent) to 10")
	fs.IntVar(&o.maxTokens, "max-tokens", 0, "max completion tokens (0: the server's default)")
	fs.Float64Var(&o.temperature, "temperature", 0, "sampling temperature, 0 to 2 (default: the server's)")
	fs.StringVar(&o.config, "config", "", "JSON configuration `file` (models, keys, limits)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the whole response as JSON")
	fs.BoolVar(&o.limits, "limits", false, "print the rate-limit snapshot after the call")
	fs.BoolVar(&o.stream, "stream", false, "print the answer as it is generated")
	fs.BoolVar(&o.selfTest, "self-test", false, "check the whole pipeline offline against the built-in simulator")
	fs.BoolVar(&o.verbose, "v", false, "log to standard error")
	fs.BoolVar(&o.version, "version", false, "print the command's version and exit")
	fs.StringVar(&o.output, "o", "", "batch: the output `file` (JSONL, appended; run again to resume); speak: the audio file; created owner-only (0600)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "batch: check the input and print the plan; send nothing")
	fs.StringVar(&o.report, "report", "", "batch: also draw the run as an SVG `file` (FILE.svg): requests admitted over time per model against the limits in force, 429s and failed lines marked")
	fs.BoolVar(&o.remote, "remote", false, "batch: send the work list through Groq's Batch API (asynchronous, discounted, outside the per-minute limits)")
	fs.BoolVar(&o.wait, "wait", true, "batch --remote: wait for the results (--wait=false prints the batch id and returns)")
	fs.StringVar(&o.window, "completion-window", "24h", "batch --remote: the batch's completion window, 24h to 7d")
	fs.DurationVar(&o.poll, "poll", 30*time.Second, "batch --remote: poll the batch at most this far apart (from 1s, doubling)")
	fs.StringVar(&o.language, "language", "", "transcribe: the spoken language (ISO-639-1, as en)")
	fs.StringVar(&o.format, "format", "", "transcribe: text, json or verbose_json; speak: wav, mp3, flac, ogg or mulaw (default: -o's extension)")
	fs.StringVar(&o.timestamps, "timestamps", "", "transcribe: word, segment or word,segment (implies verbose_json)")
	fs.StringVar(&o.voice, "voice", "", "speak: the voice (default "+groq.DefaultSpeechVoice+")")
	fs.BoolVar(&o.once, "once", false, "status: print the status once and exit")
	fs.StringVar(&o.adminToken, "admin-token", "", "status: the gateway's admin token, needed off loopback (GROQ_GATEWAY_ADMIN_TOKEN too)")
	fs.StringVar(&o.metricsAddr, "metrics", "", "serve Prometheus metrics on `addr` (host:port) at /metrics while the command runs")
	return fs
}

// run is the command: args without the program name, and lookup, as
// os.LookupEnv, for the environment (a variable set to "" is not one unset).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	getenv := keyEnv(lookup)
	if len(args) > 0 && args[0] == "serve" { // a server with flags of its own
		return serve.Run(args[1:], serve.Env{Stdout: stdout, Stderr: stderr, Getenv: getenv}, serve.Hooks{})
	}
	e := env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	var o options
	fs := newFlags(&o)
	positional, literal, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		if len(positional) == 0 || !subcommandUsage(stdout, fs, positional[0]) {
			usage(stdout, fs)
		}
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "groq: %v (see groq -h)\n", err)
		return exitUsage
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if msg := o.check(); msg != "" {
		fmt.Fprintf(stderr, "groq: %s\n", msg)
		return exitUsage
	}
	if o.report != "" && (literal || len(positional) == 0 || positional[0] != "batch") {
		fmt.Fprintln(stderr, "groq: --report draws a batch run: groq batch IN.jsonl -o OUT.jsonl --report run.svg")
		return exitUsage
	}
	switch {
	case o.version:
		return printVersion(stdout)
	case o.selfTest:
		return selfTest(stdout)
	}
	if !literal && len(positional) > 0 { // "groq -- models" asks the prompt "models"
		if code, ok := dispatch(&o, fs, positional, e); ok {
			return code
		}
	}
	return ask(&o, positional, e)
}

// keyEnv is getenv over lookup, except that GROQ_API_KEY or GROQ_API_KEYS set
// to "" reads as a blank (" "), which serve.EnvKeys refuses: a variable set to
// nothing is a mistake, not a request for the simulator.
func keyEnv(lookup func(string) (string, bool)) func(string) string {
	return func(name string) string {
		v, ok := lookup(name)
		if ok && v == "" && (name == "GROQ_API_KEY" || name == "GROQ_API_KEYS") {
			return " "
		}
		return v
	}
}

// ask is the main job: one prompt, one answer.
func ask(o *options, positional []string, e env) int {
	if err := checkPaths(o, false); err != nil {
		fmt.Fprintf(e.stderr, "groq: %v; nothing was done\n", err)
		return exitUsage
	}
	prompt, err := readPrompt(o, positional, e.stdin)
	if errors.Is(err, errNoInput) {
		fmt.Fprintln(e.stderr, "groq: no prompt given (an argument, --prompt-file, --stdin, a pipe or --default-prompt); running the self-test instead")
		return selfTest(e.stdout)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "groq: %v\n", err)
		return exitUsage
	}
	client, done, code := newClient(o, e)
	if client == nil {
		return code
	}
	defer done()
	var msgs []groq.Message
	if o.system != "" {
		msgs = append(msgs, groq.System(o.system))
	}
	msgs = append(msgs, groq.User(prompt))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var resp *groq.ChatResponse
	if o.stream {
		resp, err = streamTo(ctx, client, msgs, o.callOptions(), e.stdout, !o.jsonOut)
	} else {
		resp, err = client.Chat(ctx, msgs, o.callOptions()...)
	}
	if err != nil {
		return callFailed(e.stderr, err)
	}
	if o.models != nil && !o.jsonOut { // --json names it in the answer
		fmt.Fprintf(e.stderr, "groq: answered by %s (of %s)\n", resp.Model, o.model)
	}
	if o.jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(resp)
	} else if !o.stream {
		fmt.Fprintln(e.stdout, resp.Text())
	}
	if o.limits {
		printLimits(e.stdout, client.RateLimits(resp.Model))
		if b := client.Budget(); b.Limit > 0 {
			fmt.Fprintf(e.stdout, "daily token budget: %d used, %d remaining of %d, resets %s\n", b.Used, b.Remaining, b.Limit, b.ResetAt.Format(time.RFC3339))
		}
	}
	return exitOK
}

// callOptions are the per-call options the flags ask for.
func (o *options) callOptions() []groq.CallOption {
	call := []groq.CallOption{groq.WithPriority(o.priority)}
	if o.models != nil {
		call = append(call, groq.WithModels(o.models...))
	}
	if o.maxTokens > 0 {
		call = append(call, groq.WithMaxTokens(o.maxTokens))
	}
	if o.set["temperature"] {
		call = append(call, groq.WithTemperature(o.temperature))
	}
	if o.noCache {
		call = append(call, groq.WithoutCache())
	}
	return call
}

// check validates the flag values.
func (o *options) check() string {
	if msg := o.parseModels(); msg != "" {
		return msg
	}
	switch {
	case o.priority < 1 || o.priority > 10:
		return fmt.Sprintf("--priority %d is outside 1..10", o.priority)
	case o.maxTokens < 0:
		return fmt.Sprintf("--max-tokens %d is negative", o.maxTokens)
	case o.set["temperature"] && !(o.temperature >= 0 && o.temperature <= 2):
		return fmt.Sprintf("--temperature %v is outside [0, 2]", o.temperature)
	case o.concurrency < 1:
		return fmt.Sprintf("--concurrency %d is less than 1", o.concurrency)
	case o.rpm < 0:
		return fmt.Sprintf("--rpm %d is negative", o.rpm)
	case o.budget < 0:
		return fmt.Sprintf("--budget %d is negative", o.budget)
	case o.cacheTTL <= 0:
		return fmt.Sprintf("--cache-ttl %v is not positive", o.cacheTTL)
	case o.poll <= 0:
		return fmt.Sprintf("--poll %v is not positive", o.poll)
	case batchapi.CheckWindow(o.window) != nil:
		return fmt.Sprintf("--completion-window %q: Groq takes 24h to 7d (hours or days, as 36h or 2d)", o.window)
	}
	return ""
}

// parseModels reads --model: one name, or a comma-separated list of the models
// a chat accepts, in order of preference (o.models; nil for one name).
func (o *options) parseModels() string {
	if !strings.Contains(o.model, ",") {
		return ""
	}
	list := strings.Split(o.model, ",")
	for i := range list {
		list[i] = strings.TrimSpace(list[i])
	}
	if msg := checkModelList(list); msg != "" {
		return fmt.Sprintf("--model %q: %s", o.model, msg)
	}
	o.models = list
	return ""
}

// newClient builds the client from flags, the config file and the environment;
// with no key anywhere it wires the built-in simulator and says so. With
// --metrics it also serves the client's metrics; done closes the client and stops
// that server.
func newClient(o *options, e env) (client *groq.Client, done func(), code int) {
	keys, blank := serve.EnvKeys(e.getenv)
	if blank != "" { // set, but to nothing: a mistake, not a request for the simulator
		fmt.Fprintf(e.stderr, "groq: %s is set but holds no key (it is empty or blank); set it to a key, or unset it to use the built-in simulator\n", blank)
		return nil, nil, exitUsage
	}
	logger := quietLogger(e.stderr, keys)
	if o.verbose {
		logger = newLogger(e.stderr, keys)
	}
	opts := []groq.Option{groq.WithMaxConcurrency(o.concurrency), groq.WithLogger(logger)}
	if o.set["rpm"] { // else the default is the client's guess, which Groq's answers can lift
		opts = append(opts, groq.WithRPM(o.rpm))
	}
	var cfg *groq.Config
	if o.config != "" {
		var err error
		if cfg, err = serve.ReadConfig(o.config, e.getenv); err != nil {
			if errors.As(err, new(*fs.PathError)) { // the file could not be read
				err = fmt.Errorf("groq: %w", err)
			}
			fmt.Fprintf(e.stderr, "%v\n", err)
			return nil, nil, exitUsage
		}
		opts = append(opts, groq.WithConfig(cfg))
	}
	simulated := false
	switch {
	case len(keys) > 0:
		opts = append(opts, groq.WithAPIKeys(keys...))
	case cfg == nil:
		srv := groqtest.NewUnstartedServer()
		opts = append(opts, groq.WithAPIKeys("gsk_simulator"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
		fmt.Fprintln(e.stderr, "groq: no GROQ_API_KEY or GROQ_API_KEYS set; answering from the built-in simulator (groqtest), not from Groq; nothing is cached")
		simulated = true
		o.simulated = true
	}
	if u := e.getenv("GROQ_BASE_URL"); u != "" {
		opts = append(opts, groq.WithBaseURL(u))
	}
	if o.model != "" {
		opts = append(opts, groq.WithDefaultModel(o.chatModel()))
	}
	if !o.noCache && o.cachePath != "" && !simulated { // a simulated answer never lands in the cache file
		opts = append(opts, groq.WithCacheFile(o.cachePath, o.cacheTTL))
	}
	if o.budget > 0 {
		opts = append(opts, groq.WithDailyTokenBudget(o.budget))
	}
	for _, ob := range o.observers {
		opts = append(opts, groq.WithObserver(ob))
	}
	var m *metrics.Metrics
	if o.metricsAddr != "" {
		m = metrics.New()
		if o.noCache || o.cachePath == "" || simulated {
			m.NoCache()
		}
		opts = append(opts, groq.WithObserver(m.Observer()))
	}
	client, err := groq.NewClient(opts...)
	if err != nil {
		fmt.Fprintf(e.stderr, "groq: %v\n", err)
		return nil, nil, exitUsage
	}
	if m == nil {
		return client, func() { client.Close() }, exitOK
	}
	m.SetClient(client)
	srv, err := metrics.Serve(o.metricsAddr, m)
	if err != nil {
		client.Close()
		fmt.Fprintf(e.stderr, "groq: --metrics: %v\n", err)
		return nil, nil, exitUsage
	}
	fmt.Fprintf(e.stderr, "groq: serving Prometheus metrics on http://%s/metrics\n", srv.Addr())
	return client, func() { srv.Stop(); client.Close() }, exitOK
}

// streamTo streams the answer, printing deltas as they come when echo is set, and
// returns the assembled response.
func streamTo(ctx context.Context, c *groq.Client, msgs []groq.Message, call []groq.CallOption, w io.Writer, echo bool) (*groq.ChatResponse, error) {
	st, err := c.ChatStream(ctx, msgs, call...)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	for st.Next() {
		if !echo {
			continue
		}
		for _, ch := range st.Current().Choices {
			fmt.Fprint(w, ch.Delta.Content)
		}
	}
	if echo {
		fmt.Fprintln(w)
	}
	if err := st.Err(); err != nil {
		return nil, err
	}
	return st.Response(), nil
}

var errNoInput = errors.New("no prompt")

// listModels prints the models the API serves: id, context window, owner.
func listModels(o *options, e env) int {
	o.noCache = true
	client, done, code := newClient(o, e)
	if client == nil {
		return code
	}
	defer done()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	models, err := client.Models(ctx)
	if err != nil {
		fmt.Fprintln(e.stderr, describeError(err))
		return exitAPI
	}
	if o.jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(models); err != nil {
			fmt.Fprintf(e.stderr, "groq: %v\n", err)
			return exitAPI
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tCONTEXT WINDOW\tOWNER\tACTIVE")
	for _, m := range models {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%v\n", m.ID, m.ContextWindow, m.OwnedBy, m.Active)
	}
	tw.Flush()
	return exitOK
}

// parseInterleaved parses flags wherever they stand among the arguments, as people
// type them ("groq 'a question' --json"); everything after "--" is positional, and
// literal says "--" was there (so that "groq -- models" is a prompt).
func parseInterleaved(fs *flag.FlagSet, args []string) (positional []string, literal bool, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			return positional, false, err // with what came before the error: "groq batch --help"
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, false, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), true, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// readPrompt applies the precedence: positional text, --prompt-file, --stdin,
// standard input when it is not a terminal ("echo hi | groq") and not empty,
// --default-prompt.
func readPrompt(o *options, positional []string, stdin io.Reader) (string, error) {
	var p string
	switch {
	case len(positional) > 0:
		p = strings.Join(positional, " ")
	case o.promptFile != "":
		b, err := os.ReadFile(o.promptFile)
		if err != nil {
			return "", fmt.Errorf("cannot read the prompt file: %v", err)
		}
		p = strings.TrimRight(string(b), "\r\n") // an editor's final newline is not part of the prompt
	case o.stdin || !isTerminalIn(stdin):
		b, err := io.ReadAll(stdin)
		if err != nil {
			return "", fmt.Errorf("cannot read standard input: %v", err)
		}
		p = strings.TrimRight(string(b), "\r\n")
		if !o.stdin && p == "" { // an empty pipe: as if there were none
			return o.fallbackPrompt()
		}
	default:
		return o.fallbackPrompt()
	}
	if strings.TrimSpace(p) == "" {
		return "", errors.New("the prompt is empty")
	}
	return p, nil
}

// fallbackPrompt is --default-prompt, or errNoInput.
func (o *options) fallbackPrompt() (string, error) {
	if o.defaultPrompt == "" {
		return "", errNoInput
	}
	return o.defaultPrompt, nil
}

// isTerminalIn reports whether r is a terminal or another character device (as
// /dev/null): standard input that holds no prompt to read.
func isTerminalIn(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err != nil || st.Mode()&os.ModeCharDevice != 0
}

// callFailed reports a call's failure and returns the exit code: 2 for a request
// the client refused as malformed, 1 otherwise.
func callFailed(w io.Writer, err error) int {
	fmt.Fprintln(w, describeError(err))
	if errors.Is(err, groq.ErrInvalidRequest) {
		return exitUsage
	}
	return exitAPI
}

// describeError is the one line printed for a failed call: the status, Groq's
// message and the request id. It never contains a key (the client's errors do not).
func describeError(err error) string {
	var rl *groq.RateLimitError
	var apiErr *groq.APIError
	var notFound *groq.ModelNotFoundError
	var bad *groq.RequestError
	switch {
	case errors.As(err, &notFound): // before *APIError, which it wraps: it keeps "did you mean"
		return notFound.Error()
	case errors.As(err, &bad):
		return "groq: " + flagError(bad)
	case errors.As(err, &rl) && rl.Local:
		return fmt.Sprintf("groq: rate limited locally: capacity in %s (%s)", rl.RetryAfter.Round(time.Millisecond), rl.Reason)
	case errors.As(err, &apiErr):
		line := fmt.Sprintf("groq: error %d: %s", apiErr.StatusCode, apiErr.Message)
		if apiErr.RequestID != "" {
			line += " (request " + apiErr.RequestID + ")"
		}
		return line
	}
	return err.Error()
}

func printLimits(w io.Writer, s groq.RateLimitSnapshot) {
	fmt.Fprintf(w, "rate limits for %s (in flight %d, queued %s):\n", s.Model, s.InFlight, queuedText(s.Queued))
	show := func(used, limit int) string {
		if limit == 0 {
			return "unlimited"
		}
		return fmt.Sprintf("%d/%d", used, limit)
	}
	for _, q := range s.Quotas {
		fmt.Fprintf(w, "  %s: requests %s per minute, %s per day; tokens %s per minute, %s per day",
			q.Name, show(q.RequestsThisMinute, q.Limits.RPM), show(q.RequestsToday, q.Limits.RPD),
			show(q.TokensThisMinute, q.Limits.TPM), show(q.TokensToday, q.Limits.TPD))
		if !q.CoolingUntil.IsZero() {
			fmt.Fprintf(w, "; cooling down until %s", q.CoolingUntil.Format(time.TimeOnly))
		}
		fmt.Fprintln(w)
	}
}

// queuedText is the waiting calls by priority, as "none" or "3 at priority 1, 2
// at priority 5".
func queuedText(q map[int]int) string {
	if len(q) == 0 {
		return "none"
	}
	prios := make([]int, 0, len(q))
	for p := range q {
		prios = append(prios, p)
	}
	sort.Ints(prios)
	parts := make([]string, len(prios))
	for i, p := range prios {
		parts[i] = fmt.Sprintf("%d at priority %d", q[p], p)
	}
	return strings.Join(parts, ", ")
}
