package groq

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
)

// maxResponseBytes bounds the body the client will read from one response.
const maxResponseBytes = 64 << 20

// Client calls Groq's chat completions API. It is safe for concurrent use by many
// goroutines; create one and share it. Close releases it.
type Client struct {
	cfg      *settings
	hc       *http.Client
	log      *slog.Logger
	sched    *scheduler
	cache    Cache
	ownCache bool
	budget   *budget
	costs    *costModel
	obs      observing
	flights  flights
	recent   recentEvents // 429s and retries by model, for Status (status.go)
	// audioRates are the seconds per byte learnt by audio format (audio.go).
	audioRates sync.Map
	closed     atomic.Bool
	done       chan struct{}                       // closed by Close: ends every retry's sleep
	ownHTTP    bool                                // the client made hc's transport, and closes its idle connections
	pinned     int                                 // the scheduler's first quotas, given by options: Reload keeps them serving every model
	routes     atomic.Pointer[map[string][]string] // route name -> models (WithRoute, the config's; Reload replaces the config's)
}

// simulatorHost is the host of an unstarted groqtest.Server's URL: no network
// serves it.
const simulatorHost = "groqtest.invalid"

// NewClient builds a client. Keys come from WithAPIKeys, else GROQ_API_KEYS
// (comma-separated), else GROQ_API_KEY; with none it returns ErrNoAPIKey. An option
// with a bad value makes it return an *OptionError naming the option.
//
// Without WithHTTPClient the client makes its own transport, which keeps as many
// idle connections per host as the client may have requests in flight
// (WithMaxConcurrency, or MaxAdaptiveConcurrency without it), and opens no more,
// so that calls reuse connections instead of dialling (a call outside the
// concurrency bound, as Models or Files, waits for a connection when all are
// busy), and speaks HTTP/2 where the server offers it.
func NewClient(opts ...Option) (*Client, error) {
	cfg := defaultSettings()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(cfg); err != nil {
			return nil, err
		}
	}
	keys := cfg.keys
	var rt routing
	if cfg.fileConfig != nil {
		rt = cfg.fileConfig.routing()
	}
	if len(keys) == 0 && len(cfg.orgs) == 0 && len(rt.keys) == 0 {
		keys = keysFromEnv()
	}
	if len(keys) == 0 && len(cfg.orgs) == 0 && len(rt.keys) == 0 {
		return nil, ErrNoAPIKey
	}
	if cfg.baseURL.Hostname() == simulatorHost && cfg.httpClient == nil {
		return nil, &OptionError{Option: "WithBaseURL", Reason: cfg.baseURL.String() + " is an unstarted groqtest.Server's address, which only its " +
			"in-memory transport serves: add groq.WithHTTPClient(srv.Client()), or use srv.ClientOptions()"}
	}
	if cfg.budgetStore != nil && cfg.budgetTokens <= 0 {
		return nil, &OptionError{Option: "WithBudgetStore", Reason: "needs WithDailyTokenBudget (the store shares a budget; the option sets its size)"}
	}
	c := &Client{cfg: cfg, log: cfg.logger, cache: cfg.cache, costs: newCostModel(cfg.completionGuess), done: make(chan struct{})}
	if cfg.routes != nil {
		c.routes.Store(&cfg.routes)
	}
	all, quotas, err := buildQuotas(keys, cfg.orgs, c.newBuckets)
	if err != nil {
		return nil, err
	}
	c.sched = newScheduler(all, quotas, cfg)
	hc := cfg.httpClient
	if hc == nil {
		// As many connections as requests may be in flight: WithMaxConcurrency, or
		// the adaptive bound's ceiling (MaxAdaptiveConcurrency).
		hc = &http.Client{Transport: newTransport(c.sched.slots)}
		c.ownHTTP = true
	}
	c.hc = hc
	c.pinned = len(quotas)
	c.obs.set(cfg.observer, cfg.logger)
	c.sched.obs = &c.obs
	if cfg.quotaStore != nil {
		c.sched.store = newStoreSync(cfg.quotaStore, cfg.quotaStoreFailClosed, cfg.pacingMargin, cfg.logger)
	}
	c.sched.defURL = cfg.baseURL.String() + "/chat/completions"
	if cfg.fileConfig != nil {
		c.sched.applyRouting(c.sched.now(), rt, c.pinned, c.newBuckets)
	}
	if cfg.cacheFile != "" && c.cache == nil {
		fc, err := OpenFileCache(cfg.cacheFile, cfg.cacheTTL, cfg.cacheEntries, cfg.logger)
		if err != nil {
			return nil, &OptionError{Option: "WithCacheFile", Reason: err.Error()}
		}
		c.cache, c.ownCache = fc, true
	}
	if cfg.budgetTokens > 0 {
		path := cfg.budgetFile
		if path == "" && cfg.cacheFile != "" {
			path = cfg.cacheFile + ".budget"
		}
		c.budget = newBudget(cfg.budgetTokens, cfg.budgetZone, path, cfg.logger)
		c.budget.setStore(cfg.budgetStore)
	}
	return c, nil
}

// newTransport is the client's own transport (no WithHTTPClient): a clone of
// http.DefaultTransport, so that Close can drop its idle connections without
// touching anyone else's, that keeps inFlight idle connections per host (the
// default keeps 2, so that a client with more calls in flight dialled again for
// most of them) and opens no more than that (a request that finds them all busy
// waits for one: without the bound, a connection handed back while another was
// being dialled left one too many), and speaks HTTP/2 where the server offers it.
func newTransport(inFlight int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = inFlight
	t.MaxConnsPerHost = inFlight
	t.MaxIdleConns = max(t.MaxIdleConns, inFlight)
	t.ForceAttemptHTTP2 = true
	return t
}

// limitsFor is the configured limits of model: WithModelLimits or the config file,
// else the built-in table, with WithRPM's default for a missing RPM. What came from
// the table (or DefaultRPM, when WithRPM was not given) is marked as such: a floor
// that an organization's headers can show to be too low. It is called under the
// scheduler's mutex, which also guards Reload's changes.
func (c *Client) limitsFor(model string) limitSpec {
	var spec limitSpec
	if l, ok := c.cfg.modelLimits[model]; ok {
		spec.Limits = l
	} else {
		spec.Limits = builtinLimits[model]
		for k := range numKinds {
			spec.table[k] = spec.Limits.of(k) > 0
		}
	}
	if spec.RPM == 0 {
		spec.RPM, spec.table[kindRPM] = c.cfg.defaultRPM, !c.cfg.rpmSet
	}
	return spec
}

func (c *Client) newBuckets() *bucketSet {
	return newBucketSet(c.limitsFor, c.cfg.pacingMargin, c.cfg.quotaStore != nil)
}

// Close stops the client: calls waiting for admission or sleeping before a retry
// fail at once with ErrClientClosed, and later calls too. Requests already sent
// finish (and open streams can be read to their end). When the client made its own
// HTTP transport (no WithHTTPClient), its idle connections are closed. Close is
// idempotent.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	close(c.done)
	c.sched.close()
	c.budget.close()
	if c.ownHTTP {
		c.hc.CloseIdleConnections()
	}
	if c.ownCache {
		return c.cache.Close()
	}
	return nil
}

// RateLimits returns a snapshot of the client's rate-limit state for model (the default
// model when empty): for each quota, the limits and bucket depths in force, what is
// used this minute and today, the pacing margin, the cooldown, the last headers;
// the queue by priority; and what the client has learnt of the model's request
// cost. It makes no network call and is safe for concurrent use.
func (c *Client) RateLimits(model string) RateLimitSnapshot {
	if model == "" {
		model = c.cfg.defaultModel
	}
	snap := c.sched.snapshot(model)
	snap.PromptRatio, snap.CompletionReserve = c.costs.learnt(model)
	return snap
}

// Waiting is how many calls wait in model's queue (the default model when empty)
// with priority p or more urgent: where a call of priority p arriving now would
// stand. It makes no network call and takes no snapshot; it is safe for
// concurrent use.
func (c *Client) Waiting(model string, p int) int {
	if model == "" {
		model = c.cfg.defaultModel
	}
	return c.sched.waitingAhead(model, p)
}

// Chat sends msgs to the client's default model (or WithModel's) and returns the
// completion. See ChatCompletion for the errors.
func (c *Client) Chat(ctx context.Context, msgs []Message, opts ...CallOption) (*ChatResponse, error) {
	if len(opts) == 0 && c.cache != nil && !c.closed.Load() && ctx != nil && !c.obs.on {
		// A hit allocates nothing but the response's copy: this request stays on
		// the stack, and the one below is built only on a miss.
		probe := ChatRequest{Model: c.cfg.defaultModel, Messages: msgs}
		if resp, _ := c.probe(ctx, &probe, &defaultCall, false); resp != nil {
			return resp, nil
		}
	}
	return c.ChatCompletion(ctx, &ChatRequest{Model: c.cfg.defaultModel, Messages: msgs}, opts...)
}

// lookup asks the cache for key; the client's own MemoryCache is asked without
// turning the key into a string.
func (c *Client) lookup(ctx context.Context, key *cacheKey) (*ChatResponse, bool) {
	var resp *ChatResponse
	var ok bool
	if mc, mine := c.cache.(*MemoryCache); mine {
		resp, ok = mc.getKey(key[:])
	} else {
		resp, ok = c.cache.Get(ctx, string(key[:]))
	}
	if !ok {
		return nil, false
	}
	return c.fromCache(resp), true
}

// ChatCompletion sends req, which it does not modify, and returns the completion.
//
// Errors: a *RequestError (ErrInvalidRequest) for a malformed request, before any
// network call; ErrRequestTooLarge when the request cannot fit the model's token
// limits; ErrQueueFull; ErrClientClosed; a *RateLimitError (ErrRateLimited) when the
// wait for capacity or the server's Retry-After would pass the context's deadline or
// WithMaxRetryDelay; an *APIError for a response that is not retried; a *RetryError
// (ErrRetriesExhausted) wrapping the last failure when retries ran out; and an error
// matching context.Canceled or context.DeadlineExceeded when ctx ended.
func (c *Client) ChatCompletion(ctx context.Context, req *ChatRequest, opts ...CallOption) (*ChatResponse, error) {
	k, err := c.newCall(ctx, req, opts, false)
	if err != nil {
		return nil, err
	}
	if hit := k.lookup(c.cfg.dedup); hit != nil {
		k.end(hit, nil)
		return hit, nil
	}
	if err := k.encode(); err != nil {
		k.end(nil, err)
		return nil, err
	}
	if k.key == "" {
		return k.do()
	}
	return c.flights.run(k)
}

// ChatStream sends msgs as a streamed request and returns the open stream once its
// first event has arrived. It goes through the same queue, limiters, concurrency
// bound and retries as Chat; retries happen only before the first event reaches
// the caller. The stream holds its concurrency slot until it ends or is closed:
// always Close it. The errors before the stream opens are ChatCompletion's.
func (c *Client) ChatStream(ctx context.Context, msgs []Message, opts ...CallOption) (*Stream, error) {
	return c.ChatCompletionStream(ctx, &ChatRequest{Model: c.cfg.defaultModel, Messages: msgs}, opts...)
}

// ChatCompletionStream is ChatStream for a full request; req is not modified (its
// Stream field is set on a copy).
func (c *Client) ChatCompletionStream(ctx context.Context, req *ChatRequest, opts ...CallOption) (*Stream, error) {
	k, err := c.newCall(ctx, req, opts, true)
	if err != nil {
		return nil, err
	}
	if hit := k.lookup(false); hit != nil {
		st := replayStream(hit)
		st.ctx, st.call, k.st = k.ctx, k, st
		return st, nil
	}
	if err = k.encode(); err == nil {
		_, err = k.run()
	}
	if err != nil {
		k.end(nil, err)
		return nil, err
	}
	return k.st, nil
}

// probe asks the cache for r, when the call uses the cache. On a miss it returns
// the key to store the answer under (and, with wantKey, the key for in-flight
// de-duplication even without a cache); "" when there is nothing to key.
func (c *Client) probe(ctx context.Context, r *ChatRequest, cc *callConfig, wantKey bool) (*ChatResponse, string) {
	useCache := c.cache != nil && !cc.noCache
	if !useCache && !wantKey {
		return nil, ""
	}
	var k cacheKey
	k.compute(c.sched.urlFor(r.Model), cc.cacheScope, r)
	if useCache {
		if hit, ok := c.lookup(ctx, &k); ok {
			return hit, ""
		}
	}
	return nil, string(k[:])
}

// begin checks the context, the client and the request, and applies the call
// options. The callConfig comes back whenever the options were valid, so that a
// call that fails here still reports to its WithCallback.
func (c *Client) begin(ctx context.Context, req *ChatRequest, opts []CallOption) (*ChatRequest, *callConfig, error) {
	cc, err := c.callOptions(opts)
	switch {
	case err != nil:
		return nil, nil, err // a bad option
	case req == nil:
		if err = c.usable(ctx); err == nil {
			err = &RequestError{Field: "request", Reason: "nil *ChatRequest"}
		}
		return nil, cc, err
	}
	r, err := c.prepare(req, cc)
	if uerr := c.usable(ctx); uerr != nil {
		return nil, cc, uerr
	}
	return r, cc, err
}

// usable checks what every call needs before its request: a context, and a
// client that is not closed.
func (c *Client) usable(ctx context.Context) error {
	switch {
	case ctx == nil:
		return &RequestError{Field: "ctx", Reason: "nil context.Context; use context.Background()"}
	case c.closed.Load():
		return ErrClientClosed
	}
	return nil
}

// fromCache marks a cached response.
func (c *Client) fromCache(resp *ChatResponse) *ChatResponse {
	resp.Meta = ResponseMeta{FromCache: true, KeyIndex: -1}
	if resp.XGroq != nil {
		resp.Meta.RequestID = resp.XGroq.ID
	}
	return resp
}

// callOptions applies opts to a call's configuration; an invalid option is
// refused with its error.
func (c *Client) callOptions(opts []CallOption) (*callConfig, error) {
	if len(opts) == 0 {
		return &defaultCall, nil
	}
	cc := &callConfig{priority: DefaultPriority}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(cc); err != nil {
			return nil, err
		}
	}
	if cc.progress != nil && !cc.inBatch {
		return nil, &RequestError{Field: "WithProgress", Reason: "applies to ChatBatch only; a single call reports through WithCallback"}
	}
	return cc, nil
}

// prepare copies req, applies the call's configuration and defaults, and
// validates it.
func (c *Client) prepare(req *ChatRequest, cc *callConfig) (*ChatRequest, error) {
	model, list, err := c.models(req, cc)
	if err != nil {
		return nil, err
	}
	r := req
	if model != r.Model || !slices.Equal(list, r.Models) || cc.maxTokens != nil || cc.temperature != nil {
		cp := *req // the caller's request is never modified
		r = &cp
		r.Model, r.Models = model, list
		if cc.maxTokens != nil {
			n := *cc.maxTokens
			r.MaxCompletionTokens, r.MaxTokens = &n, nil
		}
		if cc.temperature != nil {
			t := *cc.temperature
			r.Temperature = &t
		}
	}
	if err := validateRequest(r); err != nil {
		return nil, err
	}
	return r, nil
}

// models is the model a call is for and, when it accepts several, their list
// (model is its first); the list is nil for a call of one model.
func (c *Client) models(req *ChatRequest, cc *callConfig) (string, []string, error) {
	model := req.Model
	if cc.model != "" {
		model = cc.model
	}
	list, err := c.listFor(model, req.Models, cc)
	if err != nil {
		return "", nil, err
	}
	if model == "" && list == nil {
		model = c.cfg.defaultModel
		list = c.route(model)
	}
	switch len(list) {
	case 0:
		return model, nil, nil
	case 1:
		return list[0], nil, nil
	}
	return list[0], list, nil
}

// defaultCall is the call configuration of a call without options; it is never
// modified.
var defaultCall = callConfig{priority: DefaultPriority}

// CountTokens estimates the prompt tokens of msgs for model with the client's
// Tokenizer (WithTokenizer; EstimateTokens by default). It makes no network call.
func (c *Client) CountTokens(model string, msgs []Message) int {
	if model == "" {
		model = c.cfg.defaultModel
	}
	return c.cfg.tokenizer.CountTokens(model, msgs)
}

// listFor is the list a call for model may be served from: WithModels', else
// the request's models (with model first when it is set, is not among them and
// is not a route), else the route model names; nil for a call of one model.
func (c *Client) listFor(model string, models []string, cc *callConfig) ([]string, error) {
	switch {
	case cc.models != nil:
		return cc.models, nil
	case len(models) > 0:
		list := models
		if model != "" && c.route(model) == nil && !slices.Contains(list, model) {
			list = append([]string{model}, list...)
		}
		if err := checkModels("models", list); err != nil {
			return nil, err
		}
		return list, nil
	}
	return c.route(model), nil
}

// route is the list the route name stands for; nil when name is no route.
// Safe for concurrent use with Reload.
func (c *Client) route(name string) []string {
	if m := c.routes.Load(); m != nil {
		return (*m)[name]
	}
	return nil
}
