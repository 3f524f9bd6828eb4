package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/redisstore"
	"github.com/groqkit/groq/redisstore/internal/redistest"
)

// BenchmarkTake is admission through Redis from one process on loopback, with
// limits that always admit: one script run per admission, from as many goroutines
// as GOMAXPROCS×4 (go-redis pools the connections). It reports admissions/s.
func BenchmarkTake(b *testing.B) {
	rs := redistest.Start(b)
	s := redisstore.New(rs.Client())
	r := groq.QuotaRequest{Quota: "key:bench", Model: "m", Limits: groq.Limits{RPM: 1 << 30, TPM: 1 << 30, RPD: 1 << 30, TPD: 1 << 30}, Tokens: 100, Priority: 5}
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d, err := s.Take(context.Background(), r); err != nil || !d.OK {
				b.Errorf("take: %v %v", d, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "admissions/s")
}

// BenchmarkChatLatency is a whole Chat against the in-memory simulator, one call
// at a time, without a store and with the Redis store (Take before the request,
// Settle after it). It reports each one's median and 99th percentile, and what
// the store adds at the 99th percentile.
func BenchmarkChatLatency(b *testing.B) {
	rs := redistest.Start(b)
	srv := groqtest.NewUnstartedServer(groqtest.WithModel("m", groqtest.Limits{RPM: 1 << 30, TPM: 1 << 30}))
	mk := func(opts ...groq.Option) *groq.Client {
		c, err := groq.NewClient(append([]groq.Option{groq.WithAPIKeys("gsk_bench"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithModelLimits("m", groq.Limits{RPM: 1 << 30, TPM: 1 << 30})}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	plain, shared := mk(), mk(groq.WithQuotaStore(redisstore.New(rs.Client())))
	defer plain.Close()
	defer shared.Close()
	msgs := []groq.Message{groq.User("latency")}
	var without, with []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range []*groq.Client{plain, shared} {
			t0 := time.Now()
			if _, err := c.Chat(context.Background(), msgs, groq.WithModel("m"), groq.WithoutCache()); err != nil {
				b.Fatal(err)
			}
			if c == plain {
				without = append(without, time.Since(t0))
			} else {
				with = append(with, time.Since(t0))
			}
		}
	}
	pct := func(xs []time.Duration, p float64) time.Duration {
		slices.Sort(xs)
		return xs[min(len(xs)-1, int(p*float64(len(xs))))]
	}
	b.ReportMetric(float64(pct(without, 0.5).Microseconds()), "µs-p50-without")
	b.ReportMetric(float64(pct(with, 0.5).Microseconds()), "µs-p50-redis")
	b.ReportMetric(float64(pct(without, 0.99).Microseconds()), "µs-p99-without")
	b.ReportMetric(float64(pct(with, 0.99).Microseconds()), "µs-p99-redis")
	b.ReportMetric(float64((pct(with, 0.99) - pct(without, 0.99)).Microseconds()), "µs-p99-added")
}

// BenchmarkQuotaMemory reports what one quota and model holds in Redis (MEMORY
// USAGE of its hash, with every bucket and a waiting marker set).
func BenchmarkQuotaMemory(b *testing.B) {
	rs := redistest.Start(b)
	rdb := rs.Client()
	s := redisstore.New(rdb)
	ctx := context.Background()
	var total int64
	for i := 0; i < b.N; i++ {
		q := fmt.Sprintf("key:%016d", i)
		l := groq.Limits{RPM: 1, TPM: 1000, RPD: 1000, TPD: 100000}
		s.Take(ctx, groq.QuotaRequest{Quota: q, Model: "llama-3.1-8b-instant", Limits: l, Tokens: 10, Priority: 5})
		s.Take(ctx, groq.QuotaRequest{Quota: q, Model: "llama-3.1-8b-instant", Limits: l, Tokens: 10, Priority: 1}) // refused: a marker
		n, err := rdb.MemoryUsage(ctx, "groq:q{"+q+"|llama-3.1-8b-instant}").Result()
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	b.ReportMetric(float64(total)/float64(b.N), "bytes/quota-model")
}
