package groq

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

var t0 = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// userBuckets makes a model's buckets with the user's own limits (ceilings), on
// an organization of its own.
func userBuckets(now time.Time, configured Limits, margin time.Duration) *modelBuckets {
	return newModelBuckets(now, userSpec(configured), &orgPlan{}, margin)
}

// userSpec is l as the user's own limits (none from the table).
func userSpec(l Limits) limitSpec { return limitSpec{Limits: l} }

func TestModelBucketsReadyAt(t *testing.T) {
	b := userBuckets(t0, Limits{RPM: 30, TPM: 600}, 0)
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
	b := userBuckets(t0, Limits{}, 0)
	b.coolDown(t0.Add(30 * time.Second))
	b.coolDown(t0.Add(10 * time.Second))
	at, _ := b.readyAt(t0, 1)
	assert.Equal(t, t0.Add(30*time.Second), at, "a shorter cooldown never shortens a longer one")
	b.coolDown(t0.Add(45 * time.Second))
	at, _ = b.readyAt(t0, 1)
	assert.Equal(t, t0.Add(45*time.Second), at)
}

func TestReconcileGivesBackAndCharges(t *testing.T) {
	b := userBuckets(t0, Limits{RPM: 10, TPM: 1000}, 0)
	s1 := b.reserve(t0, 500)
	b.reconcile(t0, s1, 500, 200, true)
	assert.InDelta(t, 800, b.lim[kindTPM].TokensAt(t0), 1e-6, "unused tokens come back")
	assert.InDelta(t, 9, b.lim[kindRPM].TokensAt(t0), 1e-6, "the request stays counted")

	s2 := b.reserve(t0, 100)
	b.reconcile(t0, s2, 100, 2500, true)
	assert.InDelta(t, 800-2500, b.lim[kindTPM].TokensAt(t0), 1e-6, "extra usage is charged, even past the capacity")

	c := userBuckets(t0, Limits{RPM: 10, TPM: 1000}, 0)
	s3 := c.reserve(t0, 300)
	c.reconcile(t0, s3, 300, 0, false)
	assert.InDelta(t, 1000, c.lim[kindTPM].TokensAt(t0), 1e-6, "an uncounted request gives everything back")
	assert.InDelta(t, 10, c.lim[kindRPM].TokensAt(t0), 1e-6)
	giveBack(c.lim[kindTPM], t0, 500)
	assert.InDelta(t, 1000, c.lim[kindTPM].TokensAt(t0), 1e-6, "never past the capacity")
}

func TestObserveHeaders(t *testing.T) {
	b := userBuckets(t0, Limits{RPM: 30}, 0)
	b.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: 1000, RequestsLeftToday: 900, TokensPerMinute: 6000, TokensLeftInMinute: 2500}, false, time.Time{})
	l := b.limits()
	assert.Equal(t, Limits{RPM: 30, RPD: 1000, TPM: 6000}, l)
	assert.InDelta(t, 2500, b.lim[kindTPM].TokensAt(t0), 1e-6, "pulled down to the server's remaining tokens")
	assert.InDelta(t, 900, b.lim[kindRPD].TokensAt(t0), 1e-6)
	b.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: -1, RequestsLeftToday: -1, TokensPerMinute: 6000, TokensLeftInMinute: 5000}, false, time.Time{})
	assert.InDelta(t, 2500, b.lim[kindTPM].TokensAt(t0), 1e-6, "headers never raise the local bucket")

	cfg := userBuckets(t0, Limits{TPM: 3000}, 0)
	cfg.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: -1, RequestsLeftToday: -1, TokensPerMinute: 6000, TokensLeftInMinute: -1}, false, time.Time{})
	assert.Equal(t, 3000, cfg.limits().TPM, "a configured limit is never raised")
	cfg.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: -1, RequestsLeftToday: -1, TokensPerMinute: 2000, TokensLeftInMinute: -1}, false, time.Time{})
	assert.Equal(t, 2000, cfg.limits().TPM, "a lower server limit wins")
}

func TestRateLimitedLearnsLimitAndPullsDown(t *testing.T) {
	b := userBuckets(t0, Limits{RPM: 60}, 0)
	sig, _ := parseLimitSignal("… on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 2s.")
	b.rateLimited(t0, refusal{sig: sig, tokens: 10})
	assert.Equal(t, 30, b.limits().RPM)
	assert.InDelta(t, 0, b.lim[kindRPM].TokensAt(t0), 1e-6, "the server said the bucket is empty")

	sig, _ = parseLimitSignal("… on tokens per minute (TPM): Limit 15000, Used 11972, Requested 4351. Please try again in 5.289s.")
	b.rateLimited(t0, refusal{sig: sig, tokens: 4351})
	assert.Equal(t, 15000, b.limits().TPM)
	assert.InDelta(t, 15000-11972, b.lim[kindTPM].TokensAt(t0), 1e-6)
}

// TestRateLimitedLearnsBurst: a refusal while the local bucket was still deep
// bounds the server's bucket; the bound becomes the burst, and the burst grows back
// after quiet minutes.
func TestRateLimitedLearnsBurst(t *testing.T) {
	b := userBuckets(t0, Limits{RPM: 600}, 50*time.Millisecond)
	var sent []sendLevels
	for range 16 {
		sent = append(sent, b.reserve(t0, 1))
	}
	sig := limitSignal{kind: kindRPM, limit: 600, used: 600, requested: 1}
	// The server took 10 of the 16 (they arrived in another order than they were
	// sent): the refused ones come back in any order, each giving back its
	// reservation before it is read.
	for _, i := range []int{13, 2, 15, 7, 12, 0} {
		b.reconcile(t0, sent[i], 1, 0, false)
		b.rateLimited(t0, refusal{sig: sig, sent: sent[i], tokens: 1})
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
	b := userBuckets(t0, Limits{RPM: 600}, 20*time.Millisecond)
	for range 598 {
		b.reserve(t0, 1)
	}
	at, _ := b.readyAt(t0, 1)
	assert.Equal(t, t0, at, "two requests left: one, and the margin's worth (0.2) too")
	sent := b.reserve(t0, 1)
	b.reconcile(t0, sent, 1, 0, false)
	b.rateLimited(t0, refusal{sig: limitSignal{kind: kindRPM, limit: 600, used: 600, requested: 1}, sent: sent, tokens: 1})
	assert.Equal(t, 40*time.Millisecond, b.margin)
	assert.Equal(t, 600, b.bursts().RPM, "a timing refusal teaches nothing of the depth")
	at, _ = b.readyAt(t0, 1)
	assert.Equal(t, t0.Add(140*time.Millisecond), at, "one request (100ms) plus the margin (40ms)")

	b.settled(t0.Add(time.Minute))
	assert.Equal(t, 20*time.Millisecond, b.margin, "halved back after a quiet minute, not below the base")

	zero := userBuckets(t0, Limits{RPM: 600}, 0)
	for range 599 {
		zero.reserve(t0, 1)
	}
	zero.rateLimited(t0, refusal{sig: limitSignal{kind: kindRPM, limit: 600}, sent: zero.reserve(t0, 1), tokens: 1})
	assert.Equal(t, minWidenedBy, zero.margin, "a zero margin widens too")
	for range 10 {
		zero.rateLimited(t0, refusal{sig: limitSignal{kind: kindRPM, limit: 600}, sent: zero.reserve(t0, 1), tokens: 1})
	}
	assert.Equal(t, maxPacingMargin, zero.margin, "capped")
}

func TestMarginIsPaidOncePerRefillStretch(t *testing.T) {
	b := userBuckets(t0, Limits{RPM: 60}, 50*time.Millisecond)
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

func TestReconfigureKeepsLimitersAndTheirState(t *testing.T) {
	b := userBuckets(t0, Limits{RPM: 60, TPM: 1000}, 0)
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

// TestRateLimitedReadsOthersSpending: a 429 whose "Used" this process did not
// spend (it had spent nothing) is another program's: no depth, no margin; the
// bucket is pulled down to what is left and held where the retry fits when the
// server said it would.
func TestRateLimitedReadsOthersSpending(t *testing.T) {
	b := userBuckets(t0, Limits{TPM: 6000}, 50*time.Millisecond)
	sent := b.reserve(t0, 1033)
	b.reconcile(t0, sent, 1033, 0, false)
	before := b.level(t0, kindTPM)
	seen, _ := b.observe(t0, RateLimitInfo{Present: true, RequestsPerDay: -1, RequestsLeftToday: -1, TokensPerMinute: 6000, TokensLeftInMinute: 0}, true, time.Time{})
	assert.Equal(t, 6000, seen, "the header showed the whole minute spent by others")
	l := b.rateLimited(t0, refusal{sig: limitSignal{kind: kindTPM, limit: 6000, used: 5990, requested: 120}, sent: sent, tokens: 1033, seen: seen,
		wait: time.Second, before: before})
	assert.True(t, l.foreign)
	assert.Zero(t, l.burst)
	assert.Equal(t, 6000, b.bursts().TPM, "no depth learnt")
	assert.Equal(t, 50*time.Millisecond, b.margin, "no margin widened")
	at, ok := b.readyAt(t0, 120)
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Second+50*time.Millisecond), at, "the stated cost fits at the server's wait (plus the margin)")
}

// TestRateLimitedShallowBoundUsesTheStatedCost: the bound a refusal teaches is
// read with the server's "Requested", and a bound that could not admit the
// retried request, or is below a request the server accepted, is not learnt.
func TestRateLimitedShallowBoundUsesTheStatedCost(t *testing.T) {
	sig := limitSignal{kind: kindTPM, limit: 60000, used: -1, requested: 120}

	b := userBuckets(t0, Limits{TPM: 60000}, 0)
	for range 10 {
		b.reserve(t0, 500)
	}
	sent := b.reserve(t0, 1033)
	b.reconcile(t0, sent, 1033, 0, false)
	l := b.rateLimited(t0, refusal{sig: sig, sent: sent, tokens: 1033, wait: time.Second})
	assert.Equal(t, 5000+120-1, l.burst, "5,000 spent and 120 asked: the bucket holds less than 5,120")

	lone := userBuckets(t0, Limits{TPM: 60000}, 0)
	sent = lone.reserve(t0, 1033)
	lone.reconcile(t0, sent, 1033, 0, false)
	l = lone.rateLimited(t0, refusal{sig: sig, sent: sent, tokens: 1033, wait: time.Second})
	assert.Zero(t, l.burst, "nothing spent: a bound of 119 could not admit the 120 retried")
	assert.Equal(t, 60000, lone.bursts().TPM)

	big := userBuckets(t0, Limits{TPM: 60000}, 0)
	big.reconcile(t0, big.reserve(t0, 9000), 9000, 9000, true) // the server took 9,000 at once
	t1 := t0.Add(time.Minute)                                  // and the bucket has refilled since
	for range 10 {
		big.reserve(t1, 500)
	}
	sent = big.reserve(t1, 1033)
	big.reconcile(t1, sent, 1033, 0, false)
	l = big.rateLimited(t1, refusal{sig: sig, sent: sent, tokens: 1033, wait: time.Second})
	assert.Equal(t, 9000, l.burst, "never below a request the server accepted")
}

// TestRateLimitedLeavesOutWhatWasNotSent: a refusal is read without the requests
// admitted and not yet handed to the transport, which the server cannot have
// counted; one admitted long enough before the refused request that the bucket had
// refilled it by then was never in the level read, and nothing is left out for it.
func TestRateLimitedLeavesOutWhatWasNotSent(t *testing.T) {
	sig := limitSignal{kind: kindRPM, limit: 600, used: 600, requested: 1}
	admit := func(b *modelBuckets, now time.Time, handed bool) sendLevels {
		s := b.reserve(now, 1)
		b.pending(s, 1)
		if handed {
			b.handedOver(s.seq)
		}
		return s
	}
	b := userBuckets(t0, Limits{RPM: 600}, 0)
	var last sendLevels
	for i := range 12 {
		last = admit(b, t0, i != 8)
	}
	b.reconcile(t0, last, 1, 0, false)
	l := b.rateLimited(t0, refusal{sig: sig, sent: last, tokens: 1})
	assert.Equal(t, 10, l.burst, "11 others admitted, one not handed over yet: the server took at most 10")
	assert.Equal(t, 10, b.lim[kindRPM].Burst())

	late := userBuckets(t0, Limits{RPM: 600}, 0)
	admit(late, t0, false) // still waiting a second later; the bucket refilled it meanwhile
	t1 := t0.Add(time.Second)
	for range 11 {
		last = admit(late, t1, true)
	}
	late.reconcile(t1, last, 1, 0, false)
	l = late.rateLimited(t1, refusal{sig: sig, sent: last, tokens: 1})
	assert.Equal(t, 10, l.burst, "the 10 sent before it; the waiting one was never in the level read")

	reserveOnly := userBuckets(t0, Limits{RPM: 600}, 0)
	for range 12 {
		last = reserveOnly.reserve(t0, 1)
	}
	reserveOnly.reconcile(t0, last, 1, 0, false)
	l = reserveOnly.rateLimited(t0, refusal{sig: sig, sent: last, tokens: 1})
	assert.Equal(t, 11, l.burst, "a reservation never noted as pending counts as sent")
}

// TestLearntDepthBelowARequestIsDropped: a request larger than a learnt depth
// (but within the limit) shows the depth was wrong: it is forgotten.
func TestLearntDepthBelowARequestIsDropped(t *testing.T) {
	b := userBuckets(t0, Limits{TPM: 60000}, 0)
	require.True(t, b.lowerBurst(t0, kindTPM, 1033))
	assert.Equal(t, 1033, b.bursts().TPM)
	at, ok := b.readyAt(t0, 3000)
	require.True(t, ok)
	assert.Equal(t, 60000, b.bursts().TPM, "the contradiction is dropped")
	assert.Equal(t, t0.Add(1967*time.Millisecond), at, "the request waits for the bucket to refill past what the shallow depth held")
}

// TestHeadersShowOthersSpending: what the day's remaining requests fall by beyond
// this process's requests is another program's, and spends the minute's bucket
// too; the first reading only starts the evidence; a store's other members are
// not others.
func TestHeadersShowOthersSpending(t *testing.T) {
	info := func(left int) RateLimitInfo {
		return RateLimitInfo{Present: true, RequestsPerDay: 14400, RequestsLeftToday: left, TokensPerMinute: -1, TokensLeftInMinute: -1}
	}
	b := userBuckets(t0, Limits{RPM: 600}, 0)
	b.observe(t0, info(14000), false, time.Time{}) // 400 spent earlier today: history
	assert.Zero(t, b.foreign.requests.perMinute(t0))
	assert.InDelta(t, 600, b.lim[kindRPM].TokensAt(t0), 1e-6, "the day's history is not this minute's")
	now := t0.Add(time.Second)
	b.reconcile(now, b.reserve(now, 1), 1, 1, true)
	_, changed := b.observe(now, info(13996), false, time.Time{}) // one of ours, three of theirs
	assert.Equal(t, []limitKind{kindRPM}, changed, "another program is seen")
	assert.InDelta(t, 600-1-3, b.lim[kindRPM].TokensAt(now), 1e-6, "their requests spent the minute's bucket too")
	assert.Positive(t, b.foreign.requests.perMinute(now))

	m := userBuckets(t0, Limits{RPM: 600}, 0)
	m.members.store = true
	m.observe(t0, info(14000), false, time.Time{})
	m.membersCounted(t0, 0, 0) // the store's count before
	m.reconcile(now, m.reserve(now, 1), 1, 1, true)
	m.observe(now, info(13996), false, time.Time{}) // 1 of ours, 2 of the other members', 1 of another program's
	assert.Zero(t, m.foreign.requests.perMinute(now), "held until the store's next count")
	m.reserve(now, 1)
	m.membersCounted(now, 4, 0) // the members took 4: this process 2 (one just now), the others 2
	assert.InDelta(t, 60, m.foreign.requests.perMinute(now), 1e-6, "only the request no member took is foreign: one in a second")

	blind := userBuckets(t0, Limits{RPM: 600}, 0)
	blind.members.store = true // a store that does not count its members
	blind.observe(t0, info(14000), false, time.Time{})
	blind.observe(now, info(13996), false, time.Time{})
	assert.Zero(t, blind.foreign.requests.perMinute(now), "members cannot be told from others: nothing is foreign")
}

// TestOthersAfterALongGapChargeOnlyTheirLastMinute: after an hour without a
// reading, the day's count shows everything others spent in that hour; only the
// share that can fall in the last minute is taken from the minute's bucket.
func TestOthersAfterALongGapChargeOnlyTheirLastMinute(t *testing.T) {
	info := func(left int) RateLimitInfo {
		return RateLimitInfo{Present: true, RequestsPerDay: 14400, RequestsLeftToday: left, TokensPerMinute: -1, TokensLeftInMinute: -1}
	}
	b := userBuckets(t0, Limits{RPM: 600}, 0)
	b.observe(t0, info(13000), false, time.Time{})
	later := t0.Add(time.Hour)
	// 600 requests refilled over the hour (14,400 a day); others spent 1,200.
	b.observe(later, info(13000+600-1200), false, time.Time{})
	assert.InDelta(t, 600-1200*60/3600, b.lim[kindRPM].TokensAt(later), 1, "a minute's share of the hour's 1,200")
	assert.InDelta(t, 1200, b.foreign.requests.perMinute(later)*60, 1200*0.3, "and the rate is the hour's: 20 a minute")
}

// TestMembersCountAfterALongGap: with a store, what the headers showed over an
// hour is told apart at the store's next count, and only its last minute's share
// is taken from the minute's bucket.
func TestMembersCountAfterALongGap(t *testing.T) {
	info := func(left int) RateLimitInfo {
		return RateLimitInfo{Present: true, RequestsPerDay: 14400, RequestsLeftToday: left, TokensPerMinute: -1, TokensLeftInMinute: -1}
	}
	b := userBuckets(t0, Limits{RPM: 600}, 0)
	b.members.store = true
	b.membersCounted(t0, 0, 0)
	b.observe(t0, info(13000), false, time.Time{})
	later := t0.Add(time.Hour)
	b.observe(later, info(13000+600-1200), false, time.Time{}) // 1,200 spent: 200 by members, 1,000 by another program
	b.membersCounted(later, 200, 0)
	assert.InDelta(t, 600-1000*60/3600, b.lim[kindRPM].TokensAt(later), 1, "a minute's share of the other program's 1,000")
}

// TestServerWaitNeverFreesWhatIsInFlight: the server's wait may undo the pull-down
// its own headers made, never the reservations of this process's requests in
// flight.
func TestServerWaitNeverFreesWhatIsInFlight(t *testing.T) {
	b := userBuckets(t0, Limits{TPM: 6000}, 0)
	for range 6 {
		b.reserve(t0, 1100) // in flight: 6,600, past the 6,000
	}
	sent := b.reserve(t0, 1033)
	b.reconcile(t0, sent, 1033, 0, false)
	before := b.level(t0, kindTPM)
	b.rateLimited(t0, refusal{sig: limitSignal{kind: kindTPM, limit: 6000, used: 5990, requested: 120}, sent: sent, tokens: 1033,
		wait: time.Second, before: before})
	assert.LessOrEqual(t, b.level(t0, kindTPM), before+tokenEpsilon, "the in-flight reservations stay reserved")
}

// TestMembersSpendingIsNotAShallowBucket: with a QuotaStore, a refusal while this
// process had spent half of a minute-deep bucket and the store's other member the
// other half teaches no depth (one would then be shared through the store and hold
// every process back for half a minute).
func TestMembersSpendingIsNotAShallowBucket(t *testing.T) {
	b := userBuckets(t0, Limits{RPM: 240}, 0)
	b.members.store = true
	b.membersCounted(t0, 0, 0)
	for i := range 120 {
		b.reserve(t0, 1)
		b.membersCounted(t0, int64(2*(i+1)), 0) // the other member takes as many
	}
	sent := b.reserve(t0, 1)
	b.membersCounted(t0, 241, 0)
	b.reconcile(t0, sent, 1, 0, false)
	l := b.rateLimited(t0, refusal{sig: limitSignal{kind: kindRPM, limit: 240, used: 240, requested: 1}, sent: sent, tokens: 1, wait: time.Second})
	assert.Zero(t, l.burst, "the members' spending is in the server's bucket: no depth learnt")
	assert.Equal(t, 240, b.bursts().RPM)
	assert.True(t, l.foreign, "read as spending elsewhere")
}

// TestChargeFraction: a fraction of a token is taken at once and the bucket
// refills from there at its rate, up to its depth; whole tokens are taken whole.
func TestChargeFraction(t *testing.T) {
	lim := rate.NewLimiter(2, 10)
	lim.AllowN(t0, 0)
	chargeFraction(lim, t0, 0.3)
	assert.InDelta(t, 9.7, lim.TokensAt(t0), 1e-6)
	assert.InDelta(t, 9.9, lim.TokensAt(t0.Add(100*time.Millisecond)), 1e-6, "it refills at 2 a second from there")
	assert.InDelta(t, 10, lim.TokensAt(t0.Add(time.Second)), 1e-6, "up to its depth")
	chargeFraction(lim, t0.Add(time.Second), 2.25)
	assert.InDelta(t, 7.75, lim.TokensAt(t0.Add(time.Second)), 1e-6)
	chargeFraction(lim, t0.Add(time.Second), 3)
	assert.InDelta(t, 4.75, lim.TokensAt(t0.Add(time.Second)), 1e-6)
}

// TestWroteTakesBackTheRefillOfALateSend: a request admitted from a full bucket
// and written 300 ms later started the server's refill 300 ms later than the
// local one: the next request that waits for refill leaves 300 ms later. A
// request admitted from a bucket well below full changes nothing.
func TestWroteTakesBackTheRefillOfALateSend(t *testing.T) {
	const margin = 50 * time.Millisecond
	ready121 := func(late time.Duration) time.Time {
		b := userBuckets(t0, Limits{RPM: 120}, margin)
		first := b.reserve(t0, 0)
		assert.True(t, first.nearFull)
		b.wrote(t0.Add(late), first)
		for range 119 {
			b.reserve(t0.Add(late), 0)
		}
		at, ok := b.readyAt(t0.Add(late), 0)
		require.True(t, ok)
		return at
	}
	assert.WithinDuration(t, t0.Add(500*time.Millisecond+margin), ready121(0), time.Millisecond, "sent at once: one token's refill and the margin")
	assert.WithinDuration(t, t0.Add(300*time.Millisecond+500*time.Millisecond+margin), ready121(300*time.Millisecond), time.Millisecond, "sent 300 ms late: as much later")

	b := userBuckets(t0, Limits{RPM: 120}, margin)
	for range 100 {
		b.reserve(t0, 0)
	}
	low := b.reserve(t0, 0)
	assert.False(t, low.nearFull, "100 tokens below full: more than 10 s of refill")
	before := b.lim[kindRPM].TokensAt(t0.Add(time.Second))
	b.wrote(t0.Add(time.Second), low)
	assert.InDelta(t, before, b.lim[kindRPM].TokensAt(t0.Add(time.Second)), 1e-9, "below full, the server's bucket refilled during the wait too")
}
