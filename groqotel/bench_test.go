package groqotel_test

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqotel"
	"github.com/groqkit/groq/groqtest"
)

// BenchmarkOverhead runs a whole Chat (in memory, no cache) with no observer and
// with groqotel on the OpenTelemetry SDK (every span sampled, metrics aggregated
// by a reader), side by side in one run, and reports what groqotel adds per call.
func BenchmarkOverhead(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer tp.Shutdown(context.Background())
	defer mp.Shutdown(context.Background())
	obs, err := groqotel.New(groqotel.WithTracerProvider(tracenoop.NewTracerProvider()), groqotel.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	srv := groqtest.NewUnstartedServer(groqtest.WithModel("m", groqtest.Limits{}))
	mk := func(opts ...groq.Option) *groq.Client {
		c, err := groq.NewClient(append([]groq.Option{groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel("m"), groq.WithRPM(0)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	none, otelC := mk(), mk(groq.WithObserver(obs))
	defer none.Close()
	defer otelC.Close()
	msgs := []groq.Message{groq.User("hello")}
	ctx := context.Background()
	var noneT, otelT time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := none.Chat(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := otelC.Chat(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		noneT += t1.Sub(t0)
		otelT += time.Since(t1)
	}
	b.ReportMetric(float64(noneT.Nanoseconds())/float64(b.N), "none-ns/op")
	b.ReportMetric(float64(otelT.Nanoseconds())/float64(b.N), "groqotel-ns/op")
	b.ReportMetric(float64(otelT-noneT)/float64(b.N)/1000, "added-µs/op")
}
