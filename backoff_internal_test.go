package groq

import (
	"net/http"
	"testing"
	"time"
)

func TestDecorrelatedJitterBounds(t *testing.T) {
	base, maxD := 500*time.Millisecond, 30*time.Second
	low := func(n int64) int64 { return 0 }
	high := func(n int64) int64 { return n - 1 }
	tests := []struct {
		prev     time.Duration
		randN    func(int64) int64
		want     time.Duration
		drawName string
	}{
		{0, low, base, "lowest draw, first retry"},
		{0, high, 3*base - 1, "highest draw, first retry"},
		{2 * time.Second, high, 6*time.Second - 1, "highest draw after 2s"},
		{2 * time.Second, low, base, "lowest draw after 2s"},
		{20 * time.Second, high, maxD, "capped"},
		{time.Duration(1 << 62), high, maxD, "overflowing prev"},
	}
	for _, tt := range tests {
		if got := decorrelatedJitter(tt.prev, base, maxD, tt.randN); got != tt.want {
			t.Errorf("decorrelatedJitter(%v) with %s = %v; want %v", tt.prev, tt.drawName, got, tt.want)
		}
	}
	// With the real source every draw stays in [base, min(max, 3*prev)).
	prev := time.Duration(0)
	for i := 0; i < 10000; i++ {
		d := decorrelatedJitter(prev, base, maxD, randInt64N)
		hi := min(maxD, 3*max(prev, base))
		if d < base || d > hi {
			t.Fatalf("draw %d after %v = %v; want within [%v, %v]", i, prev, d, base, hi)
		}
		prev = d
	}
}

func TestDecorrelatedJitterSpreads(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := 0; i < 100; i++ {
		seen[decorrelatedJitter(time.Second, 500*time.Millisecond, 30*time.Second, randInt64N)] = true
	}
	if len(seen) < 50 {
		t.Fatalf("100 draws gave %d distinct sleeps; want jitter", len(seen))
	}
}

func TestRetryableStatus(t *testing.T) {
	h := func(v string) http.Header {
		out := http.Header{}
		if v != "" {
			out.Set("X-Should-Retry", v)
		}
		return out
	}
	for _, s := range []int{408, 409, 429, 498, 500, 502, 503, 504} {
		if !retryableStatus(s, h("")) {
			t.Errorf("retryableStatus(%d) = false; want true", s)
		}
		if retryableStatus(s, h("false")) {
			t.Errorf("retryableStatus(%d, x-should-retry: false) = true; want false", s)
		}
	}
	for _, s := range []int{400, 401, 403, 404, 413, 422, 424} {
		if retryableStatus(s, h("")) {
			t.Errorf("retryableStatus(%d) = true; want false", s)
		}
	}
	if !retryableStatus(400, h("true")) {
		t.Error("retryableStatus(400, x-should-retry: true) = false; want true")
	}
	if retryableStatus(413, h("true")) {
		t.Error("retryableStatus(413, x-should-retry: true) = true; a 413 can never succeed by waiting")
	}
}
