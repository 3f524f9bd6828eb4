// Package gateway serves a groq.Client over HTTP as an OpenAI-compatible API, so
// that services in any language share one scheduler: its priorities, per-model
// queues, per-key buckets, learning, budget, retries and observer. The groq
// command's "groq serve" runs it; the redisstore module's groq-gateway runs it
// with a quota shared through Redis.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/internal/metrics"
)

// Token is one caller of the gateway: what it presents as a Bearer token, its
// name (for logs and metrics), the priority of its calls when they ask none, the
// most urgent priority it may ask, and an optional daily budget of tokens.
type Token struct {
	Name        string
	Secret      string
	Priority    int   // 0: groq.DefaultPriority
	MaxPriority int   // the most urgent it may ask (a smaller number is lowered to it); 0: 1
	DailyTokens int64 // 0: no budget of its own
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
}

// Default bounds.
const (
	DefaultMaxBody = 4 << 20
	defaultTimeout = 10 * time.Minute // a call's longest life when the caller sets no X-Groq-Timeout
)

// Gateway is an http.Handler; it is safe for concurrent use.
type Gateway struct {
	c        *groq.Client
	cfg      Config
	tokens   []*caller
	anon     *caller
	mux      *http.ServeMux
	draining atomic.Bool
}

// caller is a Token with its day's spending.
type caller struct {
	Token
	mu   sync.Mutex
	day  string
	used int64
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
	g := &Gateway{c: c, cfg: cfg, anon: &caller{Token: Token{Name: "anonymous"}}}
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
		}
		names[t.Name], secrets[t.Secret] = true, true
		g.tokens = append(g.tokens, &caller{Token: t})
	}
	g.routes()
	return g, nil
}

// Drain makes /readyz answer 503, for a load balancer to stop sending, while the
// calls in flight finish.
func (g *Gateway) Drain() { g.draining.Store(true) }

func (g *Gateway) routes() {
	m := http.NewServeMux()
	for _, p := range []string{"/openai/v1", "/v1"} {
		m.HandleFunc("POST "+p+"/chat/completions", g.authed(g.chat))
		m.HandleFunc("GET "+p+"/models", g.authed(g.models))
		m.HandleFunc("GET "+p+"/models/{id...}", g.authed(g.models))
		m.HandleFunc("POST "+p+"/audio/transcriptions", g.authed(g.transcribe))
		m.HandleFunc("POST "+p+"/audio/translations", g.authed(g.transcribe))
		m.HandleFunc("POST "+p+"/audio/speech", g.authed(g.speech))
	}
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if g.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	if g.cfg.Metrics != nil {
		m.Handle("GET /metrics", g.cfg.Metrics)
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, &apiError{Message: "Unknown request URL: " + r.Method + " " + r.URL.Path, Type: "invalid_request_error", Code: "unknown_url"})
	})
	g.mux = m
}

// ServeHTTP serves the gateway's routes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// request is one call through the gateway, for its handler, logs and metrics.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	who    *caller
	id     string // the gateway's request id
	start  time.Time
	status int
	model  string
	prio   int
}

// authed checks the caller's token (an OpenAI-shaped 401 when it is missing or
// wrong: nothing goes to Groq) and logs and counts the call when it ends.
func (g *Gateway) authed(h func(*request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := &request{w: w, r: r, id: newID(), start: time.Now(), status: http.StatusOK}
		w.Header().Set("X-Groq-Gateway-Request-Id", q.id)
		q.who = g.caller(r)
		if q.who == nil {
			q.fail(http.StatusUnauthorized, &apiError{Message: "Invalid API Key: the gateway's token is missing or wrong", Type: "invalid_request_error", Code: "invalid_api_key"})
			g.done(q)
			return
		}
		h(q)
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
	secret := []byte(strings.TrimSpace(h[7:]))
	var found *caller
	for _, t := range g.tokens { // every token compared, in constant time
		if subtle.ConstantTimeCompare(secret, []byte(t.Secret)) == 1 {
			found = t
		}
	}
	return found
}

// done logs and counts a finished call.
func (g *Gateway) done(q *request) {
	d := time.Since(q.start)
	g.cfg.Logger.LogAttrs(q.r.Context(), slog.LevelInfo, "gateway: call",
		slog.String("id", q.id), slog.String("token", q.who.name()), slog.String("method", q.r.Method), slog.String("path", q.r.URL.Path),
		slog.String("model", q.model), slog.Int("priority", q.prio), slog.Int("status", q.status),
		slog.String("groq_request_id", q.w.Header().Get("X-Request-Id")), slog.Duration("duration", d))
	if m := g.cfg.Metrics; m != nil {
		lbl := metrics.Labels("groq_gateway_token", q.who.name(), "http_response_status_code", strconv.Itoa(q.status))
		m.Add("groq_gateway_requests_total", lbl, 1)
		m.Observe("groq_gateway_request_duration_seconds", metrics.Labels("groq_gateway_token", q.who.name()), d.Seconds())
	}
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
	d := defaultTimeout
	if v := strings.TrimSpace(q.r.Header.Get("X-Groq-Timeout")); v != "" {
		t, err := time.ParseDuration(v)
		if err != nil {
			secs, serr := strconv.ParseFloat(v, 64)
			t, err = time.Duration(secs*float64(time.Second)), serr
		}
		if err != nil || t <= 0 {
			return nil, nil, fmt.Errorf("X-Groq-Timeout %q: a positive duration (30s) or seconds", v)
		}
		d = t
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), d)
	return ctx, cancel, nil
}

// spend adds n tokens to the caller's day; over says whether its budget is spent,
// and when the day resets.
func (c *caller) spend(n int64) {
	if c.DailyTokens <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(time.Now())
	c.used += n
}

func (c *caller) over() (bool, time.Duration) {
	if c.DailyTokens <= 0 {
		return false, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now().UTC()
	c.roll(now)
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return c.used >= c.DailyTokens, midnight.Sub(now)
}

func (c *caller) roll(now time.Time) {
	if day := now.UTC().Format(time.DateOnly); day != c.day {
		c.day, c.used = day, 0
	}
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return "gw_" + hex.EncodeToString(b[:])
}

// errBodyTooLarge is a body past the gateway's bound.
var errBodyTooLarge = errors.New("the request body is larger than the gateway takes")
