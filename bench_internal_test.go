package groq

import (
	"container/heap"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAdmission measures one admission (queue, pick a quota, reserve, take a
// slot, settle) while n other calls wait in the queue. A heap keeps it O(log n).
func BenchmarkAdmission(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("waiters=%d", n), func(b *testing.B) {
			limits := func(string) Limits { return Limits{} }
			keys, quotas, _ := buildQuotas([]string{"a", "b"}, nil, func() bucketStore { return newMemoryStore(limits) })
			s := newScheduler(keys, quotas, 8, 0, 0, time.Minute)
			for i := range n {
				w := newWaiter(10, "m", 100)
				w.seq, w.key = uint64(i+1), 10
				heap.Push(&s.queue, w)
			}
			s.seq = uint64(n + 1)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := newWaiter(1, "m", 100)
				g, err := s.acquire(ctx, w)
				if err != nil {
					b.Fatal(err)
				}
				s.finish(g, 100, true, RateLimitInfo{}, "", time.Time{})
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
