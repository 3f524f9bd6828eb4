package groqotel_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqotel"
	"github.com/groqkit/groq/groqtest"
)

type harness struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	client *groq.Client
	srv    *groqtest.Server
}

func setup(t *testing.T, copts ...groq.Option) *harness {
	t.Helper()
	h := &harness{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	obs, err := groqotel.New(groqotel.WithTracerProvider(tp), groqotel.WithMeterProvider(mp))
	require.NoError(t, err)
	h.srv = groqtest.NewUnstartedServer(groqtest.WithLatency(200*time.Millisecond, 0))
	opts := append([]groq.Option{groq.WithAPIKeys("gsk_otel"), groq.WithBaseURL(h.srv.URL()), groq.WithHTTPClient(h.srv.Client()),
		groq.WithObserver(obs)}, copts...)
	h.client, err = groq.NewClient(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { h.client.Close() })
	return h
}

func (h *harness) metrics(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, h.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

func attrs(s attribute.Set) map[string]string {
	out := map[string]string{}
	for _, kv := range s.ToSlice() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

// TestCallRateLimitedRetriedThenAnswered: the span, its events and the metrics of
// a call that meets a 429, is retried, and succeeds.
func TestCallRateLimitedRetriedThenAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := setup(t)
		h.srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "1"})
		temp := 0.5
		resp, err := h.client.ChatCompletion(context.Background(), &groq.ChatRequest{
			Messages: []groq.Message{groq.User("hello")}, Temperature: &temp})
		require.NoError(t, err)

		spans := h.spans.Ended()
		require.Len(t, spans, 1)
		sp := spans[0]
		assert.Equal(t, "chat llama-3.1-8b-instant", sp.Name())
		assert.Equal(t, "client", strings.ToLower(sp.SpanKind().String()))
		a := attrs(attribute.NewSet(sp.Attributes()...))
		assert.Equal(t, "chat", a["gen_ai.operation.name"])
		assert.Equal(t, "groq", a["gen_ai.provider.name"])
		assert.Equal(t, "llama-3.1-8b-instant", a["gen_ai.request.model"])
		assert.Equal(t, "llama-3.1-8b-instant", a["gen_ai.response.model"])
		assert.Equal(t, resp.ID, a["gen_ai.response.id"])
		assert.Equal(t, "0.5", a["gen_ai.request.temperature"])
		assert.Equal(t, "false", a["gen_ai.request.stream"])
		assert.Equal(t, "groqtest.invalid", a["server.address"])
		assert.Equal(t, "80", a["server.port"])
		assert.Equal(t, `["stop"]`, a["gen_ai.response.finish_reasons"])
		assert.Equal(t, "2", a["groq.attempts"])
		assert.NotContains(t, a, "gen_ai.input.messages", "no content without WithMessageContent")
		var names []string
		for _, ev := range sp.Events() {
			names = append(names, ev.Name)
		}
		assert.Equal(t, []string{"groq.queue", "groq.rate_limited", "groq.http.attempt", "groq.retry",
			"groq.queue", "groq.http.attempt"}, names)

		m := h.metrics(t)
		dur := m["gen_ai.client.operation.duration"].(metricdata.Histogram[float64])
		require.Len(t, dur.DataPoints, 1)
		assert.InDelta(t, 1.2, dur.DataPoints[0].Sum, 1e-9, "a 1 s cooldown, then a 200 ms answer")
		assert.Equal(t, []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}, dur.DataPoints[0].Bounds)
		tok := m["gen_ai.client.token.usage"].(metricdata.Histogram[float64])
		byType := map[string]float64{}
		for _, dp := range tok.DataPoints {
			byType[attrs(dp.Attributes)["gen_ai.token.type"]] = dp.Sum
			assert.Equal(t, "groq", attrs(dp.Attributes)["gen_ai.provider.name"])
		}
		assert.Equal(t, map[string]float64{"input": float64(resp.Usage.PromptTokens), "output": float64(resp.Usage.CompletionTokens)}, byType)
		rl := m["groq.client.rate_limited"].(metricdata.Sum[int64])
		require.Len(t, rl.DataPoints, 1)
		assert.Equal(t, int64(1), rl.DataPoints[0].Value)
		assert.Equal(t, "unknown", attrs(rl.DataPoints[0].Attributes)["groq.limit"])
		retries := m["groq.client.retries"].(metricdata.Sum[int64])
		assert.Equal(t, "rate_limited", attrs(retries.DataPoints[0].Attributes)["groq.retry.reason"])
		wait := m["groq.client.queue.wait"].(metricdata.Histogram[float64])
		var waited float64
		for _, dp := range wait.DataPoints {
			waited += dp.Sum
			assert.Equal(t, "5", attrs(dp.Attributes)["groq.priority"])
		}
		assert.InDelta(t, 1.0, waited, 1e-9, "the retry waited out the cooldown in the queue")
		inFlight := m["groq.client.requests.in_flight"].(metricdata.Sum[int64])
		assert.Equal(t, int64(0), inFlight.DataPoints[0].Value)
	})
}

func TestCacheHitAndStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := setup(t, groq.WithCache(groq.NewMemoryCache(time.Hour, 0)))
		ctx := context.Background()
		for range 2 {
			_, err := h.client.Chat(ctx, []groq.Message{groq.User("cached")})
			require.NoError(t, err)
		}
		st, err := h.client.ChatStream(ctx, []groq.Message{groq.User("a longer answer to stream in several chunks")})
		require.NoError(t, err)
		for st.Next() {
		}
		require.NoError(t, st.Err())
		st.Close()

		spans := h.spans.Ended()
		require.Len(t, spans, 3)
		assert.Equal(t, "true", attrs(attribute.NewSet(spans[1].Attributes()...))["groq.cache_hit"])
		assert.Equal(t, "true", attrs(attribute.NewSet(spans[2].Attributes()...))["gen_ai.request.stream"])
		m := h.metrics(t)
		hits := m["groq.client.cache.hits"].(metricdata.Sum[int64])
		assert.Equal(t, int64(1), hits.DataPoints[0].Value)
		misses := m["groq.client.cache.misses"].(metricdata.Sum[int64])
		assert.Equal(t, int64(2), misses.DataPoints[0].Value, "the first call and the stream")
		ttfc := m["gen_ai.client.operation.time_to_first_chunk"].(metricdata.Histogram[float64])
		require.Len(t, ttfc.DataPoints, 1)
		assert.Equal(t, uint64(1), ttfc.DataPoints[0].Count)
		per := m["gen_ai.client.operation.time_per_output_chunk"].(metricdata.Histogram[float64])
		require.Len(t, per.DataPoints, 1)
		assert.Positive(t, per.DataPoints[0].Sum, "the simulator spreads its chunks over its latency")
		tok := m["gen_ai.client.token.usage"].(metricdata.Histogram[float64])
		var calls uint64
		for _, dp := range tok.DataPoints {
			calls += dp.Count
		}
		assert.Equal(t, uint64(4), calls, "input and output of the two calls that reached the server; the cache hit counts none")
	})
}

// TestMessageContentIsOptIn: contents are recorded only when asked.
func TestMessageContentIsOptIn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := tracetest.NewSpanRecorder()
		obs, err := groqotel.New(groqotel.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))),
			groqotel.WithMeterProvider(sdkmetric.NewMeterProvider()), groqotel.WithMessageContent())
		require.NoError(t, err)
		srv := groqtest.NewUnstartedServer()
		c, err := groq.NewClient(groq.WithAPIKeys("gsk_secret_never_recorded"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()), groq.WithObserver(obs))
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Chat(context.Background(), []groq.Message{groq.User("my private question")})
		require.NoError(t, err)
		a := attrs(attribute.NewSet(rec.Ended()[0].Attributes()...))
		assert.Contains(t, a["gen_ai.input.messages"], "my private question")
		assert.Contains(t, a["gen_ai.output.messages"], "Simulated answer")
		for k, v := range a {
			assert.NotContains(t, v, "gsk_secret", "attribute %s", k)
		}
	})
}

func TestGauges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := setup(t, groq.WithModelLimits("llama-3.1-8b-instant", groq.Limits{RPM: 10, TPM: 6000}))
		reader := sdkmetric.NewManualReader()
		unregister, err := groqotel.RegisterGauges(h.client, []string{"llama-3.1-8b-instant"},
			groqotel.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
		require.NoError(t, err)
		defer unregister()
		for range 5 {
			_, err := h.client.Chat(context.Background(), []groq.Message{groq.User("gauge")}, groq.WithoutCache())
			require.NoError(t, err)
		}
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		got := map[string]float64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if g, ok := m.Data.(metricdata.Gauge[float64]); ok {
					for _, dp := range g.DataPoints {
						got[m.Name+" "+attrs(dp.Attributes)["groq.limit"]] = dp.Value
					}
				}
				if g, ok := m.Data.(metricdata.Gauge[int64]); ok {
					for _, dp := range g.DataPoints {
						got[m.Name+" "+attrs(dp.Attributes)["groq.limit"]] = float64(dp.Value)
					}
				}
			}
		}
		assert.InDelta(t, 0.5, got["groq.client.quota.remaining RPM"], 1e-9, "5 of 10 requests used")
		assert.Equal(t, 10.0, got["groq.client.quota.burst RPM"])
		assert.Equal(t, 6000.0, got["groq.client.quota.burst TPM"])
		_, err = groqotel.RegisterGauges(nil, nil)
		assert.Error(t, err)
	})
}
