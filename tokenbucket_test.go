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
	b := newModelBuckets(t0, Limits{RPM: 30, TPM: 600}, 0)
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
	b := newModelBuckets(t0, Limits{}, 0)
	b.coolDown(t0.Add(30 * time.Second))
	b.coolDown(t0.Add(10 * time.Second))
	at, _ := b.readyAt(t0, 1)
	assert.Equal(t, t0.Add(30*time.Second), at, "a shorter cooldown never shortens a longer one")
	b.coolDown(t0.Add(45 * time.Second))
	at, _ = b.readyAt(t0, 1)
	assert.Equal(t, t0.Add(45*time.Second), at)
}

func TestReconcileGivesBackAndCharges(t *testing.T) {
	b := newModelBuckets(t0, Limits{RPM: 10, TPM: 1000}, 0)
	b.reserve(t0, 500)
	b.reconcile(t0, 500, 200, true)
	assert.InDelta(t, 800, b.lim[kindTPM].TokensAt(t0), 1e-6, "unused tokens come back")
	assert.InDelta(t, 9, b.lim[kindRPM].TokensAt(t0), 1e-6, "the request stays counted")

	b.reserve(t0, 100)
	b.reconcile(t0, 100, 2500, true)
	assert.InDelta(t, 800-2500, b.lim[kindTPM].TokensAt(t0), 1e-6, "extra usage is charged, even past the capacity")

	c := newModelBuckets(t0, Limits{RPM: 10, TPM: 1000}, 0)
	c.reserve(t0, 300)
	c.reconcile(t0, 300, 0, false)
	assert.InDelta(t, 1000, c.lim[kindTPM].TokensAt(t0), 1e-6, "an uncounted request gives everything back")
	assert.InDelta(t, 10, c.lim[kindRPM].TokensAt(t0), 1e-6)
	giveBack(c.lim[kindTPM], t0, 500)
	assert.InDelta(t, 1000, c.lim[kindTPM].TokensAt(t0), 1e-6, "never past the capacity")
}

func TestObserveHeaders(t *testing.T) {
	b := newModelBuckets(t0, Limits{RPM: 30}, 0)
	b.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: 1000, RequestsLeftToday: 900, TokensPerMinute: 6000, TokensLeftInMinute: 2500}, false)
	l := b.limits()
	assert.Equal(t, Limits{RPM: 30, RPD: 1000, TPM: 6000}, l)
	assert.InDelta(t, 2500, b.lim[kindTPM].TokensAt(t0), 1e-6, "pulled down to the server's remaining tokens")
	assert.InDelta(t, 900, b.lim[kindRPD].TokensAt(t0), 1e-6)
	b.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: -1, RequestsLeftToday: -1, TokensPerMinute: 6000, TokensLeftInMinute: 5000}, false)
	assert.InDelta(t, 2500, b.lim[kindTPM].TokensAt(t0), 1e-6, "headers never raise the local bucket")

	cfg := newModelBuckets(t0, Limits{TPM: 3000}, 0)
	cfg.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: -1, RequestsLeftToday: -1, TokensPerMinute: 6000, TokensLeftInMinute: -1}, false)
	assert.Equal(t, 3000, cfg.limits().TPM, "a configured limit is never raised")
	cfg.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: -1, RequestsLeftToday: -1, TokensPerMinute: 2000, TokensLeftInMinute: -1}, false)
	assert.Equal(t, 2000, cfg.limits().TPM, "a lower server limit wins")
}

func TestParseLimitSignal(t *testing.T) {
	cases := []struct {
		msg  string
		want limitSignal
		ok   bool
	}{
		{"Rate limit reached for model `m` in organization `org_x` service tier `on_demand` on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 2s.",
			limitSignal{kind: kindRPM, limit: 30, used: 30, requested: 1}, true},
		{"... on tokens per minute (TPM): Limit 15000, Used 11972, Requested 4351. Please try again in 5.289s.",
			limitSignal{kind: kindTPM, limit: 15000, used: 11972, requested: 4351}, true},
		{"... on tokens per day (TPD): Limit 500000, Used 499000, Requested ~12903.",
			limitSignal{kind: kindTPD, limit: 500000, used: 499000, requested: 12903}, true},
		{"... on requests per day (RPD): Limit 1000.", limitSignal{kind: kindRPD, limit: 1000, used: -1, requested: -1}, true},
		{"Rate limit reached (injected). Please try again in 1s.", limitSignal{}, false},
	}
	for _, c := range cases {
		got, ok := parseLimitSignal(c.msg)
		assert.Equal(t, c.ok, ok, c.msg)
		assert.Equal(t, c.want, got, c.msg)
	}
	assert.Equal(t, 4351, limitSignal{kind: kindTPM, requested: 4351}.serverCost())
	assert.Equal(t, 0, limitSignal{kind: kindRPM, requested: 1}.serverCost(), "a request count is not a token cost")
}

func TestRateLimitedLearnsLimitAndPullsDown(t *testing.T) {
	b := newModelBuckets(t0, Limits{RPM: 60}, 0)
	sig, _ := parseLimitSignal("… on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 2s.")
	b.rateLimited(t0, sig, sendLevels{}, 10, 0, 0)
	assert.Equal(t, 30, b.limits().RPM)
	assert.InDelta(t, 0, b.lim[kindRPM].TokensAt(t0), 1e-6, "the server said the bucket is empty")

	sig, _ = parseLimitSignal("… on tokens per minute (TPM): Limit 15000, Used 11972, Requested 4351. Please try again in 5.289s.")
	b.rateLimited(t0, sig, sendLevels{}, 4351, 0, 0)
	assert.Equal(t, 15000, b.limits().TPM)
	assert.InDelta(t, 15000-11972, b.lim[kindTPM].TokensAt(t0), 1e-6)
}

// TestRateLimitedLearnsBurst: a refusal while the local bucket was still deep
// bounds the server's bucket; the bound becomes the burst, and the burst grows back
// after quiet minutes.
func TestRateLimitedLearnsBurst(t *testing.T) {
	b := newModelBuckets(t0, Limits{RPM: 600}, 50*time.Millisecond)
	var sent []sendLevels
	for range 16 {
		sent = append(sent, b.reserve(t0, 1))
	}
	sig := limitSignal{kind: kindRPM, limit: 600, used: 600, requested: 1}
	// The server took 10 of the 16 (they arrived in another order than they were
	// sent): the refused ones come back in any order, each giving back its
	// reservation before it is read.
	for _, i := range []int{13, 2, 15, 7, 12, 0} {
		b.reconcile(t0, 1, 0, false)
		b.rateLimited(t0, sig, sent[i], 1, 0, 0)
	}
	assert.Equal(t, 10, b.bursts().RPM, "16 spent, 6 refused: the server's bucket holds 10")
	assert.Equal(t, 10, b.lim[kindRPM].Burst())
	assert.Equal(t, 600, b.limits().RPM, "the rate is unchanged")
	assert.Equal(t, 50*time.Millisecond, b.margin, "a depth refusal does not widen the margin")

	assert.False(t, b.settled(t0.Add(59*time.Second)))
	assert.True(t, b.settled(t0.Add(time.Minute)))
	assert.Equal(t, 15, b.bursts().RPM, "grows back by half after a quiet minute")
	for i := 2; b.burst[kindRPM] != 0; i++ {
		require.Less(t, i, 20)
		b.settled(t0.Add(time.Duration(i) * time.Minute))
	}
	assert.Equal(t, 600, b.bursts().RPM, "and is the minute's limit again in the end")
}

// TestRateLimitedWidensMargin: a refusal when the local bucket was nearly empty is
// one of timing: the margin doubles, then narrows back after quiet minutes.
func TestRateLimitedWidensMargin(t *testing.T) {
	b := newModelBuckets(t0, Limits{RPM: 600}, 20*time.Millisecond)
	for range 598 {
		b.reserve(t0, 1)
	}
	at, _ := b.readyAt(t0, 1)
	assert.Equal(t, t0, at, "two requests left: one, and the margin's worth (0.2) too")
	sent := b.reserve(t0, 1)
	b.reconcile(t0, 1, 0, false)
	b.rateLimited(t0, limitSignal{kind: kindRPM, limit: 600, used: 600, requested: 1}, sent, 1, 0, 0)
	assert.Equal(t, 40*time.Millisecond, b.margin)
	assert.Equal(t, 600, b.bursts().RPM, "a timing refusal teaches nothing of the depth")
	at, _ = b.readyAt(t0, 1)
	assert.Equal(t, t0.Add(140*time.Millisecond), at, "one request (100ms) plus the margin (40ms)")

	b.settled(t0.Add(time.Minute))
	assert.Equal(t, 20*time.Millisecond, b.margin, "halved back after a quiet minute, not below the base")

	zero := newModelBuckets(t0, Limits{RPM: 600}, 0)
	for range 599 {
		zero.reserve(t0, 1)
	}
	zero.rateLimited(t0, limitSignal{kind: kindRPM, limit: 600}, zero.reserve(t0, 1), 1, 0, 0)
	assert.Equal(t, minWidenedBy, zero.margin, "a zero margin widens too")
	for range 10 {
		zero.rateLimited(t0, limitSignal{kind: kindRPM, limit: 600}, zero.reserve(t0, 1), 1, 0, 0)
	}
	assert.Equal(t, maxPacingMargin, zero.margin, "capped")
}

func TestMarginIsPaidOncePerRefillStretch(t *testing.T) {
	b := newModelBuckets(t0, Limits{RPM: 60}, 50*time.Millisecond)
	for range 60 {
		b.reserve(t0, 1)
	}
	now := t0
	var gaps []time.Duration
	for range 5 {
		at, _ := b.readyAt(now, 1)
		gaps = append(gaps, at.Sub(now))
		b.reserve(at, 1)
		now = at
	}
	assert.Equal(t, []time.Duration{1050 * time.Millisecond, time.Second, time.Second, time.Second, time.Second}, gaps,
		"the margin delays the first refill-bound request; the rate is unchanged after it")
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
	b := newModelBuckets(t0, Limits{RPM: 60, TPM: 1000}, 0)
	for range 50 {
		b.reserve(t0, 10)
	}
	rpm, tpm := b.lim[kindRPM], b.lim[kindTPM]
	b.configured = Limits{RPM: 120, TPM: 400}
	b.apply(t0)
	assert.Same(t, rpm, b.lim[kindRPM], "changed with SetLimit/SetBurst, not rebuilt")
	assert.Same(t, tpm, b.lim[kindTPM])
	assert.InDelta(t, 10, b.lim[kindRPM].TokensAt(t0), 1e-6, "what was consumed stays consumed")
	assert.InDelta(t, 400, b.lim[kindTPM].TokensAt(t0), 1e-6, "capped at the new, smaller capacity")
	assert.Equal(t, 120, b.lim[kindRPM].Burst())
	at, _ := b.readyAt(t0, 10)
	assert.Equal(t, t0, at)
	for range 10 {
		b.reserve(t0, 0)
	}
	at, _ = b.readyAt(t0, 0)
	assert.Equal(t, t0.Add(500*time.Millisecond), at, "the new rate: 2 requests a second")
}
