package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// Exit codes.
const (
	exitOK    = 0
	exitAPI   = 1 // the call failed
	exitUsage = 2 // bad flags or input
)

type options struct {
	promptFile, defaultPrompt, system, model string
	stdin, jsonOut, limits, verbose, stream  bool
	rpm, concurrency, priority, maxTokens    int
	temperature                              float64
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	var o options
	fs := flag.NewFlagSet("groq", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.promptFile, "prompt-file", "", "read the prompt from `file`")
	fs.BoolVar(&o.stdin, "stdin", false, "read the prompt from standard input")
	fs.StringVar(&o.defaultPrompt, "default-prompt", "", "prompt used when no other is given")
	fs.StringVar(&o.system, "system", "", "system message")
	fs.StringVar(&o.model, "model", "", "model (default "+groq.DefaultModel+")")
	fs.IntVar(&o.rpm, "rpm", groq.DefaultRPM, "requests per minute for models without a known limit")
	fs.IntVar(&o.concurrency, "concurrency", groq.DefaultMaxConcurrency, "requests in flight at most")
	fs.IntVar(&o.priority, "priority", groq.DefaultPriority, "priority, 1 (most urgent) to 10")
	fs.IntVar(&o.maxTokens, "max-tokens", 0, "max completion tokens (0: the server's default)")
	fs.Float64Var(&o.temperature, "temperature", -1, "sampling temperature, 0 to 2")
	fs.BoolVar(&o.jsonOut, "json", false, "print the whole response as JSON")
	fs.BoolVar(&o.limits, "limits", false, "print the rate-limit snapshot after the call")
	fs.BoolVar(&o.verbose, "v", false, "log to standard error")
	fs.BoolVar(&o.stream, "stream", false, "print the answer as it is generated")
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout, fs)
			return exitOK
		}
		fmt.Fprintf(stderr, "groq: %v (see groq -h)\n", err)
		return exitUsage
	}
	prompt, err := readPrompt(&o, fs.Args(), stdin)
	if err != nil {
		fmt.Fprintf(stderr, "groq: %v\n", err)
		return exitUsage
	}

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.verbose {
		logger = newLogger(stderr)
	}
	opts := []groq.Option{
		groq.WithRPM(o.rpm), groq.WithMaxConcurrency(max(o.concurrency, 0)), groq.WithLogger(logger),
	}
	if o.model != "" {
		opts = append(opts, groq.WithDefaultModel(o.model))
	}
	if strings.TrimSpace(getenv("GROQ_API_KEYS")) == "" && strings.TrimSpace(getenv("GROQ_API_KEY")) == "" {
		srv := groqtest.NewUnstartedServer()
		opts = append(opts, groq.WithAPIKeys("gsk_simulator"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
		fmt.Fprintln(stderr, "groq: no GROQ_API_KEY or GROQ_API_KEYS set; answering from the built-in simulator (groqtest), not from Groq")
	} else {
		opts = append(opts, groq.WithAPIKeys(envKeys(getenv)...))
	}
	client, err := groq.NewClient(opts...)
	if err != nil {
		fmt.Fprintf(stderr, "groq: %v\n", err)
		return exitUsage
	}
	defer client.Close()

	var call []groq.CallOption
	call = append(call, groq.WithPriority(clamp(o.priority)))
	if o.priority < 1 || o.priority > 10 {
		fmt.Fprintf(stderr, "groq: -priority %d is outside 1..10\n", o.priority)
		return exitUsage
	}
	if o.maxTokens > 0 {
		call = append(call, groq.WithMaxTokens(o.maxTokens))
	} else if o.maxTokens < 0 {
		fmt.Fprintf(stderr, "groq: -max-tokens %d is negative\n", o.maxTokens)
		return exitUsage
	}
	if o.temperature != -1 {
		if o.temperature < 0 || o.temperature > 2 {
			fmt.Fprintf(stderr, "groq: -temperature %v is outside [0, 2]\n", o.temperature)
			return exitUsage
		}
		call = append(call, groq.WithTemperature(o.temperature))
	}
	var msgs []groq.Message
	if o.system != "" {
		msgs = append(msgs, groq.System(o.system))
	}
	msgs = append(msgs, groq.User(prompt))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var resp *groq.ChatResponse
	if o.stream {
		resp, err = streamTo(ctx, client, msgs, call, stdout, !o.jsonOut)
	} else {
		resp, err = client.Chat(ctx, msgs, call...)
	}
	if err != nil {
		fmt.Fprintln(stderr, describeError(err))
		if errors.Is(err, groq.ErrInvalidRequest) {
			return exitUsage
		}
		return exitAPI
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(resp)
	} else if !o.stream {
		fmt.Fprintln(stdout, resp.Text())
	}
	if o.limits {
		printLimits(stdout, client.Limits(resp.Model))
	}
	return exitOK
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

func clamp(p int) int { return min(max(p, 1), 10) }

func envKeys(getenv func(string) string) []string {
	v := getenv("GROQ_API_KEYS")
	if strings.TrimSpace(v) == "" {
		v = getenv("GROQ_API_KEY")
	}
	var keys []string
	for _, k := range strings.Split(v, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// readPrompt applies the precedence: positional text, --prompt-file, --stdin,
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
		p = string(b)
	case o.stdin:
		b, err := io.ReadAll(stdin)
		if err != nil {
			return "", fmt.Errorf("cannot read standard input: %v", err)
		}
		p = string(b)
	case o.defaultPrompt != "":
		p = o.defaultPrompt
	default:
		return "", errors.New("no prompt: give it as an argument, --prompt-file, --stdin or --default-prompt")
	}
	if strings.TrimSpace(p) == "" {
		return "", errors.New("the prompt is empty")
	}
	return p, nil
}

// describeError is the one line printed for a failed call: the status, Groq's
// message and the request id. It never contains a key (the client's errors do not).
func describeError(err error) string {
	var rl *groq.RateLimitError
	var apiErr *groq.APIError
	switch {
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

func printLimits(w io.Writer, s groq.LimitsSnapshot) {
	fmt.Fprintf(w, "rate limits for %s (in flight %d, queued %v):\n", s.Model, s.InFlight, s.Queued)
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

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: groq [flags] [prompt]")
	fmt.Fprintln(w, "Keys come from GROQ_API_KEYS (comma-separated) or GROQ_API_KEY; with none, the built-in simulator answers.")
	fs.SetOutput(w)
	fs.PrintDefaults()
}
