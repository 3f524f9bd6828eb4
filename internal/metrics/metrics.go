// Package metrics turns a groq.Client's events into Prometheus metrics, written
// with the standard library, for the groq command's --metrics and the gateway's
// /metrics.
package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/groqkit/groq"
)

// The metrics are in the Prometheus text format,
// written here with the standard library so that the root module keeps its lean
// dependencies. The names and labels are those the OpenTelemetry Prometheus
// exporter gives groqotel's instruments (dots become underscores, counters end in
// _total, seconds in _seconds), so one dashboard reads both; groqotel has the
// spans and the full set.

var (
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
)

// family is one metric: its kind, help, and series by label text.
type family struct {
	name, help, kind string // kind: counter, gauge, histogram
	buckets          []float64
	series           map[string]*series
}

type series struct {
	value  float64  // counter
	counts []uint64 // histogram, per bucket (not cumulative)
	sum    float64
	count  uint64
}

// Metrics turns the client's events into Prometheus metrics. Safe for
// concurrent use. Observer feeds it; SetClient gives it the client whose quotas
// the gauges read at scrape time.
type Metrics struct {
	mu      sync.Mutex
	fams    map[string]*family
	models  map[string]bool // seen, for the quota gauges
	client  *groq.Client    // set once built; read at scrape time
	noCache atomic.Bool     // NoCache
}

// NoCache says the client has no cache: calls are not counted as cache hits
// or misses (groq_client_cache_*_total do not appear).
func (m *Metrics) NoCache() { m.noCache.Store(true) }

// New returns empty metrics.
func New() *Metrics {
	m := &Metrics{fams: map[string]*family{}, models: map[string]bool{}}
	def := func(name, kind, help string, buckets []float64) {
		m.fams[name] = &family{name: name, kind: kind, help: help, buckets: buckets, series: map[string]*series{}}
	}
	def("gen_ai_client_operation_duration_seconds", "histogram", "GenAI operation duration.", durationBuckets)
	def("gen_ai_client_token_usage", "histogram", "Number of input and output tokens used.", tokenBuckets)
	def("groq_client_queue_wait_seconds", "histogram", "Time a call waited in the client's queue before an attempt.", durationBuckets)
	def("groq_client_rate_limited_total", "counter", "Rate-limit refusals: the server's 429s, and the client's own (local).", nil)
	def("groq_client_retries_total", "counter", "Retries scheduled, by reason.", nil)
	def("groq_client_cooldowns_total", "counter", "Cooldowns set on a quota and model after a 429.", nil)
	def("groq_client_cache_hits_total", "counter", "Calls answered from the cache.", nil)
	def("groq_client_cache_misses_total", "counter", "Calls that went to the network.", nil)
	def("groq_client_deduplicated_total", "counter", "Calls answered by an identical call in flight.", nil)
	def("groq_client_budget_refused_total", "counter", "Calls refused by the daily token budget.", nil)
	def("groq_client_learned_total", "counter", "Bursts learnt and pacing margins widened after a 429.", nil)
	def("groq_gateway_requests_total", "counter", "Calls the gateway answered, by token and status.", nil)
	def("groq_gateway_request_duration_seconds", "histogram", "Time the gateway took to answer a call, queueing included, by token.", durationBuckets)
	return m
}

// labelEscaper escapes a label value for the text format.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// Labels renders label pairs (name, value, name, value…) in the text format.
func Labels(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(kv[i+1]))
		b.WriteByte('"')
	}
	return b.String()
}

// Add adds v to the counter name's series with the label text lbl (see Labels).
func (m *Metrics) Add(name, lbl string, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.fams[name]
	s := f.series[lbl]
	if s == nil {
		s = &series{}
		f.series[lbl] = s
	}
	s.value += v
}

// Observe records v in the histogram name's series with the label text lbl.
func (m *Metrics) Observe(name, lbl string, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.fams[name]
	s := f.series[lbl]
	if s == nil {
		s = &series{counts: make([]uint64, len(f.buckets)+1)}
		f.series[lbl] = s
	}
	i, _ := slices.BinarySearch(f.buckets, v) // le: the first bound >= v
	s.counts[i]++
	s.sum += v
	s.count++
}

// genAI is the conventions' common labels for a model's chat calls.
func genAI(model string, kv ...string) string {
	return Labels(append([]string{"gen_ai_operation_name", "chat", "gen_ai_provider_name", "groq", "gen_ai_request_model", model}, kv...)...)
}

// Observer is what the client calls (groq.WithObserver).
func (m *Metrics) Observer() groq.Observer {
	return groq.Observer{
		CallStart: func(ctx context.Context, e groq.CallStartEvent) context.Context {
			m.mu.Lock()
			m.models[e.Model] = true
			m.mu.Unlock()
			return nil
		},
		Admitted: func(_ context.Context, e groq.AdmittedEvent) {
			m.Observe("groq_client_queue_wait_seconds", Labels("gen_ai_request_model", e.Model, "groq_priority", strconv.Itoa(e.Priority)), e.QueueWait.Seconds())
		},
		RateLimited: func(_ context.Context, e groq.RateLimitedEvent) {
			limit := e.LimitName()
			m.Add("groq_client_rate_limited_total", Labels("gen_ai_request_model", e.Model, "groq_limit", limit), 1)
			if !e.CooldownUntil.IsZero() {
				m.Add("groq_client_cooldowns_total", Labels("gen_ai_request_model", e.Model), 1)
			}
		},
		Retry: func(_ context.Context, e groq.RetryEvent) {
			m.Add("groq_client_retries_total", Labels("gen_ai_request_model", e.Model, "groq_retry_reason", e.Reason), 1)
		},
		BudgetRefused: func(_ context.Context, e groq.BudgetRefusedEvent) {
			m.Add("groq_client_budget_refused_total", Labels("gen_ai_request_model", e.Model), 1)
		},
		Learned: func(e groq.LearnedEvent) {
			m.Add("groq_client_learned_total", Labels("gen_ai_request_model", e.Model, "groq_quota", e.Quota, "groq_limit", e.Limit), 1)
		},
		CallDone: func(_ context.Context, e groq.CallDoneEvent) {
			var extra []string
			if e.ResponseModel != "" {
				extra = append(extra, "gen_ai_response_model", e.ResponseModel)
			}
			if e.Err != nil {
				extra = append(extra, "error_type", groq.ErrorType(e.Err))
			}
			m.Observe("gen_ai_client_operation_duration_seconds", genAI(e.Model, extra...), e.Duration.Seconds())
			model := Labels("gen_ai_request_model", e.Model)
			switch {
			case m.noCache.Load() && !e.Shared: // no cache: no hits, and misses would say there is one
			case e.FromCache:
				m.Add("groq_client_cache_hits_total", model, 1)
			case e.Shared:
				m.Add("groq_client_deduplicated_total", model, 1)
			default:
				m.Add("groq_client_cache_misses_total", model, 1)
			}
			if u := e.Usage; u != nil && !e.FromCache && !e.Shared {
				m.Observe("gen_ai_client_token_usage", genAI(e.Model, append(extra, "gen_ai_token_type", "input")...), float64(u.PromptTokens))
				m.Observe("gen_ai_client_token_usage", genAI(e.Model, append(extra, "gen_ai_token_type", "output")...), float64(u.CompletionTokens))
			}
		},
	}
}

// Write renders every metric, with the gauges read from the client now.
func (m *Metrics) Write(w io.Writer) {
	m.mu.Lock()
	models := make([]string, 0, len(m.models))
	for k := range m.models {
		models = append(models, k)
	}
	c := m.client
	var b strings.Builder
	names := make([]string, 0, len(m.fams))
	for n := range m.fams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := m.fams[n]
		if len(f.series) == 0 {
			continue
		}
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.kind)
		keys := make([]string, 0, len(f.series))
		for k := range f.series {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s := f.series[k]
			if f.kind != "histogram" {
				fmt.Fprintf(&b, "%s{%s} %s\n", f.name, k, num(s.value))
				continue
			}
			var cum uint64
			for i, bound := range f.buckets {
				cum += s.counts[i]
				fmt.Fprintf(&b, "%s_bucket{%s,le=\"%s\"} %d\n", f.name, k, num(bound), cum)
			}
			fmt.Fprintf(&b, "%s_bucket{%s,le=\"+Inf\"} %d\n%s_sum{%s} %s\n%s_count{%s} %d\n", f.name, k, s.count, f.name, k, num(s.sum), f.name, k, s.count)
		}
	}
	m.mu.Unlock()
	if c != nil {
		sort.Strings(models)
		gauges(&b, c, models)
	}
	io.WriteString(w, b.String())
}

// gauges renders what the client knows of each quota now: the fraction of each
// bucket left, the calls waiting by priority and the requests in flight.
func gauges(b *strings.Builder, c *groq.Client, models []string) {
	fmt.Fprint(b, "# HELP groq_client_quota_remaining Fraction of a quota's bucket left, per model and limit.\n# TYPE groq_client_quota_remaining gauge\n")
	var queued map[int]int
	inFlight := 0
	for _, model := range models {
		s := c.RateLimits(model)
		queued, inFlight = s.Queued, s.InFlight
		for _, q := range s.Quotas {
			for _, l := range []struct {
				name        string
				used, limit int
			}{{"RPM", q.RequestsThisMinute, q.Burst.RPM}, {"TPM", q.TokensThisMinute, q.Burst.TPM}, {"RPD", q.RequestsToday, q.Limits.RPD}, {"TPD", q.TokensToday, q.Limits.TPD}} {
				if l.limit <= 0 {
					continue
				}
				left := math.Max(0, 1-float64(l.used)/float64(l.limit))
				fmt.Fprintf(b, "groq_client_quota_remaining{%s} %s\n", Labels("gen_ai_request_model", model, "groq_quota", q.Name, "groq_limit", l.name), num(left))
			}
		}
	}
	fmt.Fprint(b, "# HELP groq_client_queue_length Calls waiting in the client's queue, by priority.\n# TYPE groq_client_queue_length gauge\n")
	prios := make([]int, 0, len(queued))
	for p := range queued {
		prios = append(prios, p)
	}
	sort.Ints(prios)
	for _, p := range prios {
		fmt.Fprintf(b, "groq_client_queue_length{groq_priority=\"%d\"} %d\n", p, queued[p])
	}
	fmt.Fprintf(b, "# HELP groq_client_requests_in_flight Requests in flight.\n# TYPE groq_client_requests_in_flight gauge\ngroq_client_requests_in_flight %d\n", inFlight)
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// SetClient gives the gauges their client.
func (m *Metrics) SetClient(c *groq.Client) {
	m.mu.Lock()
	m.client = c
	m.mu.Unlock()
}

// ServeHTTP answers a scrape.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.Write(w)
}

// Server serves /metrics on an address until Stop is called.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Serve serves m at /metrics on addr.
func Serve(addr string, m *Metrics) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m)
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go s.srv.Serve(ln)
	return s, nil
}

// Stop stops the server.
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// Addr is where the server listens.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }
