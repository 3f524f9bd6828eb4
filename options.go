package groq

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultBaseURL is Groq's OpenAI-compatible API root.
const DefaultBaseURL = "https://api.groq.com/openai/v1"

// Defaults of the scheduler.
const (
	// DefaultMaxConcurrency is the floor of the adaptive bound on requests in
	// flight (without WithMaxConcurrency), and what a quota whose RPM is unknown
	// adds to it.
	DefaultMaxConcurrency = 8
	// MaxAdaptiveConcurrency is the most requests in flight the adaptive bound
	// allows.
	MaxAdaptiveConcurrency   = 256
	DefaultPriority          = 5
	DefaultCompletionReserve = 1024
)

// DefaultPacingMargin is the base pacing margin (see WithPacingMargin). The
// package documentation (Against real servers) says how it was chosen.
const DefaultPacingMargin = 50 * time.Millisecond

// Option configures a Client. Each option checks its value; NewClient returns the
// first error, an *OptionError naming the option.
type Option func(*settings) error

type settings struct {
	keys                 []string
	orgs                 []orgDecl
	baseURL              *url.URL
	httpClient           *http.Client
	defaultModel         string
	maxRetries           int
	backoffBase          time.Duration
	backoffMax           time.Duration
	maxRetryDelay        time.Duration
	attemptTimeout       time.Duration
	logger               *slog.Logger
	modelLimits          map[string]Limits
	defaultRPM           int
	rpmSet               bool // WithRPM was given: defaultRPM is the user's
	maxConcurrency       int
	concurrencySet       bool // WithMaxConcurrency or the config file: a fixed bound
	maxQueue             int
	aging                time.Duration
	completionGuess      int
	pacingMargin         time.Duration
	observer             Observer
	quotaStore           QuotaStore
	quotaStoreFailClosed bool
	budgetStore          BudgetStore
	randN                func(int64) int64
	tokenizer            Tokenizer
	cache                Cache
	cacheFile            string
	cacheTTL             time.Duration
	cacheEntries         int
	dedup                bool
	budgetTokens         int64
	budgetZone           *time.Location
	budgetFile           string
	fileConfig           *Config
	routes               map[string][]string // WithRoute and the config's routes: a model name that stands for a list
	optRoutes            map[string][]string // WithRoute's alone: they win over a reloaded file's
}

type orgDecl struct {
	name string
	keys []string
}

func defaultSettings() *settings {
	u, _ := url.Parse(DefaultBaseURL)
	return &settings{
		baseURL:         u,
		defaultModel:    DefaultModel,
		maxRetries:      DefaultMaxRetries,
		backoffBase:     DefaultBackoffBase,
		backoffMax:      DefaultBackoffMax,
		maxRetryDelay:   DefaultMaxRetryDelay,
		logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		modelLimits:     map[string]Limits{},
		defaultRPM:      DefaultRPM,
		maxConcurrency:  DefaultMaxConcurrency,
		completionGuess: DefaultCompletionReserve,
		pacingMargin:    DefaultPacingMargin,
		randN:           randInt64N,
		tokenizer:       TokenizerFunc(EstimateTokens),
		cacheEntries:    DefaultCacheMaxEntries,
		budgetZone:      time.UTC,
	}
}

func optErr(opt, format string, args ...any) error {
	return &OptionError{Option: opt, Reason: fmt.Sprintf(format, args...)}
}

// WithAPIKeys sets the API keys. Each key is its own quota unless WithOrganization
// groups it with others. Without this option the client reads GROQ_API_KEYS
// (comma-separated), then GROQ_API_KEY. An empty or duplicated key is an error.
func WithAPIKeys(keys ...string) Option {
	return func(c *settings) error {
		if len(keys) == 0 {
			return optErr("WithAPIKeys", "no key given")
		}
		for i, k := range keys {
			if strings.TrimSpace(k) == "" {
				return optErr("WithAPIKeys", "key #%d is empty", i)
			}
			if strings.TrimSpace(k) != k {
				return optErr("WithAPIKeys", "key #%d has surrounding white space", i)
			}
		}
		c.keys = append(c.keys, keys...)
		return nil
	}
}

// WithOrganization declares that the keys belong to one Groq organization and so
// share one set of limits: they add no capacity, and the client keeps one set of
// buckets for them all. Keys named here are added to the client's keys if absent.
func WithOrganization(name string, keys ...string) Option {
	return func(c *settings) error {
		if strings.TrimSpace(name) == "" {
			return optErr("WithOrganization", "empty organization name")
		}
		if len(keys) == 0 {
			return optErr("WithOrganization", "organization %q has no keys", name)
		}
		for i, k := range keys {
			if strings.TrimSpace(k) == "" || strings.TrimSpace(k) != k {
				return optErr("WithOrganization", "organization %q: key #%d is empty or padded", name, i)
			}
		}
		for _, o := range c.orgs {
			if o.name == name {
				return optErr("WithOrganization", "organization %q declared twice", name)
			}
		}
		c.orgs = append(c.orgs, orgDecl{name: name, keys: append([]string(nil), keys...)})
		return nil
	}
}

// WithBaseURL sets the API root (default DefaultBaseURL); chat goes to
// {base}/chat/completions. It must be an absolute http or https URL.
func WithBaseURL(raw string) Option {
	return func(c *settings) error {
		u, err := url.Parse(strings.TrimRight(raw, "/"))
		if err != nil {
			return optErr("WithBaseURL", "cannot parse %q: %v", raw, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return optErr("WithBaseURL", "%q is not an absolute http(s) URL", raw)
		}
		c.baseURL = u
		return nil
	}
}

// WithHTTPClient sets the HTTP client. The client is copied, never mutated; its
// Timeout, if any, applies to each attempt.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *settings) error {
		if hc == nil {
			return optErr("WithHTTPClient", "nil *http.Client")
		}
		cp := *hc
		c.httpClient = &cp
		return nil
	}
}

// WithDefaultModel sets the model of requests that name none (default DefaultModel).
func WithDefaultModel(model string) Option {
	return func(c *settings) error {
		if strings.TrimSpace(model) == "" {
			return optErr("WithDefaultModel", "empty model")
		}
		c.defaultModel = model
		return nil
	}
}

// WithMaxRetries sets how many times a failed attempt is retried (default
// DefaultMaxRetries, so at most one attempt more). 0 disables retries.
func WithMaxRetries(n int) Option {
	return func(c *settings) error {
		if n < 0 {
			return optErr("WithMaxRetries", "negative retries %d", n)
		}
		c.maxRetries = n
		return nil
	}
}

// WithBackoff sets the decorrelated-jitter backoff used when the server gives no
// wait: each sleep is drawn from [base, 3×previous), capped at max. Defaults
// DefaultBackoffBase and DefaultBackoffMax. base must be positive and max at
// least base.
func WithBackoff(base, max time.Duration) Option {
	return func(c *settings) error {
		if base <= 0 {
			return optErr("WithBackoff", "base %v is not positive", base)
		}
		if max < base {
			return optErr("WithBackoff", "max %v is less than base %v", max, base)
		}
		c.backoffBase, c.backoffMax = base, max
		return nil
	}
}

// WithMaxRetryDelay caps how long the client waits for the server (Retry-After) or
// for its own limiter before a request goes out (default DefaultMaxRetryDelay). A
// longer wait is not slept: the call returns a *RateLimitError at once.
func WithMaxRetryDelay(d time.Duration) Option {
	return func(c *settings) error {
		if d <= 0 {
			return optErr("WithMaxRetryDelay", "%v is not positive", d)
		}
		c.maxRetryDelay = d
		return nil
	}
}

// WithAttemptTimeout bounds each HTTP attempt; an attempt that times out is retried.
// 0 (the default) sets no bound beyond the call's context.
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *settings) error {
		if d < 0 {
			return optErr("WithAttemptTimeout", "negative timeout %v", d)
		}
		c.attemptTimeout = d
		return nil
	}
}

// WithLogger sets the logger (default: discard). Keys are never logged; a key
// appears in logs only as its index.
func WithLogger(l *slog.Logger) Option {
	return func(c *settings) error {
		if l == nil {
			return optErr("WithLogger", "nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithModelLimits sets a model's limits for every quota, replacing the built-in
// table's entry. A zero field is unlimited or unknown (RPM then takes WithRPM's
// value).
func WithModelLimits(model string, l Limits) Option {
	return func(c *settings) error {
		if strings.TrimSpace(model) == "" {
			return optErr("WithModelLimits", "empty model")
		}
		if why := l.validate(); why != "" {
			return optErr("WithModelLimits", "model %s: %s", model, why)
		}
		c.modelLimits[model] = l
		return nil
	}
}

// WithRPM sets the per-minute request limit of every model that has none
// (default DefaultRPM). 0 leaves such models unlimited until Groq's 429s teach the
// client their limit.
func WithRPM(n int) Option {
	return func(c *settings) error {
		if n < 0 {
			return optErr("WithRPM", "negative RPM %d", n)
		}
		c.defaultRPM, c.rpmSet = n, true
		return nil
	}
}

// WithMaxConcurrency bounds the requests in flight at once across all keys to n,
// a fixed ceiling. Without it the bound adapts (see MaxAdaptiveConcurrency):
// DefaultMaxConcurrency, plus what the model's request bucket holds (up to
// 4 × DefaultMaxConcurrency), plus twice its refill over the observed latency
// (Little's law), never above MaxAdaptiveConcurrency. Waiting for a slot goes in
// priority order.
func WithMaxConcurrency(n int) Option {
	return func(c *settings) error {
		if n < 1 {
			return optErr("WithMaxConcurrency", "%d is less than 1", n)
		}
		c.maxConcurrency, c.concurrencySet = n, true
		return nil
	}
}

// WithMaxQueue bounds the calls waiting for admission; past n, a call fails at once
// with ErrQueueFull. 0 (the default) is unbounded.
func WithMaxQueue(n int) Option {
	return func(c *settings) error {
		if n < 0 {
			return optErr("WithMaxQueue", "negative queue bound %d", n)
		}
		c.maxQueue = n
		return nil
	}
}

// WithPriorityAging makes a waiting call gain one priority level per d waited, so a
// steady stream of urgent calls cannot starve the others forever. 0 (the default)
// disables aging.
func WithPriorityAging(d time.Duration) Option {
	return func(c *settings) error {
		if d < 0 {
			return optErr("WithPriorityAging", "negative duration %v", d)
		}
		c.aging = d
		return nil
	}
}

// WithCompletionReserve sets how many completion tokens a request that sets no
// max_completion_tokens reserves against the token limits before it is sent, until
// the model has answered a few such calls (default DefaultCompletionReserve). From
// then on the client
// reserves the 95th percentile of the model's last 64 open-ended answers. The
// reservation is settled with the real usage afterwards either way.
func WithCompletionReserve(n int) Option {
	return func(c *settings) error {
		if n < 0 {
			return optErr("WithCompletionReserve", "negative reserve %d", n)
		}
		c.completionGuess = n
		return nil
	}
}

// WithPacingMargin sets how long after its local bucket allows it a request that
// had to wait for refill is sent (default DefaultPacingMargin; 0 turns the base
// margin off). Groq counts a request when it arrives, so network jitter (a new
// connection's handshake, a slow route) can put a request ahead of the server's
// refill; the margin absorbs that. It costs one margin per stretch of refill-bound
// sending, not one per request. A 429 that timing explains widens the margin for
// that quota and model (doubling, at most one second); each quiet minute halves it
// back towards this value. RateLimits reports the margin in force. A negative value is
// an error.
func WithPacingMargin(d time.Duration) Option {
	return func(c *settings) error {
		if d < 0 {
			return optErr("WithPacingMargin", "negative duration %v", d)
		}
		if d > maxPacingMargin {
			return optErr("WithPacingMargin", "%v is longer than the %v a margin may reach", d, maxPacingMargin)
		}
		c.pacingMargin = d
		return nil
	}
}

// WithObserver sends the client's events to o (see Observer). Given more than once,
// the observers are combined, in order. Without it the client does no work for
// observers.
func WithObserver(o Observer) Option {
	return func(c *settings) error {
		c.observer = combine(c.observer, o)
		return nil
	}
}

// WithTokenizer sets how prompt tokens are counted for reservations, context-window
// checks and CountTokens (default EstimateTokens). Plug in a real BPE tokenizer for
// exact counts; a count below the server's lets the client overrun a limit.
func WithTokenizer(t Tokenizer) Option {
	return func(c *settings) error {
		if t == nil {
			return optErr("WithTokenizer", "nil tokenizer")
		}
		c.tokenizer = t
		return nil
	}
}

// WithCache plugs in a cache. The client does not close a cache given this way.
// No cache is the default.
func WithCache(c Cache) Option {
	return func(cfg *settings) error {
		if c == nil {
			return optErr("WithCache", "nil cache")
		}
		cfg.cache = c
		return nil
	}
}

// WithCacheFile caches responses in a JSON file (see FileCache) for ttl; the
// command's default is .groq_cache.json in the current directory, with DefaultCacheTTL. The client opens it
// in NewClient and flushes and closes it in Close.
func WithCacheFile(path string, ttl time.Duration) Option {
	return func(c *settings) error {
		if path == "" {
			return optErr("WithCacheFile", "empty path")
		}
		if ttl <= 0 {
			return optErr("WithCacheFile", "TTL %v is not positive", ttl)
		}
		c.cacheFile, c.cacheTTL = path, ttl
		return nil
	}
}

// WithCacheMaxEntries bounds the entries of the cache WithCacheFile opens (least
// recently used evicted first; default DefaultCacheMaxEntries; 0: unbounded).
func WithCacheMaxEntries(n int) Option {
	return func(c *settings) error {
		if n < 0 {
			return optErr("WithCacheMaxEntries", "negative bound %d", n)
		}
		c.cacheEntries = n
		return nil
	}
}

// WithInflightDedup makes identical calls that arrive while the first is in flight
// share its one network call even without a cache (with a cache this is always
// on). Each caller gets its own copy of the response.
func WithInflightDedup() Option {
	return func(c *settings) error {
		c.dedup = true
		return nil
	}
}

// WithDailyTokenBudget sets a soft cap on tokens per day across all keys. Each
// call reserves its estimate before it is sent and settles with its real usage;
// a call that would pass the cap fails before any network call with a
// *BudgetError (ErrBudgetExceeded). The day starts at midnight UTC
// (WithBudgetZone changes it).
func WithDailyTokenBudget(n int64) Option {
	return func(c *settings) error {
		if n <= 0 {
			return optErr("WithDailyTokenBudget", "%d is not positive", n)
		}
		c.budgetTokens = n
		return nil
	}
}

// WithBudgetZone sets the time zone whose midnight starts the budget's day.
func WithBudgetZone(loc *time.Location) Option {
	return func(c *settings) error {
		if loc == nil {
			return optErr("WithBudgetZone", "nil location")
		}
		c.budgetZone = loc
		return nil
	}
}

// WithBudgetFile keeps the budget's state in path so that it survives a restart.
// With WithCacheFile and no budget file, the state goes beside the cache file
// (path + ".budget").
func WithBudgetFile(path string) Option {
	return func(c *settings) error {
		if path == "" {
			return optErr("WithBudgetFile", "empty path")
		}
		c.budgetFile = path
		return nil
	}
}

// keysFromEnv reads GROQ_API_KEYS (comma-separated), then GROQ_API_KEY.
func keysFromEnv() []string {
	if v := os.Getenv("GROQ_API_KEYS"); strings.TrimSpace(v) != "" {
		var keys []string
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
		return keys
	}
	if v := strings.TrimSpace(os.Getenv("GROQ_API_KEY")); v != "" {
		return []string{v}
	}
	return nil
}

// CallOption configures one call. It overrides the client's settings for that call.
type CallOption func(*callConfig) error

type callConfig struct {
	model         string
	models        []string      // WithModels: the list the call accepts
	fallbackAfter time.Duration // WithFallbackAfter
	maxTokens     *int
	temperature   *float64
	priority      int
	noCache       bool
	cacheScope    string
	caller        string
	callback      func(*ChatResponse, error)
	progress      func(done, total int)
	inBatch       bool // set by ChatBatch, where WithProgress applies
}

// WithoutCache makes the call skip the cache: it neither reads nor stores.
func WithoutCache() CallOption {
	return func(c *callConfig) error {
		c.noCache = true
		return nil
	}
}

// WithCacheScope keeps the call's cached answers, and the identical calls it
// shares one request with while in flight, to those of the same scope: a
// gateway gives each caller's token its own, so that no caller is answered
// from another's call. "" (the default) is the one shared scope.
func WithCacheScope(scope string) CallOption {
	return func(c *callConfig) error {
		c.cacheScope = scope
		return nil
	}
}

// WithCaller names who makes the call. Calls of different callers waiting at
// the same priority take turns, so that a caller that queues thousands of calls
// does not put another's single call behind all of them; one caller's calls
// keep their order. Calls without it are one caller. Priority comes first: a
// more urgent call still goes before every less urgent one (without
// WithAging, under which order follows time).
func WithCaller(name string) CallOption {
	return func(c *callConfig) error {
		c.caller = name
		return nil
	}
}

// WithCallback calls f exactly once for every call it is given to, when the call
// ends, whatever the outcome: with the response, or with the error (a bad request,
// a closed client, a cancelled context included). For Chat and ChatCompletion it
// runs on the calling goroutine before the call returns (for ChatBatch, on the
// batch's worker). For a stream it runs when the stream ends: with the assembled
// response after its last event (a cache replay too), or with the error that
// stopped it, or, when the stream is closed before its end, with
// ErrStreamClosed.
func WithCallback(f func(*ChatResponse, error)) CallOption {
	return func(c *callConfig) error {
		if f == nil {
			return &RequestError{Field: "WithCallback", Reason: "nil function"}
		}
		c.callback = f
		return nil
	}
}

// WithModel sets the call's model.
func WithModel(model string) CallOption {
	return func(c *callConfig) error {
		if strings.TrimSpace(model) == "" {
			return &RequestError{Field: "WithModel", Reason: "empty model"}
		}
		c.model = model
		return nil
	}
}

// WithMaxTokens sets max_completion_tokens; n must be positive.
func WithMaxTokens(n int) CallOption {
	return func(c *callConfig) error {
		if n <= 0 {
			return &RequestError{Field: "WithMaxTokens", Reason: fmt.Sprintf("%d is not positive", n)}
		}
		c.maxTokens = &n
		return nil
	}
}

// WithTemperature sets the sampling temperature, from 0 to 2.
func WithTemperature(t float64) CallOption {
	return func(c *callConfig) error {
		if !(t >= 0 && t <= 2) {
			return &RequestError{Field: "WithTemperature", Reason: fmt.Sprintf("%v is outside [0, 2]", t)}
		}
		c.temperature = &t
		return nil
	}
}

// WithPriority sets the call's priority: 1 is the most urgent, 10 the least;
// the default is 5. When capacity is short, the most urgent waiter goes next.
func WithPriority(p int) CallOption {
	return func(c *callConfig) error {
		if p < 1 || p > 10 {
			return &RequestError{Field: "WithPriority", Reason: fmt.Sprintf("%d is outside 1..10", p)}
		}
		c.priority = p
		return nil
	}
}

// WithQuotaStore shares the client's rate-limit state with other processes
// through s (see QuotaStore). Without it each client paces itself alone.
func WithQuotaStore(s QuotaStore) Option {
	return func(c *settings) error {
		if s == nil {
			return optErr("WithQuotaStore", "nil store")
		}
		c.quotaStore = s
		return nil
	}
}

// WithQuotaStoreFailClosed makes a call fail with a *QuotaStoreError when the
// QuotaStore cannot answer, instead of admitting on the in-memory buckets.
func WithQuotaStoreFailClosed() Option {
	return func(c *settings) error {
		c.quotaStoreFailClosed = true
		return nil
	}
}
