package groq

import (
	"container/heap"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

func TestModelBucketsReadyAt(t *testing.T) {
	b := newModelBuckets(t0, Limits{RPM: 30, TPM: 600})
	at, ok := b.readyAt(t0, 100)
	require.True(t, ok)
	assert.Equal(t, t0, at, "a full bucket admits at once")
	b.reserve(t0, 600)
	at, _ = b.readyAt(t0, 100)
	assert.Equal(t, t0.Add(10*time.Second), at, "100 tokens at 10 a second")
	_, ok = b.readyAt(t0, 601)
	assert.False(t, ok, "larger than the minute's capacity")
	assert.False(t, b.fits(601))

	for range 29 {
		b.reserve(t0, 0)
	}
	at, _ = b.readyAt(t0.Add(10*time.Second), 100)
	assert.Equal(t, t0.Add(10*time.Second), at, "30 RPM: 5 requests refilled after 10s")
}

func TestCooldownOnlyExtends(t *testing.T) {
	b := newModelBuckets(t0, Limits{})
	b.coolDown(t0.Add(30 * time.Second))
	b.coolDown(t0.Add(10 * time.Second))
	at, _ := b.readyAt(t0, 1)
	assert.Equal(t, t0.Add(30*time.Second), at, "a shorter cooldown never shortens a longer one")
	b.coolDown(t0.Add(45 * time.Second))
	at, _ = b.readyAt(t0, 1)
	assert.Equal(t, t0.Add(45*time.Second), at)
}

func TestReconcileGivesBackAndCharges(t *testing.T) {
	b := newModelBuckets(t0, Limits{RPM: 10, TPM: 1000})
	b.reserve(t0, 500)
	b.reconcile(t0, 500, 200, true)
	assert.InDelta(t, 800, b.tpm.TokensAt(t0), 1e-6, "unused tokens come back")
	assert.InDelta(t, 9, b.rpm.TokensAt(t0), 1e-6, "the request stays counted")

	b.reserve(t0, 100)
	b.reconcile(t0, 100, 2500, true)
	assert.InDelta(t, 800-2500, b.tpm.TokensAt(t0), 1e-6, "extra usage is charged, even past the capacity")

	c := newModelBuckets(t0, Limits{RPM: 10, TPM: 1000})
	c.reserve(t0, 300)
	c.reconcile(t0, 300, 0, false)
	assert.InDelta(t, 1000, c.tpm.TokensAt(t0), 1e-6, "an uncounted request gives everything back")
	assert.InDelta(t, 10, c.rpm.TokensAt(t0), 1e-6)
	giveBack(c.tpm, t0, 500)
	assert.InDelta(t, 1000, c.tpm.TokensAt(t0), 1e-6, "never past the capacity")
}

func TestObserveHeaders(t *testing.T) {
	b := newModelBuckets(t0, Limits{RPM: 30})
	b.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: 1000, RequestsLeftToday: 900, TokensPerMinute: 6000, TokensLeftInMinute: 2500})
	l := b.limits()
	assert.Equal(t, Limits{RPM: 30, RPD: 1000, TPM: 6000}, l)
	assert.InDelta(t, 2500, b.tpm.TokensAt(t0), 1e-6, "pulled down to the server's remaining tokens")
	assert.InDelta(t, 900, b.rpd.TokensAt(t0), 1e-6)
	b.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: -1, RequestsLeftToday: -1, TokensPerMinute: 6000, TokensLeftInMinute: 5000})
	assert.InDelta(t, 2500, b.tpm.TokensAt(t0), 1e-6, "headers never raise the local bucket")

	cfg := newModelBuckets(t0, Limits{TPM: 3000})
	cfg.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: -1, RequestsLeftToday: -1, TokensPerMinute: 6000, TokensLeftInMinute: -1})
	assert.Equal(t, 3000, cfg.limits().TPM, "a configured limit is never raised")
	cfg.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: -1, RequestsLeftToday: -1, TokensPerMinute: 2000, TokensLeftInMinute: -1})
	assert.Equal(t, 2000, cfg.limits().TPM, "a lower server limit wins")
}

func TestObserveRateLimitMessage(t *testing.T) {
	b := newModelBuckets(t0, Limits{RPM: 60})
	b.observeRateLimit(t0, "Rate limit reached for model `m` in organization `org_x` service tier `on_demand` on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 2s.")
	assert.Equal(t, 30, b.limits().RPM)
	assert.InDelta(t, 0, b.rpm.TokensAt(t0), 1e-6, "the server said the bucket is empty")

	b.observeRateLimit(t0, "... on tokens per minute (TPM): Limit 15000, Used 11972, Requested 4351. Please try again in 5.289s.")
	assert.Equal(t, 15000, b.limits().TPM)
	assert.InDelta(t, 15000-11972, b.tpm.TokensAt(t0), 1e-6)

	kind, limit, used, ok := parseLimitMessage("Rate limit reached ... on tokens per day (TPD): Limit 500000, Used 499000, Requested 2000.")
	assert.Equal(t, []any{"TPD", 500000, 499000, true}, []any{kind, limit, used, ok})
	_, _, _, ok = parseLimitMessage("Rate limit reached (injected). Please try again in 1s.")
	assert.False(t, ok)
}

func TestWaitQueueOrder(t *testing.T) {
	var q waitQueue
	mk := func(key int64, seq uint64) *waiter {
		w := newWaiter(int(key), "m", 1)
		w.key, w.seq = key, seq
		return w
	}
	for _, w := range []*waiter{mk(5, 3), mk(1, 9), mk(5, 1), mk(10, 2), mk(1, 4)} {
		heap.Push(&q, w)
	}
	var got [][2]int64
	for q.Len() > 0 {
		w := heap.Pop(&q).(*waiter)
		got = append(got, [2]int64{w.key, int64(w.seq)})
	}
	assert.Equal(t, [][2]int64{{1, 4}, {1, 9}, {5, 1}, {5, 3}, {10, 2}}, got, "priority first, then arrival")

	// A retry re-enters with its old place: ahead of later arrivals of its priority.
	retry := mk(5, 1)
	heap.Push(&q, mk(5, 7))
	heap.Push(&q, retry)
	assert.Same(t, retry, q[0])
}

func TestReconfigureKeepsLimitersAndTheirState(t *testing.T) {
	b := newModelBuckets(t0, Limits{RPM: 60, TPM: 1000})
	for range 50 {
		b.reserve(t0, 10)
	}
	rpm, tpm := b.rpm, b.tpm
	b.configured = Limits{RPM: 120, TPM: 400}
	b.apply(t0)
	assert.Same(t, rpm, b.rpm, "changed with SetLimit/SetBurst, not rebuilt")
	assert.Same(t, tpm, b.tpm)
	assert.InDelta(t, 10, b.rpm.TokensAt(t0), 1e-6, "what was consumed stays consumed")
	assert.InDelta(t, 400, b.tpm.TokensAt(t0), 1e-6, "capped at the new, smaller capacity")
	assert.Equal(t, 120, b.rpm.Burst())
	at, _ := b.readyAt(t0, 10)
	assert.Equal(t, t0, at)
	for range 10 {
		b.reserve(t0, 0)
	}
	at, _ = b.readyAt(t0, 0)
	assert.Equal(t, t0.Add(500*time.Millisecond), at, "the new rate: 2 requests a second")
}
