package groqotel_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqotel"
	"github.com/groqkit/groq/groqtest"
)

// TestPrometheusScrape serves the metrics through the OpenTelemetry Prometheus
// exporter, scrapes them over HTTP and parses the exposition text.
func TestPrometheusScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.Background())
	obs, err := groqotel.New(groqotel.WithMeterProvider(mp))
	require.NoError(t, err)
	srv := groqtest.NewServer(groqtest.WithLatency(5*time.Millisecond, 0))
	defer srv.Close()
	srv.Script(groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "0"})
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_prom"), groq.WithBaseURL(srv.URL()), groq.WithObserver(obs))
	require.NoError(t, err)
	defer c.Close()
	for range 3 {
		_, err := c.Chat(context.Background(), []groq.Message{groq.User("scrape me")}, groq.WithoutCache())
		require.NoError(t, err)
	}

	ts := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer ts.Close()
	resp, err := http.Get(ts.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)

	dur, ok := families["gen_ai_client_operation_duration_seconds"]
	require.True(t, ok, "families: %v", keys(families))
	assert.Equal(t, uint64(3), dur.GetMetric()[0].GetHistogram().GetSampleCount())
	tokens := families["gen_ai_client_token_usage"]
	require.NotNil(t, tokens)
	types := map[string]bool{}
	for _, m := range tokens.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "gen_ai_token_type" {
				types[l.GetValue()] = true
			}
		}
	}
	assert.Equal(t, map[string]bool{"input": true, "output": true}, types)
	retries := families["groq_client_retries_total"]
	require.NotNil(t, retries)
	assert.Equal(t, 1.0, retries.GetMetric()[0].GetCounter().GetValue())
	misses := families["groq_client_cache_misses_total"]
	require.NotNil(t, misses)
	assert.Equal(t, 3.0, misses.GetMetric()[0].GetCounter().GetValue())
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
