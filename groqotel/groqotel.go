// Package groqotel turns a groq.Client's events into OpenTelemetry spans and
// metrics, following the OpenTelemetry semantic conventions for generative AI
// clients (version 1.37.0; they are in development, so this package pins what it
// follows), plus the scheduler's own metrics under a "groq.client." prefix.
//
//	obs, err := groqotel.New() // the global providers; or WithMeterProvider, WithTracerProvider
//	client, err := groq.NewClient(groq.WithObserver(obs))
//
// It uses the OpenTelemetry API only: the application brings the SDK, its
// exporters (Prometheus, OTLP…) and their providers. Message contents are recorded
// only with WithMessageContent; API keys never (the client's events carry none).
// Attributes on metrics are low-cardinality: model, provider, server, status
// class, limit kind, priority; never a request id or a key.
package groqotel

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/groqkit/groq"
)

// SemconvVersion is the version of the OpenTelemetry semantic conventions this
// package follows.
const SemconvVersion = "1.37.0"

const scope = "github.com/groqkit/groq/groqotel"

// Attribute keys of the GenAI conventions (and server.*, error.type).
const (
	keyOperation     = attribute.Key("gen_ai.operation.name")
	keyProvider      = attribute.Key("gen_ai.provider.name")
	keyRequestModel  = attribute.Key("gen_ai.request.model")
	keyResponseModel = attribute.Key("gen_ai.response.model")
	keyResponseID    = attribute.Key("gen_ai.response.id")
	keyFinish        = attribute.Key("gen_ai.response.finish_reasons")
	keyInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	keyOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	keyStream        = attribute.Key("gen_ai.request.stream")
	keyTemperature   = attribute.Key("gen_ai.request.temperature")
	keyTopP          = attribute.Key("gen_ai.request.top_p")
	keyMaxTokens     = attribute.Key("gen_ai.request.max_tokens")
	keySeed          = attribute.Key("gen_ai.request.seed")
	keyStop          = attribute.Key("gen_ai.request.stop_sequences")
	keyTokenType     = attribute.Key("gen_ai.token.type")
	keyInputMessages = attribute.Key("gen_ai.input.messages")
	keyOutput        = attribute.Key("gen_ai.output.messages")
	keyServerAddress = attribute.Key("server.address")
	keyServerPort    = attribute.Key("server.port")
	keyErrorType     = attribute.Key("error.type")

	keyLimit    = attribute.Key("groq.limit")
	keyReason   = attribute.Key("groq.retry.reason")
	keyPriority = attribute.Key("groq.priority")
	keyQuota    = attribute.Key("groq.quota")
)

// Bucket boundaries the conventions recommend.
var (
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	chunkBuckets    = []float64{0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
)

// Option configures New.
type Option func(*config)

type config struct {
	mp      metric.MeterProvider
	tp      trace.TracerProvider
	content bool
}

// WithMeterProvider sets where metrics go (default: otel.GetMeterProvider()).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithTracerProvider sets where spans go (default: otel.GetTracerProvider()).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMessageContent records the request's messages and the answer on the call's
// span (gen_ai.input.messages, gen_ai.output.messages). Off by default: message
// contents are the user's data.
func WithMessageContent() Option { return func(c *config) { c.content = true } }

type instruments struct {
	tracer  trace.Tracer
	content bool
	sets    sync.Map // setKey -> metric.MeasurementOption: a client has few combinations

	tokens, duration, ttfc, perChunk, queueWait metric.Float64Histogram
	inFlight                                    metric.Int64UpDownCounter
	rateLimited, retries, cooldowns             metric.Int64Counter
	cacheHits, cacheMisses, shared, refused     metric.Int64Counter
	learned                                     metric.Int64Counter
	burst                                       metric.Int64Gauge
	margin                                      metric.Float64Gauge
}

// New returns an observer that records spans and metrics. Its instruments are
// created here, once; an error means one could not be.
func New(opts ...Option) (groq.Observer, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	if cfg.tp == nil {
		cfg.tp = otel.GetTracerProvider()
	}
	m := cfg.mp.Meter(scope)
	in := &instruments{tracer: cfg.tp.Tracer(scope), content: cfg.content}
	var errs []error
	hist := func(name, unit, desc string, b []float64) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit(unit), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(b...))
		errs = append(errs, err)
		return h
	}
	count := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	in.tokens = hist("gen_ai.client.token.usage", "{token}", "Tokens used per call, by gen_ai.token.type (input, output).", tokenBuckets)
	in.duration = hist("gen_ai.client.operation.duration", "s", "Duration of a call, queueing and retries included.", durationBuckets)
	in.ttfc = hist("gen_ai.client.operation.time_to_first_chunk", "s", "Time to a stream's first chunk.", chunkBuckets)
	in.perChunk = hist("gen_ai.client.operation.time_per_output_chunk", "s", "Mean time between a stream's chunks after the first (one value per stream).", chunkBuckets)
	in.queueWait = hist("groq.client.queue.wait", "s", "Time a call (or a retry) waited in the client's queue, by priority.", durationBuckets)
	var err error
	in.inFlight, err = m.Int64UpDownCounter("groq.client.requests.in_flight", metric.WithUnit("{request}"),
		metric.WithDescription("HTTP attempts admitted and not yet answered."))
	errs = append(errs, err)
	in.rateLimited = count("groq.client.rate_limited", "{response}", "429s, and the client's own refusals to wait (groq.limit: RPM, RPD, TPM, TPD, unknown, local).")
	in.retries = count("groq.client.retries", "{retry}", "Retries scheduled, by groq.retry.reason.")
	in.cooldowns = count("groq.client.cooldowns", "{cooldown}", "Cooldowns set on a quota and model after a 429.")
	in.cacheHits = count("groq.client.cache.hits", "{call}", "Calls answered from the cache.")
	in.cacheMisses = count("groq.client.cache.misses", "{call}", "Calls that went to the network.")
	in.shared = count("groq.client.deduplicated", "{call}", "Calls answered by an identical call in flight.")
	in.refused = count("groq.client.budget.refused", "{call}", "Calls refused by the daily token budget.")
	in.learned = count("groq.client.learned", "{event}", "Bursts learnt and margins widened, by groq.limit.")
	in.burst, err = m.Int64Gauge("groq.client.learned.burst", metric.WithUnit("{request}"),
		metric.WithDescription("The last learnt bucket depth, by quota, model and limit (in tokens for TPM and TPD)."))
	errs = append(errs, err)
	in.margin, err = m.Float64Gauge("groq.client.pacing.margin", metric.WithUnit("s"),
		metric.WithDescription("The last widened pacing margin, by quota, model and limit."))
	errs = append(errs, err)
	for _, err := range errs {
		if err != nil {
			return groq.Observer{}, fmt.Errorf("groqotel: creating instruments: %w", err)
		}
	}
	return in.observer(), nil
}

// setKey names one combination of metric attributes.
type setKey struct {
	kind                       byte // 'b' base, 'm' model, 'q' queue, 'd' duration, 'i'/'o' tokens
	model, response, url, errT string
	priority                   int
}

// set returns the measurement option for k, built once.
func (in *instruments) set(k setKey) metric.MeasurementOption {
	if o, ok := in.sets.Load(k); ok {
		return o.(metric.MeasurementOption)
	}
	var kvs []attribute.KeyValue
	switch k.kind {
	case 'm':
		kvs = []attribute.KeyValue{keyRequestModel.String(k.model)}
	case 'q':
		kvs = []attribute.KeyValue{keyRequestModel.String(k.model), keyPriority.Int(k.priority)}
	default:
		kvs = []attribute.KeyValue{keyOperation.String("chat"), keyProvider.String("groq"), keyRequestModel.String(k.model)}
		if host, port := server(k.url); host != "" {
			kvs = append(kvs, keyServerAddress.String(host), keyServerPort.Int(port))
		}
		if k.response != "" {
			kvs = append(kvs, keyResponseModel.String(k.response))
		}
		if k.errT != "" {
			kvs = append(kvs, keyErrorType.String(k.errT))
		}
		switch k.kind {
		case 'i':
			kvs = append(kvs, keyTokenType.String("input"))
		case 'o':
			kvs = append(kvs, keyTokenType.String("output"))
		}
	}
	o := metric.WithAttributeSet(attribute.NewSet(kvs...))
	in.sets.Store(k, o)
	return o
}

// call is what the observer keeps of a call, in its context.
type call struct {
	span      trace.Span
	url       string
	base      metric.MeasurementOption // the convention's attributes of the call
	byModel   metric.MeasurementOption // the request model alone
	byQueue   metric.MeasurementOption // the request model and priority
	model     string
	stream    bool
	firstWait time.Duration
	firstSeen bool
}

type callKey struct{}

func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// servers caches server's answers by URL (a client sends to a handful).
var servers sync.Map

type hostPort struct {
	host string
	port int
}

func server(rawURL string) (string, int) {
	if hp, ok := servers.Load(rawURL); ok {
		return hp.(hostPort).host, hp.(hostPort).port
	}
	host, port := parseServer(rawURL)
	servers.Store(rawURL, hostPort{host, port})
	return host, port
}

func parseServer(rawURL string) (string, int) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", 0
	}
	host, portText := u.Hostname(), u.Port()
	if portText == "" {
		portText = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	port, _ := strconv.Atoi(portText)
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return host, port
}

func (in *instruments) observer() groq.Observer {
	return groq.Observer{
		CallStart: func(ctx context.Context, e groq.CallStartEvent) context.Context {
			host, port := server(e.URL)
			common := []attribute.KeyValue{keyOperation.String("chat"), keyProvider.String("groq"), keyRequestModel.String(e.Model)}
			if host != "" {
				common = append(common, keyServerAddress.String(host), keyServerPort.Int(port))
			}
			spanAttrs := append([]attribute.KeyValue{keyStream.Bool(e.Stream), keyPriority.Int(e.Priority)}, common...)
			if r := e.Request; r != nil {
				if r.Temperature != nil {
					spanAttrs = append(spanAttrs, keyTemperature.Float64(*r.Temperature))
				}
				if r.TopP != nil {
					spanAttrs = append(spanAttrs, keyTopP.Float64(*r.TopP))
				}
				if n := maxTokens(r); n > 0 {
					spanAttrs = append(spanAttrs, keyMaxTokens.Int(n))
				}
				if r.Seed != nil {
					spanAttrs = append(spanAttrs, keySeed.Int64(*r.Seed))
				}
				if len(r.Stop) > 0 {
					spanAttrs = append(spanAttrs, keyStop.StringSlice(r.Stop))
				}
				if in.content {
					if b, err := json.Marshal(r.Messages); err == nil {
						spanAttrs = append(spanAttrs, keyInputMessages.String(string(b)))
					}
				}
			}
			ctx, span := in.tracer.Start(ctx, "chat "+e.Model, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(spanAttrs...))
			return context.WithValue(ctx, callKey{}, &call{span: span, url: e.URL, model: e.Model, stream: e.Stream,
				base:    in.set(setKey{kind: 'b', model: e.Model, url: e.URL}),
				byModel: in.set(setKey{kind: 'm', model: e.Model}),
				byQueue: in.set(setKey{kind: 'q', model: e.Model, priority: e.Priority})})
		},
		Admitted: func(ctx context.Context, e groq.AdmittedEvent) {
			c := callOf(ctx)
			if c == nil {
				return
			}
			in.queueWait.Record(ctx, e.QueueWait.Seconds(), c.byQueue)
			in.inFlight.Add(ctx, 1, c.byModel)
			{
				c.span.AddEvent("groq.queue", trace.WithAttributes(attribute.Int("groq.attempt", e.Attempt),
					attribute.Float64("groq.queue.wait", e.QueueWait.Seconds()), keyQuota.String(e.Quota), attribute.Int("groq.key_index", e.KeyIndex)))
			}
		},
		AttemptDone: func(ctx context.Context, e groq.AttemptEvent) {
			if c := callOf(ctx); c != nil {
				in.inFlight.Add(ctx, -1, c.byModel)
				attrs := []attribute.KeyValue{attribute.Int("groq.attempt", e.Attempt), attribute.Int("http.response.status_code", e.Status),
					attribute.Float64("groq.attempt.duration", e.Duration.Seconds()), attribute.String("groq.request_id", e.RequestID)}
				if e.Err != nil {
					attrs = append(attrs, keyErrorType.String(errorType(e.Err, e.Status)))
				}
				c.span.AddEvent("groq.http.attempt", trace.WithAttributes(attrs...))
			}
		},
		RateLimited: func(ctx context.Context, e groq.RateLimitedEvent) {
			limit := e.LimitName()
			in.rateLimited.Add(ctx, 1, metric.WithAttributes(keyRequestModel.String(e.Model), keyLimit.String(limit)))
			if !e.Local {
				in.cooldowns.Add(ctx, 1, metric.WithAttributes(keyRequestModel.String(e.Model)))
			}
			if c := callOf(ctx); c != nil {
				c.span.AddEvent("groq.rate_limited", trace.WithAttributes(keyLimit.String(limit), attribute.Float64("groq.server_wait", e.ServerWait.Seconds()),
					attribute.String("groq.cooldown_until", e.CooldownUntil.UTC().Format(time.RFC3339Nano))))
			}
		},
		Retry: func(ctx context.Context, e groq.RetryEvent) {
			in.retries.Add(ctx, 1, metric.WithAttributes(keyRequestModel.String(e.Model), keyReason.String(e.Reason)))
			if c := callOf(ctx); c != nil {
				c.span.AddEvent("groq.retry", trace.WithAttributes(keyReason.String(e.Reason), attribute.Float64("groq.retry.delay", e.Delay.Seconds())))
			}
		},
		StreamFirst: func(ctx context.Context, e groq.StreamFirstEvent) {
			c := callOf(ctx)
			if c == nil {
				return
			}
			c.firstWait, c.firstSeen = e.TimeToFirstChunk, true
			in.ttfc.Record(ctx, e.TimeToFirstChunk.Seconds(), c.base)
		},
		BudgetRefused: func(ctx context.Context, e groq.BudgetRefusedEvent) {
			in.refused.Add(ctx, 1, metric.WithAttributes(keyRequestModel.String(e.Model)))
		},
		Learned: func(e groq.LearnedEvent) {
			ctx := context.Background()
			attrs := metric.WithAttributes(keyQuota.String(e.Quota), keyRequestModel.String(e.Model), keyLimit.String(e.Limit))
			in.learned.Add(ctx, 1, attrs)
			if e.Burst > 0 {
				in.burst.Record(ctx, int64(e.Burst), attrs)
			}
			if e.Margin > 0 {
				in.margin.Record(ctx, e.Margin.Seconds(), attrs)
			}
		},
		CallDone: func(ctx context.Context, e groq.CallDoneEvent) { in.callDone(ctx, e) },
	}
}

func (in *instruments) callDone(ctx context.Context, e groq.CallDoneEvent) {
	c := callOf(ctx)
	if c == nil {
		return
	}
	k := setKey{kind: 'd', model: c.model, response: e.ResponseModel, url: c.url}
	if e.Err != nil {
		k.errT = errorType(e.Err, 0)
	}
	in.duration.Record(ctx, e.Duration.Seconds(), in.set(k))
	switch {
	case e.FromCache:
		in.cacheHits.Add(ctx, 1, c.byModel)
	case e.Shared:
		in.shared.Add(ctx, 1, c.byModel)
	default:
		in.cacheMisses.Add(ctx, 1, c.byModel)
	}
	if u := e.Usage; u != nil && !e.FromCache && !e.Shared {
		k.kind = 'i'
		in.tokens.Record(ctx, float64(u.PromptTokens), in.set(k))
		k.kind = 'o'
		in.tokens.Record(ctx, float64(u.CompletionTokens), in.set(k))
	}
	if c.stream && e.Chunks > 1 && c.firstSeen {
		in.perChunk.Record(ctx, (e.Duration-c.firstWait).Seconds()/float64(e.Chunks-1), c.base)
	}

	span := c.span
	span.SetAttributes(attribute.Bool("groq.cache_hit", e.FromCache), attribute.Bool("groq.deduplicated", e.Shared), attribute.Int("groq.attempts", e.Attempts))
	if e.ResponseModel != "" {
		span.SetAttributes(keyResponseModel.String(e.ResponseModel))
	}
	if e.ResponseID != "" {
		span.SetAttributes(keyResponseID.String(e.ResponseID))
	}
	if len(e.FinishReasons) > 0 {
		span.SetAttributes(keyFinish.StringSlice(e.FinishReasons))
	}
	if u := e.Usage; u != nil {
		span.SetAttributes(keyInputTokens.Int(u.PromptTokens), keyOutputTokens.Int(u.CompletionTokens))
		if d := u.PromptTokensDetails; d != nil {
			span.SetAttributes(attribute.Int("gen_ai.usage.cached_tokens", d.CachedTokens))
		}
	}
	if in.content && e.Response != nil {
		if b, err := json.Marshal(e.Response.Choices); err == nil {
			span.SetAttributes(keyOutput.String(string(b)))
		}
	}
	if e.Err != nil {
		span.SetAttributes(keyErrorType.String(errorType(e.Err, 0)))
		span.SetStatus(codes.Error, e.Err.Error())
	}
	span.End()
}

func maxTokens(r *groq.ChatRequest) int {
	switch {
	case r.MaxCompletionTokens != nil:
		return *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		return *r.MaxTokens
	}
	return 0
}
