package groq

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// This file holds one quota's buckets for one model and what the client learns
// about the server's buckets from its refusals: their depth (burst) and how far
// behind the client's its refill runs (the pacing margin).

// tokenEpsilon absorbs float rounding when a limiter's tokens are compared with a
// whole request.
const tokenEpsilon = 1e-6

// limitKind names one of a model's four limits.
type limitKind int

const (
	kindRPM limitKind = iota
	kindRPD
	kindTPM
	kindTPD
	numKinds
)

var kindNames = [numKinds]string{"RPM", "RPD", "TPM", "TPD"}

func (k limitKind) String() string { return kindNames[k] }

// period is how long the limit's bucket takes to refill from empty.
func (k limitKind) period() time.Duration {
	if k == kindRPM || k == kindTPM {
		return time.Minute
	}
	return 24 * time.Hour
}

// cost is what a request of tokens takes from this limit's bucket.
func (k limitKind) cost(tokens int) int {
	if k == kindTPM || k == kindTPD {
		return tokens
	}
	return 1
}

func (l Limits) of(k limitKind) int {
	return [numKinds]int{l.RPM, l.RPD, l.TPM, l.TPD}[k]
}

func (l *Limits) set(k limitKind, n int) {
	*[numKinds]*int{&l.RPM, &l.RPD, &l.TPM, &l.TPD}[k] = n
}

// Learning constants. A learnt burst grows back by half (at least one) after each
// burstRecovery without a refusal that points at the bucket's depth; a widened
// margin halves back towards the configured one after each marginQuiet without a
// refusal that points at timing.
const (
	maxPacingMargin = time.Second
	minWidenedBy    = 10 * time.Millisecond
	marginQuiet     = time.Minute
	burstRecovery   = time.Minute
)

// modelBuckets holds one quota's limiters for one model, shaped like Groq's: each
// refills continuously at its period's rate and holds one period's worth (a minute
// for RPM and TPM, a day for RPD and TPD) unless a refusal showed the server's
// bucket to be shallower. A nil limiter is unlimited. It is not safe for
// concurrent use: the scheduler's mutex guards it.
type modelBuckets struct {
	configured Limits // what the user (or the built-in table) set; never exceeded
	learned    Limits // what Groq's headers and 429 messages said

	lim        [numKinds]*rate.Limiter
	taken      [numKinds]float64 // all ever reserved (and charged) from each bucket
	refunded   [numKinds]float64 // all ever given back for requests the server did not count
	burst      [numKinds]int     // learnt capacity below the period's limit; 0: none
	burstSince [numKinds]time.Time

	baseMargin  time.Duration // WithPacingMargin
	margin      time.Duration // in force: the base, or wider after timing refusals
	marginSince time.Time

	coolUntil time.Time
	last      RateLimitInfo
}

func newModelBuckets(now time.Time, configured Limits, margin time.Duration) *modelBuckets {
	b := &modelBuckets{configured: configured, baseMargin: margin, margin: margin}
	b.apply(now)
	return b
}

// effective is the limit in force: the smaller of the configured and the learnt,
// where 0 means unknown.
func effective(configured, learned int) int {
	switch {
	case configured == 0:
		return learned
	case learned == 0:
		return configured
	default:
		return min(configured, learned)
	}
}

func (b *modelBuckets) limits() Limits {
	return Limits{
		RPM:           effective(b.configured.RPM, b.learned.RPM),
		RPD:           effective(b.configured.RPD, b.learned.RPD),
		TPM:           effective(b.configured.TPM, b.learned.TPM),
		TPD:           effective(b.configured.TPD, b.learned.TPD),
		ContextWindow: b.configured.ContextWindow,
	}
}

// capacity is the depth in force of limit k's bucket: the period's limit, or the
// learnt burst when that is smaller.
func (b *modelBuckets) capacity(l Limits, k limitKind) int {
	n := l.of(k)
	if b.burst[k] > 0 && b.burst[k] < n {
		return b.burst[k]
	}
	return n
}

// bursts are the capacities in force, as Limits (ContextWindow unset).
func (b *modelBuckets) bursts() Limits {
	l, out := b.limits(), Limits{}
	for k := range numKinds {
		out.set(k, b.capacity(l, k))
	}
	return out
}

// apply brings the limiters in line with the limits and bursts in force. A limiter
// whose rate or depth changes is adjusted in place (SetLimitAt, SetBurstAt), keeping
// what it had consumed.
func (b *modelBuckets) apply(now time.Time) {
	l := b.limits()
	for k := range numKinds {
		n := l.of(k)
		if n <= 0 {
			b.lim[k] = nil
			continue
		}
		r, depth := rate.Limit(float64(n)/k.period().Seconds()), b.capacity(l, k)
		switch lim := b.lim[k]; {
		case lim == nil:
			lim = rate.NewLimiter(r, depth)
			lim.SetBurstAt(now, depth) // full, as of now
			b.lim[k] = lim
		default:
			if lim.Limit() != r {
				lim.SetLimitAt(now, r)
			}
			if lim.Burst() != depth {
				lim.SetBurstAt(now, depth)
			}
		}
	}
}

// fits reports whether a request of tokens can ever be admitted: it is no larger
// than any limit (a learnt burst does not count: a request larger than the burst
// waits for a full bucket and goes into debt).
func (b *modelBuckets) fits(tokens int) bool {
	l := b.limits()
	for k := range numKinds {
		if n := l.of(k); n > 0 && k.cost(tokens) > n {
			return false
		}
	}
	return true
}

// readyAt is the earliest time, not before now, at which no cooldown runs and every
// limiter holds what a request of tokens costs, plus, in the per-minute buckets,
// the pacing margin's worth of refill (capped at the bucket's depth). The margin is what makes a request that
// waited for refill leave a little after the local bucket allows it, so that a
// server whose refill runs a few milliseconds behind has refilled too. ok is false
// when the request can never fit.
func (b *modelBuckets) readyAt(now time.Time, tokens int) (at time.Time, ok bool) {
	if !b.fits(tokens) {
		return time.Time{}, false
	}
	at = now
	if b.coolUntil.After(at) {
		at = b.coolUntil
	}
	for k, lim := range b.lim {
		if lim == nil {
			continue
		}
		r, need := float64(lim.Limit()), float64(limitKind(k).cost(tokens))
		if limitKind(k).period() == time.Minute {
			need = min(need+b.margin.Seconds()*r, float64(lim.Burst()))
		}
		avail := lim.TokensAt(now)
		if avail+tokenEpsilon >= need {
			continue
		}
		secs := (need - avail) / r
		if t := now.Add(time.Duration(math.Ceil(secs * float64(time.Second)))); t.After(at) {
			at = t
		}
	}
	return at, true
}

// sendLevels is what each bucket held when a request was admitted, before it took
// its cost, and the running totals then: the evidence a later refusal is read
// against. A capacity of 0 means the limit was unknown then.
type sendLevels struct {
	level    [numKinds]float64
	capacity [numKinds]int
	taken    [numKinds]float64
	refunded [numKinds]float64
}

// reserve takes a request's cost from every limiter and returns the levels before.
func (b *modelBuckets) reserve(now time.Time, tokens int) sendLevels {
	var s sendLevels
	for k, lim := range b.lim {
		if lim == nil {
			continue
		}
		cost := limitKind(k).cost(tokens)
		s.level[k], s.capacity[k], s.taken[k], s.refunded[k] = lim.TokensAt(now), lim.Burst(), b.taken[k], b.refunded[k]
		charge(lim, now, cost)
		b.taken[k] += float64(cost)
	}
	return s
}

// reconcile settles a reservation. A request the server did not count gives back
// everything; a counted one gives back (or is charged) the difference between the
// tokens reserved and those it used.
func (b *modelBuckets) reconcile(now time.Time, reserved, used int, counted bool) {
	if !counted {
		for k, lim := range b.lim {
			if lim != nil {
				giveBack(lim, now, limitKind(k).cost(reserved))
				b.refunded[k] += float64(limitKind(k).cost(reserved))
			}
		}
		return
	}
	diff := used - reserved
	for _, lim := range []*rate.Limiter{b.lim[kindTPM], b.lim[kindTPD]} {
		switch {
		case lim == nil:
		case diff < 0:
			giveBack(lim, now, -diff)
		case diff > 0:
			charge(lim, now, diff)
		}
	}
	if diff > 0 {
		b.taken[kindTPM] += float64(diff)
		b.taken[kindTPD] += float64(diff)
	}
}

// giveBack returns n tokens to lim, never past its capacity.
//
// x/time/rate's own way to give tokens back, Reservation.CancelAt, restores nothing
// once the reservation's time to act has passed, and ours act at once (a request is
// admitted only when its tokens are there): by the time the server's answer says
// what to give back, CancelAt would be a no-op. A reservation of -n tokens is the
// one operation that adds tokens to a Limiter; it is capped here at the bucket's
// room, so the bucket never holds more than its burst.
func giveBack(lim *rate.Limiter, now time.Time, n int) {
	room := float64(lim.Burst()) - lim.TokensAt(now)
	n = min(n, int(math.Floor(room)))
	if n > 0 {
		lim.ReserveN(now, -n)
	}
}

// charge takes n tokens from lim, going into debt if it must; a charge larger than
// the capacity is taken in pieces (ReserveN refuses more than the burst at once).
func charge(lim *rate.Limiter, now time.Time, n int) {
	for n > 0 {
		c := min(n, lim.Burst())
		lim.ReserveN(now, c)
		n -= c
	}
}

// pullDown lowers lim to what a server's "remaining" figure allows. The server
// rounds its remaining count down, so a local excess below one whole token is
// rounding, not usage, and is left alone.
func pullDown(lim *rate.Limiter, now time.Time, left int) {
	if lim == nil || left < 0 {
		return
	}
	if excess := math.Floor(lim.TokensAt(now) - float64(left) + tokenEpsilon); excess >= 1 {
		charge(lim, now, int(excess))
	}
}

// observe corrects the buckets from a response's x-ratelimit-* headers: unknown
// limits are learnt, a lower server limit wins over a configured one, and the local
// buckets are pulled down to what the server says is left.
func (b *modelBuckets) observe(now time.Time, info RateLimitInfo) {
	if !info.Present {
		return
	}
	b.last = info
	changed := false
	if info.TokensPerMinute > 0 && info.TokensPerMinute != b.learned.TPM {
		b.learned.TPM, changed = info.TokensPerMinute, true
	}
	if info.RequestsPerDay > 0 && info.RequestsPerDay != b.learned.RPD {
		b.learned.RPD, changed = info.RequestsPerDay, true
	}
	if changed {
		b.apply(now)
	}
	pullDown(b.lim[kindTPM], now, info.TokensLeftInMinute)
	pullDown(b.lim[kindRPD], now, info.RequestsLeftToday)
}

// lesson is what a refusal taught: a learnt burst or a wider margin (zero when
// nothing changed). The scheduler logs it.
type lesson struct {
	kind   limitKind
	burst  int           // the new learnt capacity, or 0
	margin time.Duration // the new margin, or 0
}

// rateLimited learns from a 429 whose message named the limit (sig), for a request
// of tokens that was admitted with the buckets at sent. The request's reservation
// has been given back already.
//
// The limit's size is learnt from the message. Then the refusal is read against
// what this process had spent when the server refused: what it had taken from the
// bucket before the request left (capacity minus the level then), plus what it took
// while the request was in flight, minus what refusals gave back since. Requests in
// flight together can reach the server in any order, which is why the ones sent
// later count too. The server refused a request of cost c with at most that much
// spent, so (its refill in step) its bucket holds less than spent + c. When that
// bound is clearly below the local capacity, the server's bucket is shallower than
// the client's: the bound becomes the learnt burst (the smallest bound wins, so a
// wave of refusals converges on the number of requests the server took). When it
// is not (the local bucket was nearly empty anyway), the refusal is one of timing,
// the server's refill running behind the client's: the pacing margin doubles (at
// most maxPacingMargin). Finally the bucket is pulled down to what the server said
// was left.
func (b *modelBuckets) rateLimited(now time.Time, sig limitSignal, sent sendLevels, tokens int) lesson {
	k := sig.kind
	if sig.limit > 0 && b.learned.of(k) != sig.limit {
		b.learned.set(k, sig.limit)
		b.apply(now)
	}
	var learnt lesson
	if capacity := sent.capacity[k]; capacity > 0 {
		cost := float64(k.cost(tokens))
		spent := float64(capacity) - sent.level[k] + (b.taken[k] - sent.taken[k]) - (b.refunded[k] - sent.refunded[k])
		bound := int(math.Ceil(spent + cost - 1 - tokenEpsilon))
		tolerance := max(2*int(cost), capacity/10)
		if bound <= capacity-tolerance {
			bound = max(bound, 1)
			if b.lowerBurst(now, k, bound) {
				learnt = lesson{kind: k, burst: bound}
			}
			b.burstSince[k] = now
		} else {
			m := min(max(2*b.margin, b.margin+minWidenedBy), maxPacingMargin)
			if m != b.margin {
				b.margin, learnt = m, lesson{kind: k, margin: m}
			}
			b.marginSince = now
		}
	}
	left := 0
	if (k == kindTPM || k == kindTPD) && sig.used >= 0 && sig.limit > sig.used {
		left = sig.limit - sig.used
	}
	pullDown(b.lim[k], now, left)
	return learnt
}

// lowerBurst makes n the depth of limit k's bucket when it is shallower than the
// depth in force, and reports whether it was. What had been spent stays spent: a
// bucket of 600 with 16 taken becomes a bucket of 10 with 16 taken, 6 in debt
// (x/time/rate's SetBurst alone would leave it holding 10).
func (b *modelBuckets) lowerBurst(now time.Time, k limitKind, n int) bool {
	lim := b.lim[k]
	if lim == nil || n >= lim.Burst() {
		return false
	}
	spent := float64(lim.Burst()) - lim.TokensAt(now)
	b.burst[k], b.burstSince[k] = n, now
	b.apply(now)
	if excess := math.Floor(lim.TokensAt(now) - (float64(n) - spent) + tokenEpsilon); excess >= 1 {
		charge(lim, now, int(excess))
	}
	return true
}

// settled lets what was learnt recover after a quiet spell: a widened margin halves
// back towards the base after marginQuiet without a timing refusal, and a learnt
// burst grows by half after burstRecovery without a depth refusal, until it is the
// period's limit again (a learnt burst can be wrong: another process may have spent
// the quota). It reports whether anything changed.
func (b *modelBuckets) settled(now time.Time) bool {
	changed := false
	if b.margin > b.baseMargin && now.Sub(b.marginSince) >= marginQuiet {
		b.margin, b.marginSince, changed = max(b.baseMargin, b.margin/2), now, true
	}
	l := b.limits()
	for k := range numKinds {
		if b.burst[k] == 0 || now.Sub(b.burstSince[k]) < burstRecovery {
			continue
		}
		b.burst[k] += max(1, b.burst[k]/2)
		if b.burst[k] >= l.of(k) {
			b.burst[k] = 0
		}
		b.burstSince[k], changed = now, true
	}
	if changed {
		b.apply(now)
	}
	return changed
}
