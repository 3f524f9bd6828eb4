// Package gateway serves a groq.Client over HTTP as an OpenAI-compatible API, so
// that services in any language share one scheduler: its priorities, per-model
// queues, per-key buckets, learning, budget, retries and observer. The groq
// command's "groq serve" runs it; the redisstore module's groq-gateway runs it
// with a quota shared through Redis.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/internal/metrics"
)

// Token is one caller of the gateway: what it presents as a Bearer token, its
// name (for logs and metrics), the priority of its calls when they ask none, the
// most urgent priority it may ask, an optional daily budget of tokens, and an
// optional bound on its calls served at once. Within one priority, the
// tokens' calls take turns (groq.WithCaller).
type Token struct {
	Name        string
	Secret      string
	Priority    int   // 0: groq.DefaultPriority
	MaxPriority int   // the most urgent it may ask (a smaller number is lowered to it); 0: 1
	DailyTokens int64 // 0: no budget of its own
	MaxInFlight int   // its calls served at once, at most (more wait their turn); 0: no bound of its own
}

// Config configures a Gateway. Zero values take the defaults named.
type Config struct {
	// Tokens are the callers; with none, every caller is let in (as "anonymous"):
	// the command allows that only on a loopback address.
	Tokens []Token
	// MaxBody bounds a chat or speech request's body (default 4 MiB);
	// MaxAudioBody a transcription's (default groq.MaxAudioFileBytes plus 1 MiB).
	MaxBody, MaxAudioBody int64
	Logger                *slog.Logger     // default: discard
	Metrics               *metrics.Metrics // nil: no /metrics
	// MaxBodiesInFlight bounds the bytes of request bodies read at once across
	// all calls (default DefaultMaxBodiesInFlight); a call whose body does not
	// fit waits for room up to bodyWait, then gets a 503 with Retry-After.
	MaxBodiesInFlight int64
	// AllowedOrigins are the browser origins (scheme://host[:port]) let in when
	// the gateway has no tokens; any other Origin is refused with a 403.
	AllowedOrigins []string
	// AdminToken is the secret that opens GET /status and the live page at /
	// (as "Authorization: Bearer" or, for the page, a cookie it sets from
	// ?token=); never a caller's token. OpenStatus opens them without it (the
	// command sets it on a loopback address); with neither, they are refused.
	AdminToken string
	OpenStatus bool
	// SharedCache lets callers be answered from each other's cached calls (and
	// share a request with an identical call in flight); by default each token
	// has its own.
	SharedCache bool
	// Configured says whether the configuration names model (it goes through
	// even when Groq's model list does not list it); nil: none does.
	Configured func(model string) bool
}

// Default bounds.
const (
	DefaultMaxBody           = 4 << 20
	DefaultMaxBodiesInFlight = 256 << 20
	maxTimeout               = 10 * time.Minute // a call's longest life, and its life when the caller sets no X-Groq-Timeout
	bodyTimeout              = 30 * time.Second // a chat or speech body's longest read
	audioBodyTimeout         = 5 * time.Minute  // an audio upload's
	bodyWait                 = 10 * time.Second // the longest wait for room among the bodies in flight
	writeTimeout             = 10 * time.Second // the longest a caller may leave one write of its answer unread
)

// Gateway is an http.Handler; it is safe for concurrent use.
type Gateway struct {
	c        *groq.Client
	cfg      Config
	tokens   []*caller
	anon     *caller
	mux      *http.ServeMux
	draining atomic.Bool
	inFlight atomic.Int64 // the calls being served
	modelSet modelGate
	bodies   *semaphore.Weighted // bytes of request bodies in flight
	origins  map[string]bool
	// stop ends every call's context when the drain's grace is over (Abort).
	stop     context.Context
	stopCall context.CancelFunc
	// The bounds on a body's read, a wait for room among the bodies, and one
	// write to a caller (constants; tests shorten them).
	bodyTimeout, audioBodyTimeout, bodyWait, writeTimeout time.Duration
	admin                                                 adminGate // who may read /status and the page (status.go)
}

// caller is a Token with its day's spending.
type caller struct {
	Token
	digest              [sha256.Size]byte // of the secret
	mu                  sync.Mutex
	day                 string
	used                int64               // spent today
	calls               int64               // calls today (GET /status)
	serving             atomic.Int64        // its calls being served
	reserved            int64               // held by the calls in flight
	slots               *semaphore.Weighted // MaxInFlight; nil: no bound
	lbl, lbl200         string
	lblOnce, lbl200Once sync.Once
	// opts are its calls' options by priority, made once: the priority, its
	// name as the caller (turns within a priority) and, unless the cache is
	// shared, as the cache's scope.
	opts [11][]groq.CallOption
}

func (c *caller) setOpts(sharedCache bool) {
	for p := 1; p <= 10; p++ {
		c.opts[p] = []groq.CallOption{groq.WithPriority(p), groq.WithCaller(c.Name)}
		if !sharedCache {
			c.opts[p] = append(c.opts[p], groq.WithCacheScope(c.Name))
		}
	}
}

// New checks cfg and returns the gateway serving c. An invalid token (no name or
// secret, a name or secret given twice, a priority outside 1..10) is an error.
func New(c *groq.Client, cfg Config) (*Gateway, error) {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxAudioBody <= 0 {
		cfg.MaxAudioBody = groq.MaxAudioFileBytes + 1<<20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodiesInFlight <= 0 {
		cfg.MaxBodiesInFlight = DefaultMaxBodiesInFlight
	}
	g := &Gateway{c: c, cfg: cfg, anon: &caller{Token: Token{Name: "anonymous"}}, bodies: semaphore.NewWeighted(cfg.MaxBodiesInFlight), origins: map[string]bool{}}
	g.stop, g.stopCall = context.WithCancel(context.Background())
	g.bodyTimeout, g.audioBodyTimeout, g.bodyWait, g.writeTimeout = bodyTimeout, audioBodyTimeout, bodyWait, writeTimeout
	g.admin = newAdminGate(cfg.AdminToken, cfg.OpenStatus)
	for _, o := range cfg.AllowedOrigins {
		g.origins[strings.TrimRight(strings.ToLower(o), "/")] = true
	}
	names, secrets := map[string]bool{}, map[string]bool{}
	for i, t := range cfg.Tokens {
		switch {
		case t.Name == "" || t.Secret == "":
			return nil, fmt.Errorf("gateway: token #%d needs a name and a secret", i)
		case names[t.Name]:
			return nil, fmt.Errorf("gateway: token name %q is given twice", t.Name)
		case secrets[t.Secret]:
			return nil, fmt.Errorf("gateway: token %q has the secret of another", t.Name)
		case t.Priority < 0 || t.Priority > 10 || t.MaxPriority < 0 || t.MaxPriority > 10:
			return nil, fmt.Errorf("gateway: token %q: priorities are 1 to 10", t.Name)
		case t.DailyTokens < 0:
			return nil, fmt.Errorf("gateway: token %q: a negative daily budget", t.Name)
		case t.MaxInFlight < 0:
			return nil, fmt.Errorf("gateway: token %q: a negative max-in-flight", t.Name)
		}
		if cfg.AdminToken != "" && t.Secret == cfg.AdminToken {
			return nil, fmt.Errorf("gateway: token %q has the admin token's secret: the admin token must be a secret of its own", t.Name)
		}
		names[t.Name], secrets[t.Secret] = true, true
		c := &caller{Token: t, digest: sha256.Sum256([]byte(t.Secret))}
		if t.MaxInFlight > 0 {
			c.slots = semaphore.NewWeighted(int64(t.MaxInFlight))
		}
		g.tokens = append(g.tokens, c)
	}
	for _, c := range append(g.tokens, g.anon) {
		c.setOpts(cfg.SharedCache)
	}
	g.routes()
	return g, nil
}

// Drain makes /readyz answer 503, for a load balancer to stop sending, while the
// calls in flight finish.
func (g *Gateway) Drain() { g.draining.Store(true) }

// InFlight is how many calls the gateway is serving.
func (g *Gateway) InFlight() int { return int(g.inFlight.Load()) }

// Abort ends the calls still in flight (the drain's grace is over): each
// answers a 503 "shutting_down" (a streamed one, an error event) instead of a
// cut connection.
func (g *Gateway) Abort() { g.stopCall() }

func (g *Gateway) routes() {
	m := http.NewServeMux()
	allowed := map[string]string{} // path → its methods, for a 405's Allow
	handle := func(method, path string, h http.HandlerFunc) {
		m.HandleFunc(method+" "+path, h)
		if a := allowed[path]; a != "" {
			method = a + ", " + method
		}
		allowed[path] = method
	}
	for _, p := range []string{"/openai/v1", "/v1"} {
		handle("POST", p+"/chat/completions", g.authed(g.chat))
		handle("GET", p+"/models", g.authed(g.models))
		m.HandleFunc("GET "+p+"/models/{id...}", g.authed(g.models))
		handle("POST", p+"/audio/transcriptions", g.authed(g.transcribe))
		handle("POST", p+"/audio/translations", g.authed(g.transcribe))
		handle("POST", p+"/audio/speech", g.authed(g.speech))
	}
	handle("GET", "/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	handle("GET", "/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if g.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	if g.cfg.Metrics != nil {
		handle("GET", "/metrics", g.metrics)
	}
	handle("GET", "/status", g.status)
	m.HandleFunc("GET /{$}", g.page)
	handle("GET", "/favicon.ico", noIcon)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a := allowed[r.URL.Path]
		if a == "" && (strings.HasPrefix(r.URL.Path, "/openai/v1/models/") || strings.HasPrefix(r.URL.Path, "/v1/models/")) {
			a = "GET"
		}
		unread(w, r)
		if a != "" {
			w.Header().Set("Allow", a)
			writeError(w, http.StatusMethodNotAllowed, &apiError{Message: r.Method + " is not allowed on " + r.URL.Path + " (allowed: " + a + ")", Type: "invalid_request_error", Code: "method_not_allowed"})
			return
		}
		writeError(w, http.StatusNotFound, &apiError{Message: "Unknown request URL: " + r.Method + " " + r.URL.Path, Type: "invalid_request_error", Code: "unknown_url"})
	})
	g.mux = m
}

// ServeHTTP serves the gateway's routes. Without tokens (a loopback gateway),
// it first refuses what a web page could send: a Host that is not loopback (DNS
// rebinding) and a browser Origin not in AllowedOrigins.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 { // a body: bounded in time until a handler reads it (room) or refuses it
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(g.bodyTimeout))
	}
	if len(g.tokens) == 0 {
		if msg := g.foreign(r); msg != "" {
			unread(w, r)
			writeError(w, http.StatusForbidden, &apiError{Message: msg, Type: "invalid_request_error", Code: "forbidden"})
			return
		}
	}
	g.mux.ServeHTTP(w, r)
}

// request is one call through the gateway, for its handler, logs and metrics.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	g      *Gateway
	who    *caller
	id     string // the gateway's request id
	start  time.Time
	status int
	model  string
	prio   int
	// reserved is the caller's budget it holds; held the bytes of the bodies in
	// flight; admitted is set by the client's observer (Observer) when the call
	// leaves the queue.
	reserved int64
	held     int64
	admitted atomic.Bool
	bodyRead bool // its body was read to its end
}

// authed checks the caller's token (an OpenAI-shaped 401 when it is missing or
// wrong: nothing goes to Groq) and logs and counts the call when it ends.
func (g *Gateway) authed(h func(*request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g.inFlight.Add(1)
		defer g.inFlight.Add(-1)
		q := &request{w: w, r: r, g: g, id: newID(), start: time.Now(), status: http.StatusOK}
		w.Header().Set("X-Groq-Gateway-Request-Id", q.id)
		q.who = g.caller(r)
		if q.who == nil {
			q.fail(http.StatusUnauthorized, &apiError{Message: "Invalid API Key: the gateway's token is missing or wrong", Type: "invalid_request_error", Code: "invalid_api_key"})
			g.done(q)
			return
		}
		q.who.begun()
		defer q.who.serving.Add(-1)
		h(q)
		if q.held > 0 {
			g.bodies.Release(q.held)
		}
		g.done(q)
	}
}

// caller is the token r presents (nil when it presents none that is known).
func (g *Gateway) caller(r *http.Request) *caller {
	if len(g.tokens) == 0 {
		return g.anon
	}
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return nil
	}
	// Digests of equal length are compared, so that neither the time nor its
	// length tells anything of a secret; every token is compared.
	digest := sha256.Sum256([]byte(strings.TrimSpace(h[7:])))
	var found *caller
	for _, t := range g.tokens {
		if subtle.ConstantTimeCompare(digest[:], t.digest[:]) == 1 {
			found = t
		}
	}
	return found
}

// done logs and counts a finished call.
func (g *Gateway) done(q *request) {
	d := time.Since(q.start)
	if g.cfg.Logger.Enabled(q.r.Context(), slog.LevelInfo) {
		g.log(q, d)
	}
	if m := g.cfg.Metrics; m != nil {
		m.Add("groq_gateway_requests_total", q.who.statusLabels(q.status), 1)
		m.Observe("groq_gateway_request_duration_seconds", q.who.labels(), d.Seconds())
	}
}

// log logs a finished call (at Info: the line is built only when it is on).
func (g *Gateway) log(q *request, d time.Duration) {
	g.cfg.Logger.LogAttrs(q.r.Context(), slog.LevelInfo, "gateway: call",
		slog.String("id", q.id), slog.String("token", q.who.name()), slog.String("method", q.r.Method), slog.String("path", q.r.URL.Path),
		slog.String("model", q.model), slog.Int("priority", q.prio), slog.Int("status", q.status),
		slog.String("groq_request_id", q.w.Header().Get("X-Request-Id")), slog.Duration("duration", d))
}

// labels are the metrics' labels of a caller's calls, rendered once.
func (c *caller) labels() string {
	if c == nil {
		return metrics.Labels("groq_gateway_token", "unknown")
	}
	c.lblOnce.Do(func() { c.lbl = metrics.Labels("groq_gateway_token", c.Name) })
	return c.lbl
}

// statusLabels are labels with the answer's status: a 200's rendered once.
func (c *caller) statusLabels(status int) string {
	if c != nil && status == http.StatusOK {
		c.lbl200Once.Do(func() { c.lbl200 = metrics.Labels("groq_gateway_token", c.Name, "http_response_status_code", "200") })
		return c.lbl200
	}
	return metrics.Labels("groq_gateway_token", c.name(), "http_response_status_code", strconv.Itoa(status))
}

func (c *caller) name() string {
	if c == nil {
		return "unknown"
	}
	return c.Name
}

// priority is the call's priority: X-Groq-Priority (1 to 10), else the token's
// default, never more urgent than the token's ceiling.
func (q *request) priority() (int, error) {
	p := q.who.Priority
	if p == 0 {
		p = groq.DefaultPriority
	}
	if v := q.r.Header.Get("X-Groq-Priority"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 10 {
			return 0, fmt.Errorf("X-Groq-Priority %q: a priority is 1 (most urgent) to 10", v)
		}
		p = n
	}
	if q.who.MaxPriority > 0 && p < q.who.MaxPriority {
		p = q.who.MaxPriority
	}
	q.prio = p
	q.w.Header().Set("X-Groq-Priority", strconv.Itoa(p))
	return p, nil
}

// context is the call's context: the request's (which ends when the caller goes
// away), within X-Groq-Timeout when given (a Go duration, as 30s, or seconds).
func (q *request) context() (context.Context, context.CancelFunc, error) {
	d := maxTimeout
	if v := strings.TrimSpace(q.r.Header.Get("X-Groq-Timeout")); v != "" {
		t, err := time.ParseDuration(v)
		if err != nil {
			secs, serr := strconv.ParseFloat(v, 64)
			t, err = time.Duration(secs*float64(time.Second)), serr
		}
		if err != nil || t <= 0 || t > maxTimeout {
			return nil, nil, fmt.Errorf("X-Groq-Timeout %q: a positive duration (30s) or seconds, at most %s", v, maxTimeout)
		}
		d = t
	}
	ctx, cancel := context.WithTimeout(context.WithValue(q.r.Context(), admittedKey{}, &q.admitted), d)
	stop := context.AfterFunc(q.g.stop, cancel) // Abort: the drain's grace is over
	return ctx, func() { stop(); cancel() }, nil
}

// The daily budget of a token is reserved before a call is sent and settled
// when it ends, so that calls in flight together cannot spend past it: a call
// reserves its prompt's estimate and its max_completion_tokens (or, when it
// sets none, completionGuess), never more than what is left; a call that finds
// nothing left is refused.
const completionGuess = 256

// reserve holds the call's share of its caller's budget; false when it answered
// the refusal (a 429 with Retry-After until midnight UTC).
func (q *request) reserve(want int64) bool {
	c := q.who
	if c.DailyTokens <= 0 {
		return true
	}
	c.mu.Lock()
	now := time.Now().UTC()
	c.roll(now)
	left := c.DailyTokens - c.used - c.reserved
	if left > 0 {
		q.reserved = min(max(want, 1), left)
		c.reserved += q.reserved
	}
	c.mu.Unlock()
	if left > 0 {
		return true
	}
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	q.w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(midnight.Sub(now).Seconds()))))
	q.fail(http.StatusTooManyRequests, &apiError{Message: fmt.Sprintf("the daily token budget of %q (%d tokens) is spent; it resets at midnight UTC", c.Name, c.DailyTokens),
		Type: "tokens", Code: "budget_exceeded"})
	return false
}

// chatCost is what a chat call reserves of its caller's budget.
func chatCost(req *groq.ChatRequest) int64 {
	want := int64(groq.EstimateTokens(req.Model, req.Messages))
	switch {
	case req.MaxCompletionTokens != nil:
		return want + int64(*req.MaxCompletionTokens)
	case req.MaxTokens != nil:
		return want + int64(*req.MaxTokens)
	}
	return want + completionGuess
}

// settle gives back the call's reservation and charges what it spent.
// Every token's spending is counted, with a budget or without (GET /status
// shows it); a call that ends on a new day counts on that day.
func (q *request) settle(spent int64) {
	c := q.who
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reserved -= q.reserved
	q.reserved = 0
	c.roll(time.Now())
	c.used += spent
}

func (c *caller) roll(now time.Time) {
	if day := now.UTC().Format(time.DateOnly); day != c.day {
		c.day, c.used, c.calls = day, 0, 0
	}
}

// admittedKey marks a call's context with where the observer notes its admission.
type admittedKey struct{}

// ClientOption is the option the gateway's client needs: an observer that notes
// when a call leaves the queue, so that a call whose X-Groq-Timeout passes while
// it waits for a slot is a 429 (waiting less long helps), and one that passes
// while Groq answers a 504.
func ClientOption() groq.Option {
	return groq.WithObserver(groq.Observer{Admitted: func(ctx context.Context, _ groq.AdmittedEvent) {
		if a, ok := ctx.Value(admittedKey{}).(*atomic.Bool); ok {
			a.Store(true)
		}
	}})
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return "gw_" + hex.EncodeToString(b[:])
}

// errBodyTooLarge is a body past the gateway's bound.
var errBodyTooLarge = errors.New("the request body is larger than the gateway takes")
