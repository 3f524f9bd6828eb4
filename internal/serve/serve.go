// Package serve is "groq serve": the gateway (internal/gateway) on an address,
// with its tokens, its client, configuration reload, metrics and a graceful
// shutdown. The groq command and the redisstore module's groq-gateway run it.
package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/gateway"
	"github.com/groqkit/groq/internal/metrics"
)

// Env is what the server reads and writes of its process.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Signals delivers SIGTERM and SIGINT (nil: the process's own).
	Signals <-chan os.Signal
	// Ready, when set, is called with the address once the server listens.
	Ready func(addr string)
}

// Hooks let another binary add to the server: flags of its own, and options for
// the client (a shared QuotaStore) with what to close at the end.
type Hooks struct {
	Name    string // for usage and logs; default "groq serve"
	Flags   func(*flag.FlagSet)
	Options func() (opts []groq.Option, closeFn func(), err error)
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

type options struct {
	listen, config             string
	tokens                     tokenFlags
	rpm, concurrency, maxQueue int
	grace, reload              time.Duration
	maxBody, budget            int64
	verbose                    bool
}

// Run runs the server until a signal; it returns the exit code.
func Run(args []string, e Env, h Hooks) int {
	if h.Name == "" {
		h.Name = "groq serve"
	}
	var o options
	fs := flag.NewFlagSet(h.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "the address to serve on (host:port); off loopback it needs a token")
	fs.Var(&o.tokens, "token", "a caller's token: SECRET, or name=NAME,secret=SECRET[,priority=P][,max-priority=P][,daily-tokens=N] (repeatable; GROQ_GATEWAY_TOKEN too)")
	fs.StringVar(&o.config, "config", "", "JSON configuration `file` (models, keys, limits), reloaded when it changes or on SIGHUP")
	fs.IntVar(&o.rpm, "rpm", groq.DefaultRPM, "requests per minute for models without a known limit")
	fs.IntVar(&o.concurrency, "concurrency", 64, "requests to Groq in flight at most")
	fs.IntVar(&o.maxQueue, "max-queue", 10000, "calls waiting at most (a 429 past it)")
	fs.DurationVar(&o.grace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long the calls in flight have to finish")
	fs.DurationVar(&o.reload, "reload-every", 2*time.Second, "how often the config file is checked for changes")
	fs.Int64Var(&o.maxBody, "max-body", gateway.DefaultMaxBody, "the largest chat or speech request body, in bytes")
	fs.Int64Var(&o.budget, "budget", 0, "the whole gateway's daily token budget (0: none; a token's own is daily-tokens)")
	fs.BoolVar(&o.verbose, "v", false, "log every call (JSON lines on standard error)")
	if h.Flags != nil {
		h.Flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(e.Stdout, fs, h.Name)
			return exitOK
		}
		fmt.Fprintf(e.Stderr, "%s: %v (see %s -h)\n", h.Name, err, h.Name)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "%s: unexpected arguments %q\n", h.Name, fs.Args())
		return exitUsage
	}
	tokens, err := o.allTokens(e.Getenv)
	if err == nil {
		err = checkListen(o.listen, len(tokens) > 0)
	}
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: %v; nothing was started\n", h.Name, err)
		return exitUsage
	}
	return run(&o, tokens, e, h)
}

// whoMayCall says who may call the gateway: the holders of its tokens, or, with
// none (loopback only, as checkListen ensures), any program on this machine.
func whoMayCall(tokens int) string {
	if tokens == 0 {
		return "with no token required: any program on this machine may call it (give --token to require one)"
	}
	return fmt.Sprintf("to the holders of its %d token(s)", tokens)
}

// bare is err's message without the library's "groq: " prefix, which follows
// the command's name ("groq serve: ...") in what the command prints.
func bare(err error) string { return strings.TrimPrefix(err.Error(), "groq: ") }

// checkListen refuses an address off loopback when no token guards it.
func checkListen(addr string, guarded bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %v", addr, err)
	}
	if guarded || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--listen %s is not a loopback address: give callers a token (--token or GROQ_GATEWAY_TOKEN) before serving beyond this machine", addr)
}

// run builds the client and the gateway, serves, and shuts down on a signal.
func run(o *options, tokens []gateway.Token, e Env, h Hooks) int {
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewJSONHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	m := metrics.New()
	client, closeAll, code := newClient(o, e, h, log, m)
	if client == nil {
		return code
	}
	defer closeAll()
	gw, err := gateway.New(client, gateway.Config{Tokens: tokens, MaxBody: o.maxBody, Logger: log, Metrics: m})
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: %v\n", h.Name, err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: %v\n", h.Name, err)
		return exitFail
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(e.Stderr, "%s: serving the OpenAI-compatible API at http://%s/openai/v1 (and /v1) %s\n", h.Name, ln.Addr(), whoMayCall(len(tokens)))
	if e.Ready != nil {
		e.Ready(ln.Addr().String())
	}
	sigs := e.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
		defer signal.Stop(ch)
		sigs = ch
	}
	stopReload := watchConfig(o, client, log, e.Getenv)
	defer stopReload()
	select {
	case err := <-served:
		fmt.Fprintf(e.Stderr, "%s: %v\n", h.Name, err)
		return exitFail
	case sig := <-sigs:
		fmt.Fprintf(e.Stderr, "%s: %v: no new calls; the calls in flight have %s to finish\n", h.Name, sig, o.grace)
	}
	gw.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), o.grace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close() // the grace is over: what is left is cut
		fmt.Fprintf(e.Stderr, "%s: the grace ran out; the calls still in flight were cut\n", h.Name)
	}
	fmt.Fprintf(e.Stderr, "%s: stopped\n", h.Name)
	return exitOK
}

// newClient builds the gateway's client: keys from GROQ_API_KEYS or GROQ_API_KEY
// (with none, the built-in simulator, and it says so; one set but blank is
// refused), GROQ_BASE_URL, the config
// file, the hooks' options, and the metrics' observer. No cache: a gateway
// answers each call from Groq.
func newClient(o *options, e Env, h Hooks, log *slog.Logger, m *metrics.Metrics) (*groq.Client, func(), int) {
	m.NoCache()
	opts := []groq.Option{groq.WithRPM(o.rpm), groq.WithMaxConcurrency(o.concurrency), groq.WithMaxQueue(o.maxQueue),
		groq.WithLogger(slog.New(callerErrors{log.Handler()})), groq.WithObserver(m.Observer())}
	if o.budget > 0 {
		opts = append(opts, groq.WithDailyTokenBudget(o.budget))
	}
	keys, blank := EnvKeys(e.Getenv)
	if blank != "" { // set, but to nothing: a mistake, not a request for the simulator (as for the command)
		fmt.Fprintf(e.Stderr, "%s: %s is set but holds no key (it is blank); set it to a key, or unset it to answer from the built-in simulator\n", h.Name, blank)
		return nil, nil, exitUsage
	}
	if o.config != "" {
		cfg, err := ReadConfig(o.config, e.Getenv)
		if err != nil {
			fmt.Fprintf(e.Stderr, "%s: %s\n", h.Name, bare(err))
			return nil, nil, exitUsage
		}
		opts = append(opts, groq.WithConfig(cfg))
	}
	switch {
	case len(keys) > 0:
		opts = append(opts, groq.WithAPIKeys(keys...))
	case o.config == "":
		fmt.Fprintf(e.Stderr, "%s: no GROQ_API_KEY or GROQ_API_KEYS set; answering from the built-in simulator (groqtest), not from Groq\n", h.Name)
		opts = append(opts, groqtest.NewUnstartedServer().ClientOptions()...)
	}
	if u := e.Getenv("GROQ_BASE_URL"); u != "" {
		opts = append(opts, groq.WithBaseURL(u))
	}
	closeHook := func() {}
	if h.Options != nil {
		more, c, err := h.Options()
		if err != nil {
			fmt.Fprintf(e.Stderr, "%s: %v\n", h.Name, err)
			return nil, nil, exitUsage
		}
		opts = append(opts, more...)
		if c != nil {
			closeHook = c
		}
	}
	client, err := groq.NewClient(opts...)
	if err != nil {
		closeHook()
		fmt.Fprintf(e.Stderr, "%s: %s\n", h.Name, bare(err))
		return nil, nil, exitUsage
	}
	m.SetClient(client)
	return client, func() { client.Close(); closeHook() }, exitOK
}

// EnvKeys reads the Groq keys from GROQ_API_KEYS (comma-separated), else
// GROQ_API_KEY. blank names the first of them that is set but holds no key (a
// mistake, not a request for the simulator), when no keys were found before it.
func EnvKeys(getenv func(string) string) (keys []string, blank string) {
	for _, name := range []string{"GROQ_API_KEYS", "GROQ_API_KEY"} {
		v := getenv(name)
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			return keys, ""
		}
		if v != "" {
			return nil, name
		}
	}
	return nil, ""
}

// ReadConfig reads and parses the configuration file at path; a parse error is
// a *groq.ConfigError naming the file.
func ReadConfig(path string, getenv func(string) string) (*groq.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the config file: %w", err)
	}
	cfg, err := groq.ParseConfig(data, getenv)
	var ce *groq.ConfigError
	if errors.As(err, &ce) {
		ce.File = path
	}
	return cfg, err
}

// watchConfig reloads the config file when it changes (checked every
// o.reload) or on SIGHUP; a file that does not parse is logged and the running
// configuration kept.
func watchConfig(o *options, c *groq.Client, log *slog.Logger, getenv func(string) string) (stop func()) {
	if o.config == "" {
		return func() {}
	}
	done := make(chan struct{})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	stamp := func() string {
		st, err := os.Stat(o.config)
		if err != nil {
			return ""
		}
		return st.ModTime().String() + "/" + strconv.FormatInt(st.Size(), 10)
	}
	last := stamp()
	t := time.NewTicker(o.reload)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if s := stamp(); s == last {
					continue
				} else {
					last = s
				}
			case <-hup:
			}
			cfg, err := ReadConfig(o.config, getenv)
			if err == nil {
				err = c.Reload(cfg)
			}
			if err != nil {
				log.Error("gateway: the config file was not reloaded; the running configuration stays", "error", err.Error())
				continue
			}
			log.Warn("gateway: config file reloaded", "file", o.config)
		}
	}()
	return func() { t.Stop(); signal.Stop(hup); close(done); <-stopped }
}

func usage(w io.Writer, fs *flag.FlagSet, name string) {
	fmt.Fprintf(w, `usage: %s [--listen 127.0.0.1:8080] [--token SPEC]... [--config FILE]

Serves an OpenAI-compatible API (POST chat/completions, plain or streamed; GET
models; the audio endpoints) at /openai/v1 and /v1, through one client: its
priorities (X-Groq-Priority: 1..10), per-model queues, per-key buckets, retries
and budget, for services in any language. Callers present a gateway token
(Authorization: Bearer); the Groq keys never leave the gateway. /healthz, /readyz
and /metrics are served too. SIGTERM stops new calls and gives those in flight
--shutdown-grace to finish, then exits 0.

Flags:
`, name)
	fs.SetOutput(w)
	fs.PrintDefaults()
}
