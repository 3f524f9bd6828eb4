// Package groqtest is a simulator of Groq's chat completions API for tests, in the
// spirit of net/http/httptest: a server that enforces Groq's rate limits per
// organization and model, answers with Groq's headers, bodies and errors, injects
// faults on demand, and counts what it saw (including requests that ignored a
// Retry-After).
//
// NewServer listens on loopback; Client returns an *http.Client that calls the
// handler in memory, with no socket, so that tests under testing/synctest see fake
// time advance. Both forms share the server's state.
package groqtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/internal/limits"
)

// Limits are one model's limits for one organization; 0 means unlimited.
//
// Burst and TokenBurst set the depth of the RPM and TPM token buckets: how much can
// be spent at once, while RPM and TPM stay the refill rates. 0 means a minute's
// worth (RPM, TPM), which is Groq's shape; a smaller value is a server whose bucket
// is shallower than a minute, as OpenAI-compatible gateways and proxies often are.
// A request larger than the depth (but within the limit) is taken when the bucket
// is full, leaving it in debt. They apply to the TokenBucket shape only.
type Limits struct {
	RPM, RPD, TPM, TPD int
	ContextWindow      int // 0: no context check
	// ASH and ASD are seconds of audio per hour and per day (speech-to-text
	// models): a transcription is charged its file's duration, at least 10 s.
	ASH, ASD int

	Burst      int // capacity of the RPM bucket; 0: RPM
	TokenBurst int // capacity of the TPM bucket; 0: TPM
}

// DefaultModels is what a server serves when no WithModel option is given: Groq's
// published free-plan limits, the same table the client uses by default.
func DefaultModels() map[string]Limits {
	out := map[string]Limits{}
	for name, m := range limits.Published() {
		out[name] = Limits{RPM: m.RPM, RPD: m.RPD, TPM: m.TPM, TPD: m.TPD, ContextWindow: m.ContextWindow, ASH: m.ASH, ASD: m.ASD}
	}
	return out
}

// Server is a fake Groq. Its methods are safe for concurrent use.
type Server struct {
	mu sync.Mutex

	models    map[string]Limits
	orgOfKey  map[string]string // empty: any key is accepted as its own organization
	keyOrder  []string          // the keys, in the order the options gave them
	shape     BucketShape
	latency   time.Duration
	jitter    time.Duration
	arrival   time.Duration // WithArrivalJitter
	firstConn time.Duration // WithFirstConnectionDelay
	seenKeys  map[string]bool
	rng       *rand.Rand
	rates     []faultRate
	script    []Fault
	hook      func(w http.ResponseWriter, r *http.Request, body []byte) bool
	chunkWait time.Duration
	others    []OtherProgram
	// WithTokenScale: the server's prompt token count over its usual count (0: 1).
	tokenScale float64
	// WithPromptCaching: the system prompts seen, by organization and model.
	promptCache   bool
	cachedPrompts map[string]bool
	spent         map[string]spentDay // WithSpentToday, by model

	buckets  map[string]*orgModel // by org + "\x00" + model
	stats    Stats
	arrived  []Arrival
	inFlight int
	nextID   uint64

	batchDuration time.Duration // WithBatchDuration
	batchFailRate float64       // WithBatchFailureRate
	files         map[string]*simFile
	batches       map[string]*simBatch
	nextFile      int
	nextBatch     int

	ts     *httptest.Server
	mem    *http.Client
	closed bool
}

type orgModel struct {
	rpm, rpd, tpm, tpd *bucket
	ash, asd           *bucket     // seconds of audio, for speech-to-text models
	retryIssued        time.Time   // when the last 429 was delivered
	retryUntil         time.Time   // until when its retry-after asked to wait
	others             []*otherRun // the OtherPrograms that spend it
}

// Stats are the server's counters. A Violation is a request that arrived for an
// organization and model after a 429 was delivered to it and before that 429's
// retry-after had passed: a client that honours Retry-After makes none.
type Stats struct {
	Requests    int // every request to the chat and audio endpoints
	Successes   int // 200s
	RateLimited int // 429s
	TooLarge    int // 413s
	Faults      int // injected faults sent
	Errors      int // other 4xx
	Violations  int
	MaxInFlight int            // most chat requests being handled at once
	Tokens      int            // tokens the 200s spent (prompt and completion)
	AudioSecs   int            // seconds of audio the 200s of speech to text were charged
	PerKey      map[string]int // requests by API key
	PerModel    map[string]int // requests by model (as sent)
	Other       OtherStats     // the requests of every OtherProgram, counted apart
}

// Arrival records one chat request as the server saw it.
type Arrival struct {
	At     time.Time
	Key    string
	Org    string
	Model  string
	Prompt string // the last user message
	Status int
}

// Option configures a Server. A nonsense value makes NewServer panic, as httptest
// does, with a message naming the option.
type Option func(*Server)

// WithKeys sets the accepted API keys, each its own organization. Without WithKeys
// or WithOrganization any key is accepted, each key its own organization.
func WithKeys(keys ...string) Option {
	return func(s *Server) {
		for _, k := range keys {
			if k == "" {
				panic("groqtest: WithKeys: empty key")
			}
			s.orgOfKey[k] = "org_" + shortHash(k)
			s.keyOrder = append(s.keyOrder, k)
		}
	}
}

// WithOrganization makes keys share one organization's quota.
func WithOrganization(name string, keys ...string) Option {
	return func(s *Server) {
		if name == "" || len(keys) == 0 {
			panic("groqtest: WithOrganization: needs a name and at least one key")
		}
		for _, k := range keys {
			s.orgOfKey[k] = name
			s.keyOrder = append(s.keyOrder, k)
		}
	}
}

// WithModel serves model with the given limits. The first WithModel replaces the
// default models.
func WithModel(name string, l Limits) Option {
	return func(s *Server) {
		if name == "" {
			panic("groqtest: WithModel: empty model name")
		}
		if l.RPM < 0 || l.RPD < 0 || l.TPM < 0 || l.TPD < 0 || l.ContextWindow < 0 || l.Burst < 0 || l.TokenBurst < 0 {
			panic(fmt.Sprintf("groqtest: WithModel(%q): negative limit %+v", name, l))
		}
		if (l.Burst > 0 && l.RPM == 0) || (l.TokenBurst > 0 && l.TPM == 0) {
			panic(fmt.Sprintf("groqtest: WithModel(%q): a burst needs its per-minute limit %+v", name, l))
		}
		if s.models == nil {
			s.models = map[string]Limits{}
		}
		s.models[name] = l
	}
}

// WithBucketShape sets how limits are counted (default TokenBucket).
func WithBucketShape(shape BucketShape) Option {
	return func(s *Server) {
		if shape != TokenBucket && shape != RollingWindow {
			panic(fmt.Sprintf("groqtest: WithBucketShape: unknown shape %d", shape))
		}
		s.shape = shape
	}
}

// WithPromptCaching makes the server cache prompts as Groq does: a request whose
// leading system messages the organization sent to the same model before has
// their tokens served from the cache, reported in
// usage.prompt_tokens_details.cached_tokens and not counted toward TPM or TPD.
func WithPromptCaching() Option {
	return func(s *Server) { s.promptCache = true }
}

// WithLatency makes every response take d, plus up to jitter more (uniform), after
// the request is admitted.
func WithLatency(d, jitter time.Duration) Option {
	return func(s *Server) {
		if d < 0 || jitter < 0 {
			panic("groqtest: WithLatency: negative duration")
		}
		s.latency, s.jitter = d, jitter
	}
}

// WithArrivalJitter delays every chat request by a random time, uniform in
// [0, d), after it is received and before the limits are checked: the server counts
// a request when it arrives, and arrivals jitter with the network. A client that
// paces at exactly the limit draws 429s against it.
func WithArrivalJitter(d time.Duration) Option {
	return func(s *Server) {
		if d < 0 {
			panic("groqtest: WithArrivalJitter: negative duration")
		}
		s.arrival = d
	}
}

// WithFirstConnectionDelay delays the first chat request of each connection by d
// before the limits are checked, as a TCP and TLS handshake delays it on a real
// network: that request arrives later than the ones sent after it on open
// connections. On the socket server it is the first request of each accepted
// connection; the in-memory transport has no connections, so there it is the
// first request of each API key.
func WithFirstConnectionDelay(d time.Duration) Option {
	return func(s *Server) {
		if d < 0 {
			panic("groqtest: WithFirstConnectionDelay: negative duration")
		}
		s.firstConn = d
	}
}

// WithSeed seeds the server's randomness (fault rates, latency and arrival jitter).
func WithSeed(seed uint64) Option {
	return func(s *Server) { s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// WithFaultRate injects fault f into a fraction p of requests (0 ≤ p ≤ 1).
func WithFaultRate(f Fault, p float64) Option {
	return func(s *Server) {
		if !(p >= 0 && p <= 1) {
			panic(fmt.Sprintf("groqtest: WithFaultRate: rate %v outside [0,1]", p))
		}
		f.check("WithFaultRate")
		s.rates = append(s.rates, faultRate{f, p})
	}
}

// WithHandlerHook runs hook before the simulator handles a chat request; when it
// returns true it has written the response and the simulator does nothing more
// (the request is still counted in Requests).
func WithHandlerHook(hook func(w http.ResponseWriter, r *http.Request, body []byte) bool) Option {
	return func(s *Server) { s.hook = hook }
}

// WithStreamChunkDelay waits d between the chunks of a streamed answer.
func WithStreamChunkDelay(d time.Duration) Option {
	return func(s *Server) {
		if d < 0 {
			panic("groqtest: WithStreamChunkDelay: negative duration")
		}
		s.chunkWait = d
	}
}

// WithTokenScale makes the server count a prompt's tokens differently from its
// usual count (four bytes a token, four more a message, three for the reply), as a server with another tokenizer
// does: a prompt of n tokens by the usual count is f×n tokens, rounded to the
// nearest (at least 1), for everything the server does with it: the TPM and TPD
// buckets, the 413 and context-window checks, and the usage that chat answers and
// batch output lines report. Completion tokens are counted as usual. f must be a
// positive, finite number; 1 is the default. A client that estimates tokens as
// the simulator usually counts them then sends 1/f of what it believes it spends
// (f 0.6) or f times it (f 1.7).
func WithTokenScale(f float64) Option {
	return func(s *Server) {
		if !(f > 0) || math.IsInf(f, 0) {
			panic(fmt.Sprintf("groqtest: WithTokenScale: %v, want a positive, finite factor", f))
		}
		s.tokenScale = f
	}
}

// serverTokens is the server's count of prompt tokens that its usual count makes n
// (see WithTokenScale).
func (s *Server) serverTokens(n int) int {
	if s.tokenScale == 0 || s.tokenScale == 1 || n == 0 {
		return n
	}
	return max(1, int(math.Round(s.tokenScale*float64(n))))
}

// NewUnstartedServer returns a server that does not listen: use Client for the
// in-memory form (under testing/synctest, this is the one to use), or Start.
func NewUnstartedServer(opts ...Option) *Server {
	s := &Server{
		orgOfKey: map[string]string{},
		rng:      rand.New(rand.NewPCG(1, 2)),
		buckets:  map[string]*orgModel{},
		seenKeys: map[string]bool{},
		stats:    Stats{PerKey: map[string]int{}, PerModel: map[string]int{}},
	}
	for _, o := range opts {
		o(s)
	}
	if s.models == nil {
		s.models = DefaultModels()
	}
	s.checkSpent()
	for _, p := range s.others {
		if _, ok := s.models[p.Model]; !ok {
			panic(fmt.Sprintf("groqtest: WithOtherProgram: model %q is not served", p.Model))
		}
		if len(s.orgOfKey) > 0 && s.orgOfKey[p.Key] == "" {
			panic(fmt.Sprintf("groqtest: WithOtherProgram: key %q is not accepted (WithKeys or WithOrganization)", p.Key))
		}
	}
	s.mem = &http.Client{Transport: &memTransport{h: s}}
	return s
}

// NewServer returns a server listening on a loopback address. Close it when done.
func NewServer(opts ...Option) *Server {
	s := NewUnstartedServer(opts...)
	s.Start()
	return s
}

// Start starts listening on loopback. It panics if the server was started already.
func (s *Server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ts != nil {
		panic("groqtest: Start: server already started")
	}
	s.ts = httptest.NewUnstartedServer(s)
	s.ts.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, new(atomic.Bool))
	}
	s.ts.Start()
}

// connKey marks a socket connection's context with whether it has served a chat
// request yet.
type connKey struct{}

// firstOnConnection reports whether r is the first chat request of its connection
// (of its key, in memory), and marks it seen. s.mu is not held.
func (s *Server) firstOnConnection(r *http.Request, key string) bool {
	if used, ok := r.Context().Value(connKey{}).(*atomic.Bool); ok {
		return !used.Swap(true)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seenKeys[key] {
		return false
	}
	s.seenKeys[key] = true
	return true
}

// URL is the API root to give a client (…/openai/v1). For a server that is not
// listening it is a placeholder that only Client's in-memory transport serves.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ts == nil {
		return "http://groqtest.invalid/openai/v1"
	}
	return s.ts.URL + "/openai/v1"
}

// Client returns an *http.Client whose transport calls the server's handler in
// memory, whatever the request's host.
func (s *Server) Client() *http.Client { return s.mem }

// Transport returns the in-memory transport of Client.
func (s *Server) Transport() http.RoundTripper { return s.mem.Transport }

// Close stops the listener, if any, and blocks until its requests are done.
func (s *Server) Close() {
	s.mu.Lock()
	ts := s.ts
	s.closed = true
	s.mu.Unlock()
	if ts != nil {
		ts.Close()
	}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.PerKey = make(map[string]int, len(s.stats.PerKey))
	for k, v := range s.stats.PerKey {
		st.PerKey[k] = v
	}
	st.PerModel = make(map[string]int, len(s.stats.PerModel))
	for k, v := range s.stats.PerModel {
		st.PerModel[k] = v
	}
	return st
}

// Arrivals returns the chat requests seen so far, in arrival order.
func (s *Server) Arrivals() []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Arrival(nil), s.arrived...)
}

// Script queues faults for the next requests, one each, in order; FaultNone lets a
// request through untouched. Scripted faults come before fault rates.
func (s *Server) Script(faults ...Fault) {
	for _, f := range faults {
		f.check("Script")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, faults...)
}

// Models lists the models served, sorted.
func (s *Server) Models() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.models))
	for m := range s.models {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

// ClientOptions are the options that point a groq.Client at the server: its URL,
// a key it accepts (the first given to WithKeys or WithOrganization, else
// "gsk_groqtest"), and for a server that does not listen its in-memory HTTP
// client (a server started later needs new options). Keys add up in
// groq.WithAPIKeys: for other keys, give WithBaseURL and WithHTTPClient yourself.
//
//	srv := groqtest.NewUnstartedServer()
//	client, err := groq.NewClient(srv.ClientOptions()...)
func (s *Server) ClientOptions() []groq.Option {
	s.mu.Lock()
	key, listening := "gsk_groqtest", s.ts != nil
	if len(s.keyOrder) > 0 {
		key = s.keyOrder[0]
	}
	s.mu.Unlock()
	opts := []groq.Option{groq.WithBaseURL(s.URL()), groq.WithAPIKeys(key)}
	if !listening {
		opts = append(opts, groq.WithHTTPClient(s.mem))
	}
	return opts
}
