package groq

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAdmission measures one admission (queue, pick a quota, reserve, take a
// slot, settle) while n other calls wait, spread over 10 models whose buckets
// cannot take them yet (a backlog waiting for refill). The measured call goes to
// one of those models with a higher priority and a cost that fits: it is pushed
// onto its model's heap, becomes its head, is admitted by dispatch and settled.
func BenchmarkAdmission(b *testing.B) {
	const models = 10
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("waiters=%d/models=%d", n, models), func(b *testing.B) {
			limits := func(string) limitSpec { return userSpec(Limits{TPD: 1000}) }
			keys, quotas, _ := buildQuotas([]string{"a", "b"}, nil, func() *bucketSet { return newBucketSet(limits, DefaultPacingMargin, false) })
			s := newScheduler(keys, quotas, &settings{maxConcurrency: 8, maxRetryDelay: time.Hour, logger: slog.New(slog.DiscardHandler)})
			now := time.Now()
			name := func(i int) string { return fmt.Sprintf("m%d", i%models) }
			for i := range models {
				for _, q := range quotas {
					q.buckets.of(now, name(i)).reserve(now, 500) // half a day's tokens left: 1000 wait 12 hours
				}
			}
			for i := range n {
				w := newWaiter(10, name(i), 1000)
				w.seq, w.key = uint64(i+1), 10
				s.enqueue(w)
			}
			s.seq = uint64(n + 1)
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := newWaiter(1, name(i), 1)
				i++
				g, err := s.acquire(ctx, w)
				if err != nil {
					b.Fatal(err)
				}
				s.finish(*g, outcome{counted: true, used: 0}) // the tokens come back: the backlog stays blocked
			}
			b.StopTimer()
			if s.waiting != n {
				b.Fatalf("%d waiters queued; want %d (the backlog must stay queued)", s.waiting, n)
			}
		})
	}
}

// BenchmarkQueuedWaiterBytes reports the scheduler's memory per queued call (the
// waiter, its wake channel and its heap slot; the caller's goroutine is not counted).
func BenchmarkQueuedWaiterBytes(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		q := make(waitQueue, 0)
		for i := range n {
			w := newWaiter(5, "m", 100)
			w.seq, w.key = uint64(i), 5
			heap.Push(&q, w)
		}
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "bytes/waiter")
		runtime.KeepAlive(q)
	}
}
