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
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
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
	listen, config, adminToken string
	tokens                     tokenFlags
	rpm, concurrency, maxQueue int
	rpmSet                     bool // --rpm was given: the user's, not a guess
	grace, reload              time.Duration
	maxBody, budget            int64
	verbose, sharedCache       bool
	origins                    originFlags
	configured                 atomic.Pointer[map[string]bool] // the models the config file names, and its routes
}

// originFlags are the --allow-origin values.
type originFlags []string

func (f *originFlags) String() string { return strings.Join(*f, ",") }

func (f *originFlags) Set(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("%q is not an origin (scheme://host[:port])", v)
	}
	*f = append(*f, v)
	return nil
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
	fs.Var(&o.tokens, "token", "a caller's token: SECRET, or name=NAME,secret=SECRET[,priority=P][,max-priority=P][,daily-tokens=N][,max-in-flight=N] (repeatable; GROQ_GATEWAY_TOKEN too)")
	fs.StringVar(&o.config, "config", "", "JSON configuration `file` (models, keys, limits), reloaded when it changes or on SIGHUP")
	fs.IntVar(&o.rpm, "rpm", groq.DefaultRPM, "requests per minute for models without a known limit")
	fs.IntVar(&o.concurrency, "concurrency", 64, "requests to Groq in flight at most")
	fs.IntVar(&o.maxQueue, "max-queue", 10000, "calls waiting at most (a 429 past it)")
	fs.DurationVar(&o.grace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long the calls in flight have to finish")
	fs.DurationVar(&o.reload, "reload-every", 2*time.Second, "how often the config file is checked for changes")
	fs.Int64Var(&o.maxBody, "max-body", gateway.DefaultMaxBody, "the largest chat or speech request body, in bytes")
	fs.Int64Var(&o.budget, "budget", 0, "the whole gateway's daily token budget (0: none; a token's own is daily-tokens)")
	fs.BoolVar(&o.verbose, "v", false, "log every call (JSON lines on standard error)")
	fs.BoolVar(&o.sharedCache, "shared-cache", false, "with the config file's cache_path: let callers be answered from each other's cached calls (default: each token has its own)")
	fs.StringVar(&o.adminToken, "admin-token", "", "the secret that opens GET /status and the live page at / off loopback (never a caller's token; GROQ_GATEWAY_ADMIN_TOKEN too); on loopback they are open")
	fs.Var(&o.origins, "allow-origin", "a browser `origin` (http://localhost:3000) that may call a gateway without tokens (repeatable; others get a 403)")
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
	fs.Visit(func(f *flag.Flag) { o.rpmSet = o.rpmSet || f.Name == "rpm" })
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "%s: unexpected arguments %q\n", h.Name, fs.Args())
		return exitUsage
	}
	if o.adminToken == "" {
		o.adminToken = strings.TrimSpace(e.Getenv("GROQ_GATEWAY_ADMIN_TOKEN"))
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
	if guarded || loopback(host) {
		return nil
	}
	return fmt.Errorf("--listen %s is not a loopback address: give callers a token (--token or GROQ_GATEWAY_TOKEN) before serving beyond this machine", addr)
}

// loopback reports whether host (of a listen address) is localhost or a loopback
// address: the status and its page are open there.
func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// statusNote says where the live status page is and who may open it (never
// printing the admin token).
func statusNote(addr string, open, admin bool) string {
	switch {
	case open:
		return fmt.Sprintf("the live status page is at http://%s/ (GET /status for JSON), open to programs on this machine", addr)
	case admin:
		return fmt.Sprintf("the live status page is at http://%s/?token=ADMIN_TOKEN (once; then a cookie), GET /status with the admin token as a Bearer token", addr)
	}
	return "the status page and GET /status are refused off loopback: give --admin-token to serve them"
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
	host, _, _ := net.SplitHostPort(o.listen) // checked by checkListen
	open := loopback(host)
	gw, err := gateway.New(client, gateway.Config{Tokens: tokens, MaxBody: o.maxBody, Logger: log, Metrics: m, AllowedOrigins: o.origins, SharedCache: o.sharedCache,
		Configured: func(model string) bool { c := o.configured.Load(); return c != nil && (*c)[model] }, AdminToken: o.adminToken, OpenStatus: open})
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: %v\n", h.Name, err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: %v\n", h.Name, err)
		return exitFail
	}
	stopReload := watchConfig(o, client, log, e.Getenv) // SIGHUP is ours before anyone can know the address
	defer stopReload()
	sigs := e.Signals
	if sigs == nil { // SIGTERM is ours too before anyone can know the address
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
		defer signal.Stop(ch)
		sigs = ch
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(e.Stderr, "%s: serving the OpenAI-compatible API at http://%s/openai/v1 (and /v1) %s\n", h.Name, ln.Addr(), whoMayCall(len(tokens)))
	fmt.Fprintf(e.Stderr, "%s: %s\n", h.Name, statusNote(ln.Addr().String(), open, o.adminToken != ""))
	if e.Ready != nil {
		e.Ready(ln.Addr().String())
	}
	select {
	case err := <-served:
		fmt.Fprintf(e.Stderr, "%s: %v\n", h.Name, err)
		return exitFail
	case sig := <-sigs:
		fmt.Fprintf(e.Stderr, "%s: %v: draining (/readyz answers 503); the calls in flight have %s to finish (a second signal ends them now)\n", h.Name, sig, o.grace)
	}
	drain(srv, gw, o.grace, sigs)
	fmt.Fprintf(e.Stderr, "%s: stopped\n", h.Name)
	return exitOK
}

// drain stops the server gracefully: /readyz answers 503 while the listener
// stays open (a load balancer's probes see it), connections are not kept
// alive, and the calls in flight have grace to finish. When the grace runs out,
// or on a second signal, the calls still running are ended with a 503
// "shutting_down" answer (an error event for a stream) rather than a cut
// connection, and the server closes.
func drain(srv *http.Server, gw *gateway.Gateway, grace time.Duration, sigs <-chan os.Signal) {
	gw.Drain()
	srv.SetKeepAlivesEnabled(false)
	end := time.NewTimer(grace)
	defer end.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
wait:
	for gw.InFlight() > 0 {
		select {
		case <-tick.C:
		case <-end.C:
			break wait
		case <-sigs:
			break wait
		}
	}
	gw.Abort() // nothing left in flight, or their time is up
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close() // a handler that did not answer the abort in time
	}
}

// newClient builds the gateway's client: keys from GROQ_API_KEYS or GROQ_API_KEY
// (with none, the built-in simulator, and it says so; one set but blank is
// refused), GROQ_BASE_URL, the config
// file, the hooks' options, and the metrics' observer. No cache: a gateway
// answers each call from Groq.
func newClient(o *options, e Env, h Hooks, log *slog.Logger, m *metrics.Metrics) (*groq.Client, func(), int) {
	m.NoCache()
	opts := []groq.Option{groq.WithMaxConcurrency(o.concurrency), groq.WithMaxQueue(o.maxQueue),
		groq.WithLogger(slog.New(callerErrors{log.Handler()})), groq.WithObserver(m.Observer()), gateway.ClientOption()}
	if o.rpmSet { // else the default is the client's guess, which Groq's answers can lift
		opts = append(opts, groq.WithRPM(o.rpm))
	}
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
		o.setConfigured(cfg)
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

// setConfigured notes the models cfg names, which the gateway lets through
// whether or not Groq's model list has them, and its routes (a chat's model may
// name one), with their models. The client reloads the routes with cfg.
func (o *options) setConfigured(cfg *groq.Config) {
	names := make(map[string]bool, len(cfg.Models)+len(cfg.Routes))
	for m := range cfg.Models {
		names[m] = true
	}
	for r, list := range cfg.Routes {
		names[r] = true
		for _, m := range list {
			names[m] = true
		}
	}
	o.configured.Store(&names)
}

// watchConfig reloads the config file when it changes (checked every
// o.reload) or on SIGHUP; a file that does not parse is logged and the running
// configuration kept. Without a config file, SIGHUP is logged and ignored (its
// default would end the process at once, with no drain).
func watchConfig(o *options, c *groq.Client, log *slog.Logger, getenv func(string) string) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	if o.config == "" {
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			for {
				select {
				case <-done:
					return
				case <-hup:
					log.Warn("gateway: SIGHUP ignored: there is no --config file to reload")
				}
			}
		}()
		return func() { signal.Stop(hup); close(done); <-stopped }
	}
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
			if err == nil {
				o.setConfigured(cfg)
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
and /metrics are served too. SIGTERM drains: /readyz answers 503 while the calls
in flight have --shutdown-grace to finish; then (or on a second SIGTERM) the
calls left get a 503 and it exits 0. SIGHUP reloads --config.

Flags:
`, name)
	fs.SetOutput(w)
	fs.PrintDefaults()
}
