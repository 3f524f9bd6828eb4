package groq

import (
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// This file is what the client learns from the server, in one place. Its
// inputs are the evidence: the client's own sends (reserve, wrote), each answer
// with its x-ratelimit-* headers and usage (observe), and each 429 with its
// message (rateLimited). Its output is the picture the client paces and plans
// by: the limits in force and where each came from, the depth of each bucket,
// the pacing margin; what other programs spend (after the buckets' part); and
// what a request really costs (costModel, at the end). doc.go ("What each signal
// proves") says how much each kind of evidence is trusted.

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

// wrote corrects the per-minute buckets for a request admitted at sent and written
// to the server only now. The server's bucket starts refilling when the request
// arrives, the local one when it was admitted: a bucket that was full, or nearly,
// at admission would count the refill of the wait that the full server bucket
// could not hold. That refill (level + rate × wait − depth, when positive) is
// taken back, so that the next request that waits for refill leaves when the
// server's bucket has refilled too. Only the first requests after a quiet spell
// can need it (a cold connection's dial and TLS handshake, a QuotaStore's round
// trip); the pacing margin covers the network's own delay.
func (b *modelBuckets) wrote(now time.Time, sent sendLevels) {
	wait := now.Sub(sent.at).Seconds()
	for _, k := range []limitKind{kindRPM, kindTPM} {
		lim := b.lim[k]
		if lim == nil || sent.capacity[k] == 0 || lim.Burst() != sent.capacity[k] {
			continue // a limit learnt or changed since: the levels do not compare
		}
		if over := sent.level[k] + float64(lim.Limit())*wait - float64(sent.capacity[k]); over > tokenEpsilon {
			chargeFraction(lim, now, over)
			b.own[k].add(now, lim, over)
		}
	}
}

// pullDown lowers lim to what a server's "remaining" figure allows and returns
// by how much. The server rounds its remaining count down, so a local excess
// below one whole token is rounding, not usage, and is left alone.
func pullDown(lim *rate.Limiter, now time.Time, left int) int {
	if lim == nil || left < 0 {
		return 0
	}
	excess := math.Floor(lim.TokensAt(now) - float64(left) + tokenEpsilon)
	if excess < 1 {
		return 0
	}
	charge(lim, now, int(excess))
	return int(excess)
}

// observe corrects the buckets from a response's x-ratelimit-* headers, for a
// request admitted at sentAt (zero: just now): unknown limits are learnt, a lower
// server limit wins over a configured one, a higher one over the built-in table's
// guess (and shows the organization's plan to be above the table), and the local
// buckets are pulled down to what the server says is left. What a header showed
// spent beyond the buckets, and beyond what simpler explanations allow (see
// reading), is another program's (memberSpend.foreign): those requests are taken from the
// RPM bucket too, those tokens from the TPD bucket. It returns the tokens the TPM
// header showed spent by others, and the limits (RPM for requests, TPM for tokens)
// whose other program started or stopped being seen. A refusal's headers (refused)
// show a bucket someone emptied, not the size of anyone's requests (but a request
// is one request).
func (b *modelBuckets) observe(now time.Time, info RateLimitInfo, refused bool, sentAt time.Time) (seen int, changed []limitKind) {
	if !info.Present {
		return 0, nil
	}
	b.last = info
	raised := b.learnHeaderLimits(now, info)
	if lim := b.lim[kindTPM]; lim != nil && info.TokensLeftInMinute >= 0 {
		left := leftNow(lim, info.TokensLeftInMinute, info.ObservedAt, now)
		if raised[kindTPM] {
			b.raiseTo(now, kindTPM, left)
		}
		n, _ := b.others(now, &b.foreign.tokens, unitTokens, b.reading(now, kindTPM, left, sentAt), time.Minute, refused)
		if n > 0 && b.lim[kindTPD] != nil { // the minute's spending is the day's too
			charge(b.lim[kindTPD], now, n)
		}
		seen = n
	}
	if lim := b.lim[kindRPD]; lim != nil && info.RequestsLeftToday >= 0 {
		left := leftNow(lim, info.RequestsLeftToday, info.ObservedAt, now)
		if raised[kindRPD] {
			b.raiseTo(now, kindRPD, left)
		}
		prev := b.foreign.requests.at
		n, first := b.others(now, &b.foreign.requests, unitRequests, b.reading(now, kindRPD, left, sentAt), 24*time.Hour, refused)
		if n > 0 && !first && b.lim[kindRPM] != nil { // the day's first reading is not this minute's
			charge(b.lim[kindRPM], now, lastMinute(n, prev, now))
		}
	}
	return seen, b.foreignChanged(now)
}

// learnHeaderLimits keeps the RPD and TPM that info carries (Groq's headers give no
// RPM or TPD), and reports which limits in force rose. A figure above the built-in
// table's shows the organization's plan to be above the table (b.plan.above): the
// table's other figures are then dropped for every model of the quota (the
// scheduler applies that to the other models).
func (b *modelBuckets) learnHeaderLimits(now time.Time, info RateLimitInfo) (raised [numKinds]bool) {
	before := b.limits()
	for _, h := range []struct {
		k limitKind
		n int
	}{{kindTPM, info.TokensPerMinute}, {kindRPD, info.RequestsPerDay}} {
		if h.n <= 0 {
			continue
		}
		if b.table[h.k] && b.configured.of(h.k) > 0 && h.n > b.configured.of(h.k) {
			b.plan.above = true
		}
		b.learned.set(h.k, h.n)
		b.learnedFrom[h.k] = SourceHeaders
	}
	after := b.limits()
	if after == before {
		return raised
	}
	had := b.lim
	b.apply(now)
	for k := range numKinds {
		raised[k] = after.of(k) > before.of(k) && before.of(k) > 0
		if had[k] == nil && b.lim[k] != nil && !b.members.store {
			// A bucket made now is full less what is in flight: the server counts
			// those requests as they arrive, whatever this process knew of the
			// limit when it sent them, and their settling finds them held here.
			// (A 429's message says what the server counted; a bucket it makes
			// is pulled down to that instead. With a QuotaStore, the store's
			// count of its members tells this process's spending apart.)
			charge(b.lim[k], now, b.inFlightCost(k))
			b.madeSeq[k] = b.seq
		}
	}
	return raised
}

// raiseTo lifts limit k's bucket, whose limit has just risen, to what the server
// said is left (left) less what this process has in flight, which the server may
// not have counted yet: a bucket made for a lower limit would otherwise pace the
// higher one at the old depth until it refilled.
func (b *modelBuckets) raiseTo(now time.Time, k limitKind, left int) {
	lim := b.lim[k]
	if lim == nil {
		return
	}
	if short := float64(left-b.inFlightCost(k)) - lim.TokensAt(now); short >= 1 {
		giveBack(lim, now, int(short))
	}
}

// shallowReadings is how many readings must show a bucket at its ceiling while the
// local one holds more before the ceiling is taken as the bucket's depth.
const shallowReadings = 3

// reading reads one header's figure (left: what the server's bucket k holds now)
// against the local bucket, pulls the bucket down to it, and returns what it shows
// spent by others (whole units): the evidence that no simpler explanation covers.
// The simpler explanations:
//
//   - Crossing on the wire: the server wrote the figure at some moment between the
//     request's send (sentAt) and now, and the local bucket has refilled since as
//     the server's has: an excess no larger than the refill of that time (the
//     slack) is not evidence. A late wake-up of the client's own goroutines only
//     widens the slack.
//   - A shallower bucket: a bucket never holds more than the most a header has
//     shown it to hold (its ceiling). What the local bucket holds beyond it, less
//     what this process has spent since, is depth the server does not have, not
//     spending, once a reading has shown the server at its ceiling while the local
//     bucket held more by (nearly) all it refilled since the last reading. When
//     shallowReadings readings have, the ceiling becomes the learnt depth.
//     Groq's day buckets are a day deep: only the per-minute ones are read so.
func (b *modelBuckets) reading(now time.Time, k limitKind, left int, sentAt time.Time) int {
	lim := b.lim[k]
	level := lim.TokensAt(now)
	slack := 0.0
	if !sentAt.IsZero() && now.After(sentAt) {
		slack = float64(lim.Limit()) * now.Sub(sentAt).Seconds()
	}
	capped := level
	if k.period() == time.Minute { // Groq's day buckets are a day deep
		known := b.ceiling[k] > 0 // a first reading has nothing to compare with
		b.ceiling[k] = max(b.ceiling[k], left)
		ceiling := float64(b.ceiling[k])
		// The server sits at its ceiling though the local bucket refilled past it
		// by (nearly) all its refill since the last reading: a program that spends
		// exactly the refill, no more and no less, is the less simple explanation.
		refill := float64(lim.Limit()) * now.Sub(b.readAt[k]).Seconds()
		// (left never exceeds the ceiling, so the excess is past the slack too.)
		if known && level > ceiling+slack+1 && float64(left)+slack+1 >= ceiling && level-float64(left) >= 0.9*refill {
			b.shallow[k]++
			if b.shallow[k] >= shallowReadings && b.ceiling[k] >= max(b.accepted[k], 1) && b.ceiling[k] < lim.Burst() {
				// Unlike a refusal's bound (lowerBurst), what the local bucket held
				// above the ceiling was never spent: the bucket is only shallower.
				b.burst[k], b.burstSince[k] = b.ceiling[k], now
				b.apply(now)
				level = lim.TokensAt(now)
			}
		}
		if b.shallow[k] > 0 {
			capped = min(level, ceiling-b.own[k].peek(now, lim))
		}
	}
	b.readAt[k] = now
	pullDown(lim, now, left)
	if ev := math.Floor(capped - float64(left) + tokenEpsilon); ev >= 1 && ev > slack {
		return int(ev)
	}
	return 0
}

// leftNow is what a server that said left at then holds now: it has refilled at
// lim's rate since (a stream's headers are read when it ends), up to lim's depth.
func leftNow(lim *rate.Limiter, left int, then, now time.Time) int {
	if then.IsZero() || !now.After(then) {
		return left
	}
	return min(left+int(now.Sub(then).Seconds()*float64(lim.Limit())), max(left, lim.Burst()))
}

// spendMeter is what this process has spent from one bucket and the bucket has
// not yet refilled: the bucket's own part, without what headers charged.
type spendMeter struct {
	used float64
	at   time.Time
}

// foreignStep is how close together two readings must be for what fell between
// them to be one request of the other program's, not a sum of several.
const foreignStep = 2 * time.Second

// others records what a header of a bucket refilling over period showed spent
// beyond the local bucket (excess) as another program's spending (with a
// QuotaStore, once its next count has told its members' part apart: see
// memberSpend), and returns what it recorded now. The first reading of a bucket
// says what was spent before the client looked (a minute's worth, or the whole
// day's), not at what rate: it only starts the evidence (first is true), though
// what it returns still tells the reading of a 429.
func (b *modelBuckets) others(now time.Time, f *foreignFlow, unit, excess int, period time.Duration, refused bool) (n int, first bool) {
	first = f.since.IsZero()
	n = b.members.foreign(unit, excess, first)
	if first {
		f.start(now)
		return n, true
	}
	if !b.members.store { // with a store, the next count records it, over the time since the last
		b.record(now, f, n, period, refused)
	}
	return n, false
}

// lastMinute is the share of n, spent by others over the time since since, that
// can fall within the last minute (spread evenly): what a day's count shows after
// an hour without a reading is mostly not this minute's.
func lastMinute(n int, since, now time.Time) int {
	if d := now.Sub(since); d > time.Minute {
		return int(float64(n) * float64(time.Minute) / float64(d))
	}
	return n
}

// record adds n units of others' spending, seen now, to f.
func (b *modelBuckets) record(now time.Time, f *foreignFlow, n int, period time.Duration, refused bool) {
	d := now.Sub(f.at)
	f.add(now, float64(n), min(d, period), f.single || (!refused && d < foreignStep))
}

// membersCounted records a QuotaStore's count of its members' spending: what the
// headers showed since the last count and no member spent is another program's,
// and spends the minute's request bucket and the day's token bucket too. It
// reports the limits whose other program started or stopped being seen.
func (b *modelBuckets) membersCounted(now time.Time, requests, tokens int64) (changed []limitKind) {
	n := b.members.report(requests, tokens)
	b.members.remember(now)
	if f := &b.foreign.requests; !f.since.IsZero() {
		prev := f.at
		b.record(now, f, n[unitRequests], 24*time.Hour, false)
		if n[unitRequests] > 0 && b.lim[kindRPM] != nil {
			charge(b.lim[kindRPM], now, lastMinute(n[unitRequests], prev, now))
		}
	}
	if !b.foreign.tokens.since.IsZero() {
		b.record(now, &b.foreign.tokens, n[unitTokens], time.Minute, false)
		if n[unitTokens] > 0 && b.lim[kindTPD] != nil {
			charge(b.lim[kindTPD], now, n[unitTokens])
		}
	}
	return b.foreignChanged(now)
}

// foreignChanged lists the limits whose other program started or stopped being
// seen since the last call.
func (b *modelBuckets) foreignChanged(now time.Time) (changed []limitKind) {
	if b.foreign.requests.changed(now) {
		changed = append(changed, kindRPM)
	}
	if b.foreign.tokens.changed(now) {
		changed = append(changed, kindTPM)
	}
	return changed
}

// lesson is what a refusal taught: a learnt burst or a wider margin (zero when
// nothing changed). The scheduler logs it.
type lesson struct {
	kind    limitKind
	burst   int           // the new learnt capacity, or 0
	margin  time.Duration // the new margin, or 0
	foreign bool          // the refusal was another program's spending
	// others, when set, is the estimate of others' spending to report: the
	// refusal was theirs, or another program started or stopped being seen on
	// the limits in seen.
	others *ForeignSpending
	seen   []limitKind
	// aboveTable: this answer showed the organization's plan to be above the
	// built-in table (logged once per quota).
	aboveTable bool
}

// rateLimited learns from a 429 whose message named the limit (r.sig), for a
// request of r.tokens that was admitted with the buckets at r.sent, refused with
// r.wait. r.seen is what the 429's own headers showed others had spent (observe).
// The request's reservation has been given back already.
//
// The limit's size is learnt from the message, and the request's cost is the
// server's ("Requested N"), when it says. Then the refusal is read against what
// the client knew had been spent when the server refused: what it had taken from
// the bucket before the request left (capacity minus the level then, which holds
// what headers showed others spent before), plus what it took while the request
// was in flight, minus what refusals gave back since, plus seen. Its own part is
// the same without what headers showed (the own meter). Requests in
// flight together can reach the server in any order, which is why the ones sent
// later count too; but not those admitted and not yet handed to the transport
// when the 429 is read (a goroutine that has not run yet, a call the cooldown
// will requeue): the server cannot have counted them, and a wave's last refusal
// read while one of them waited would otherwise teach a bucket one request
// deeper than the server's. Three readings, in this order:
//
//   - Shallow: the server refused while what was known spent, plus the request,
//     stayed well under the local depth. With its refill in step, its bucket holds
//     less than that: the bound becomes the learnt burst (the smallest bound wins,
//     so a wave of refusals converges on the number of requests the server took).
//     A bound that could not admit the request being retried, or smaller than a
//     request the server has accepted, is a contradiction and is not learnt.
//   - Others: the message's "Used N" is well above what this process spent (less
//     what a bucket known to be shallower than its limit never holds). The
//     spending is another program's: the depth and the margin stay. N is a level,
//     not a rate: the estimate of others' spending is left to the headers.
//   - Timing: the local bucket was nearly empty anyway, so the server's refill runs
//     behind the client's: the pacing margin doubles (at most maxPacingMargin),
//     unless another program is seen spending the bucket (its request landing
//     first explains the refusal as well, and a wider margin would not help).
//
// Finally the bucket is pulled down to what the server said was left (Limit -
// Used), and, when it says when the request will fit, held no lower than what
// makes it fit then (but never above r.before): the server's wait is the truth
// the retry keeps to.
// refusal is what a 429 that named its limit said, with what the client knew when
// it came.
type refusal struct {
	sig    limitSignal
	sent   sendLevels    // the buckets when the request was admitted
	tokens int           // what the request reserved
	seen   int           // tokens its headers showed others had spent (observe)
	wait   time.Duration // until the server said the request would fit
	// before is the refused bucket's level before this 429's headers pulled it
	// down: the server's wait may undo that pull-down, never more (what this
	// process has in flight stays reserved).
	before float64
}

func (b *modelBuckets) rateLimited(now time.Time, r refusal) lesson {
	sig, sent, tokens, seen, wait := r.sig, r.sent, r.tokens, r.seen, r.wait
	k := sig.kind
	if sig.limit > 0 && (b.learned.of(k) != sig.limit || b.learnedFrom[k] != SourceRateLimit) {
		b.learned.set(k, sig.limit)
		b.learnedFrom[k] = SourceRateLimit
		b.apply(now)
	}
	cost := float64(k.cost(tokens))
	if sig.requested > 0 {
		cost = float64(sig.requested)
	}
	var learnt lesson
	if capacity := sent.capacity[k]; capacity > 0 {
		since := (b.taken[k] - sent.taken[k]) - (b.refunded[k] - sent.refunded[k])
		// What is admitted and not yet handed to the transport is not in the
		// server's bucket, whatever order the requests go in.
		unsent := b.unsentCost(k, sent)
		spent := float64(capacity) - sent.level[k] + since - unsent
		own := sent.own[k] + since - unsent
		known := spent + float64(seen)
		if lim := b.lim[k]; lim != nil && k.period() == time.Minute {
			// With a QuotaStore, the other members' spending within the bucket's
			// window is in the server's bucket but not in this one.
			window := time.Duration(float64(capacity) / float64(lim.Limit()) * float64(time.Second))
			known += b.members.spentSince(unitOf(k), now.Add(-window))
		}
		tolerance := max(2*cost, float64(capacity)/10)
		switch {
		case known+cost <= float64(capacity)-tolerance:
			bound := max(int(math.Ceil(known+cost-1-tokenEpsilon)), b.accepted[k], 1)
			if float64(bound) >= cost && b.lowerBurst(now, k, bound) {
				learnt = lesson{kind: k, burst: bound}
			}
			b.burstSince[k] = now
		case sig.used >= 0 && float64(sig.used-max(0, sig.limit-capacity)) > own+tolerance:
			// A bucket known to be shallower than its limit never holds the
			// difference: Groq counts "Used" against the limit.
			learnt = lesson{kind: k, foreign: true}
		case b.foreign.flowOf(k) != nil && b.foreign.flowOf(k).active(now):
			// Another program is seen spending this bucket: its request landing
			// first explains the refusal as well as a late refill would, and a
			// wider margin would not help.
		default:
			m := min(max(2*b.margin, b.margin+minWidenedBy), maxPacingMargin)
			if m != b.margin {
				b.margin, learnt = m, lesson{kind: k, margin: m}
			}
			b.marginSince = now
		}
	}
	left := 0
	if sig.used >= 0 && sig.limit > sig.used {
		left = sig.limit - sig.used
	}
	lim := b.lim[k]
	pullDown(lim, now, left)
	if lim != nil && wait > 0 {
		target := min(cost-wait.Seconds()*float64(lim.Limit()), r.before)
		if short := target - lim.TokensAt(now); short >= 1 {
			giveBack(lim, now, int(short))
		}
	}
	return learnt
}

// dropContradictions forgets every learnt depth smaller than what a request of
// tokens costs: the server will take that request, so its bucket is deeper.
func (b *modelBuckets) dropContradictions(now time.Time, tokens int) {
	if b.burst == [numKinds]int{} {
		return // nothing learnt
	}
	dropped := false
	for k := range numKinds {
		if b.burst[k] > 0 && limitKind(k).cost(tokens) > b.burst[k] {
			b.burst[k], dropped = 0, true
		}
	}
	if dropped {
		b.apply(now)
	}
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

// hintBurst applies a burst that another quota serving the same model learnt: the
// same server most likely shapes this quota's bucket the same way, and a quota
// that has sent a wave of its own should not wait for its own refusals to know it.
// Like a learnt burst, it grows back after quiet minutes.
func (b *modelBuckets) hintBurst(now time.Time, k limitKind, n int) { b.lowerBurst(now, k, n) }

// peek is what the meter holds at now, refilled at lim's rate, without changing it.
func (m *spendMeter) peek(now time.Time, lim *rate.Limiter) float64 {
	if m.used > 0 && now.After(m.at) {
		return max(0, m.used-now.Sub(m.at).Seconds()*float64(lim.Limit()))
	}
	return m.used
}

// add refills the meter at lim's rate up to now, adds n (negative: given back)
// and returns what it held before n.
func (m *spendMeter) add(now time.Time, lim *rate.Limiter, n float64) float64 {
	if now.After(m.at) {
		if m.used > 0 {
			m.used = max(0, m.used-now.Sub(m.at).Seconds()*float64(lim.Limit()))
		}
		m.at = now
	}
	before := m.used
	m.used = max(0, m.used+n)
	return before
}

// limitSignal is what a 429's message says about the limit that was hit. Groq
// writes "… on tokens per minute (TPM): Limit 6000, Used 5990, Requested 120.
// Please try again in 1.2s.", with "Requested ~12903" when its count is an
// estimate. Figures the message lacks are -1; ok is false when it names no limit.
type limitSignal struct {
	kind      limitKind
	limit     int
	used      int
	requested int
}

// serverCost is the token count (or, for ASH and ASD, the seconds of audio) the
// server charged a refused request, from a TPM, TPD, ASH or ASD message's "Requested N" (0 when it gave none): the truth a retry reserves.
func (sig limitSignal) serverCost() int {
	if sig.kind != kindRPM && sig.kind != kindRPD && sig.requested > 0 {
		return sig.requested
	}
	return 0
}

// What others spend. The client estimates what programs it cannot see spend from a
// quota: a notebook, a cron job, a second service without the QuotaStore, a teammate's
// script on the same organization.
//
// Groq sends no per-minute request header, but every response says how many
// requests the day has left (x-ratelimit-remaining-requests) and how many tokens
// the minute has left (x-ratelimit-remaining-tokens), and both fall with every
// program's spending. The client's buckets already hold what this process (and,
// with a QuotaStore, every member process) has spent, so when a header says the
// server has less left than the local bucket holds, the difference is spending
// the client did not account for: another program's. The bucket is pulled down
// to the header (pullDown), and the difference is recorded below. From it
// the client learns the other program's rate, which decays when it stops, and the
// size of its requests, which the scheduler leaves in the bucket while the program
// is active (its reserve), so that the other program's requests are not refused
// because this client took every token the moment it refilled.
//
// What the client cannot see: a program whose every request is refused spends
// nothing, and leaves no trace in the headers.

// foreignMinSpan is the shortest time a rate is read over.
const foreignMinSpan = time.Second

// foreignTau is the estimate's time constant: spending is weighted by
// e^(-age/foreignTau), and a program is active while it was seen spending within
// foreignTau.
const foreignTau = 30 * time.Second

// foreignFlow is the estimate of one unit (requests, or tokens) that others
// spend from one bucket. Not safe for concurrent use: the scheduler's mutex
// guards it.
type foreignFlow struct {
	sum    float64   // others' spending, weighted by age, as of at
	at     time.Time // when sum was last decayed
	since  time.Time // the start of the evidence (zero: none yet)
	chunk  float64   // one of its requests: the largest step seen while active
	single bool      // the unit is requests: a request is one
	seen   time.Time // when spending was last seen
	told   bool      // whether it was active at the last reading (see changed)
}

// decayed is sum as of now.
func (f *foreignFlow) decayed(now time.Time) float64 {
	if f.sum == 0 || !now.After(f.at) {
		return f.sum
	}
	return f.sum * math.Exp(-now.Sub(f.at).Seconds()/foreignTau.Seconds())
}

// add records n units that others spent over the last d (d = 0: just now). A
// figure read over a long time (the first observation of a minute's bucket
// covers the minute before it) counts as spread over that time. step says that n
// fell between two readings close together, and so is the size of the other
// program's requests (a level read once, or a 429's "Used", is not).
func (f *foreignFlow) add(now time.Time, n float64, d time.Duration, step bool) {
	if !f.active(now) {
		f.chunk = 0
	}
	f.sum, f.at = f.decayed(now), now
	if f.since.IsZero() {
		f.since = now.Add(-d)
	}
	if n <= 0 {
		return
	}
	w := 1.0
	if x := d.Seconds() / foreignTau.Seconds(); x > 1e-9 {
		w = -math.Expm1(-x) / x
	}
	f.sum += n * w
	f.seen = now
	switch {
	case !step:
	case f.single:
		f.chunk = 1
	default:
		f.chunk = max(f.chunk, n)
	}
}

// start marks the beginning of the evidence without recording spending (the
// first reading of a day's bucket says what was spent today, not at what rate).
func (f *foreignFlow) start(now time.Time) {
	if f.since.IsZero() {
		f.since, f.at = now, now
	}
}

// perMinute is the estimated rate of others' spending. Early on, when the evidence
// covers less than the time constant, the weighted sum is scaled up to the time
// it covers, but to no less than foreignMinSpan: a request seen in the first
// milliseconds is one request, not thousands a minute.
func (f *foreignFlow) perMinute(now time.Time) float64 {
	s := f.decayed(now)
	if s <= 0 || f.since.IsZero() {
		return 0
	}
	covered := -math.Expm1(-max(now.Sub(f.since), foreignMinSpan).Seconds() / foreignTau.Seconds())
	return s / (foreignTau.Seconds() * covered) * 60
}

// active reports whether the other program spent recently enough (within
// foreignTau) that a request of its size is expected again.
func (f *foreignFlow) active(now time.Time) bool {
	return f.chunk > 0 && now.Sub(f.seen) < foreignTau
}

// changed reports whether the program started or stopped being active since the
// last call.
func (f *foreignFlow) changed(now time.Time) bool {
	a := f.active(now)
	c := a != f.told
	f.told = a
	return c
}

// reserve is what the client leaves in the bucket for the other program: one of
// its requests while it is active, at most a quarter of depth.
func (f *foreignFlow) reserve(now time.Time, depth int) float64 {
	if !f.active(now) {
		return 0
	}
	return min(math.Ceil(f.chunk), float64(depth)/4)
}

// ForeignSpending is what the client estimates that programs it cannot see spend
// from one quota and model: not this process, nor (with a QuotaStore that counts
// its members' spending) the store's other members. It is learnt from what Groq's
// headers fall by beyond the client's own spending (see the package doc), and
// decays when the other program stops: its weight halves about every 21 seconds,
// and its reserve ends 30 seconds after it was last seen spending. Zero when
// nothing was seen.
//
// The figures are lower bounds. A bucket that refills to full between two readings
// hides what was spent before it did (the minute's tokens are then plentiful, and
// nothing needs leaving), and a program whose every request is refused spends
// nothing and leaves no trace.
type ForeignSpending struct {
	RequestsPerMinute float64 // from x-ratelimit-remaining-requests
	TokensPerMinute   float64 // from x-ratelimit-remaining-tokens
	// Reserve is what the client leaves in the per-minute buckets for the other
	// program while it is active: the largest request it was seen to make (RPM in
	// requests, TPM in tokens; other fields unset).
	Reserve Limits
}

// foreignSpend is one quota and model's estimate: requests and tokens. Make it
// with newForeignSpend.
type foreignSpend struct {
	requests, tokens foreignFlow
}

func newForeignSpend() foreignSpend { return foreignSpend{requests: foreignFlow{single: true}} }

func (f *foreignSpend) snapshot(now time.Time, depths Limits) ForeignSpending {
	return ForeignSpending{
		RequestsPerMinute: f.requests.perMinute(now),
		TokensPerMinute:   f.tokens.perMinute(now),
		Reserve:           Limits{RPM: int(f.requests.reserve(now, depths.RPM)), TPM: int(f.tokens.reserve(now, depths.TPM))},
	}
}

// flowOf is the estimate that a per-minute limit's refusals inform (nil for the
// daily limits).
func (f *foreignSpend) flowOf(k limitKind) *foreignFlow {
	switch k {
	case kindRPM:
		return &f.requests
	case kindTPM:
		return &f.tokens
	}
	return nil
}

// unitOf is the unit a limit counts.
func unitOf(k limitKind) int {
	if k == kindTPM || k == kindTPD {
		return unitTokens
	}
	return unitRequests
}

// memberSpend tells, with a QuotaStore, the store's other members' spending from
// another program's. A store that counts its members' spending (QuotaDecision.
// Spent) says how much they took. What a header shows spent beyond this
// process's buckets is held until the store's next count, which comes after the
// header was read and so holds every member request the header can show: it is
// theirs first, and only the rest is foreign. A store that does not count leaves
// nothing to tell them apart by, so nothing is read as foreign.
type memberSpend struct {
	store   bool       // a QuotaStore is in use
	counted bool       // and it reported its members' spending
	own     [2]float64 // this process's spending (requests, tokens), net of what was given back
	others  [2]float64 // the other members' spending, as last reported
	read    [2]float64 // how much of others headers have shown so far
	pending [2]float64 // seen beyond the buckets since the last count, not yet told apart
	total   [2]int64   // the store's last count
	// hist is others at the counts of the last few minutes (one a second at
	// most), so that a refusal can be read against what the members spent within
	// a bucket's window.
	hist []memberSample
}

type memberSample struct {
	at     time.Time
	others [2]float64
}

// memberHistory is how far back memberSpend keeps its counts: the longest window
// a per-minute bucket can have.
const memberHistory = 2 * time.Minute

// spentSince is what the store's other members spent of unit since t, by its
// counts (all they ever spent when the counts do not reach back that far); 0
// without a counting store.
func (m *memberSpend) spentSince(unit int, t time.Time) float64 {
	if !m.counted {
		return 0
	}
	base := 0.0
	for _, h := range m.hist {
		if h.at.After(t) {
			break
		}
		base = h.others[unit]
	}
	return max(0, m.others[unit]-base)
}

// remember keeps the count now in the history.
func (m *memberSpend) remember(now time.Time) {
	if n := len(m.hist); n > 0 && now.Sub(m.hist[n-1].at) < time.Second {
		m.hist[n-1].others = m.others
		return
	}
	m.hist = append(m.hist, memberSample{at: now, others: m.others})
	i := 0
	for i < len(m.hist)-1 && now.Sub(m.hist[i+1].at) >= memberHistory {
		i++ // the sample before the window stays, as its base
	}
	m.hist = m.hist[i:]
}

// foreign is the part of n units, seen spent beyond the local bucket, that is
// another program's now: all of it without a store; with one, none yet (see
// report). first marks a bucket's first reading.
func (m *memberSpend) foreign(unit, n int, first bool) int {
	if !m.store {
		return n
	}
	if first {
		// What the members spent until the last count is in the level this
		// reading synced to; what they spent since will show in later readings.
		m.read[unit], m.pending[unit] = m.others[unit], 0
	} else {
		m.pending[unit] += float64(n)
	}
	return 0
}

// report records the store's count of every member's spending, this process's
// included, and returns what of the spending held since the last count no
// member did (requests, tokens).
func (m *memberSpend) report(requests, tokens int64) (foreign [2]int) {
	m.counted = true
	// The count minus this process's spending dips below the truth while this
	// process has admitted calls it has not yet asked the store about: what was
	// told apart stays told apart, unless the store starts counting again.
	total := [2]int64{requests, tokens}
	m.others = [2]float64{max(0, float64(requests)-m.own[unitRequests]), max(0, float64(tokens)-m.own[unitTokens])}
	for u := range m.others {
		if total[u] < m.total[u] {
			m.read[u] = 0
		}
		m.total[u] = total[u]
		theirs := min(m.pending[u], max(0, m.others[u]-m.read[u]))
		m.read[u] += theirs
		foreign[u] = int(math.Floor(m.pending[u] - theirs + tokenEpsilon))
		m.pending[u] = 0
	}
	return foreign
}

// Units of spending, as memberSpend counts them.
const (
	unitRequests = iota
	unitTokens
)

// What a request really costs. The client learns, per model, how the server's
// prompt count compares with the local estimate, and how long answers run when a
// call sets no max tokens; the call's plan and the scheduler reserve what it
// learns.

const (
	// costWindow is how many recent answers the completion reserve is taken from.
	costWindow = 64
	// costMinSamples answers are needed before the reserve leaves its default.
	costMinSamples = 8
	// completionPercentile of the recent answers' completion tokens is reserved.
	completionPercentile = 0.95
	// promptRatioWeight is the weight of a new answer in the prompt ratio's
	// moving average.
	promptRatioWeight = 0.2
)

// costModel holds what is learnt of each model's costs. It is safe for concurrent
// use.
type costModel struct {
	mu             sync.Mutex
	defaultReserve int
	models         map[string]*modelCost
}

type modelCost struct {
	ratio       float64 // server prompt tokens / local estimate; 0 before the first answer
	completions [costWindow]int
	n, next     int
	reserve     int // the percentile of completions; 0 when it must be computed
}

func newCostModel(defaultReserve int) *costModel {
	return &costModel{defaultReserve: defaultReserve, models: map[string]*modelCost{}}
}

func (m *costModel) model(name string) *modelCost {
	mc := m.models[name]
	if mc == nil {
		mc = &modelCost{}
		m.models[name] = mc
	}
	return mc
}

// prompt corrects a local prompt estimate with the model's learnt ratio.
func (m *costModel) prompt(model string, estimate int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc := m.models[model]
	if mc == nil || mc.ratio == 0 {
		return estimate
	}
	return max(1, int(math.Ceil(float64(estimate)*mc.ratio)))
}

// completionReserve is what a call that sets no max tokens reserves for its answer:
// the default until costMinSamples answers have come, then the 95th percentile of
// the last costWindow answers' completion tokens.
func (m *costModel) completionReserve(model string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc := m.models[model]
	if mc == nil || mc.n < costMinSamples {
		return m.defaultReserve
	}
	if mc.reserve == 0 {
		recent := slices.Clone(mc.completions[:mc.n])
		slices.Sort(recent)
		i := int(math.Ceil(completionPercentile*float64(len(recent)))) - 1
		mc.reserve = max(1, recent[max(0, i)])
	}
	return mc.reserve
}

// observe learns from a complete answer: estimate is the local (uncorrected) prompt
// estimate, and openEnded says the call set no max tokens, so that its completion
// shows how long this model's answers run.
func (m *costModel) observe(model string, estimate int, u *Usage, openEnded bool) {
	if u == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mc := m.model(model)
	if estimate > 0 && u.PromptTokens > 0 {
		r := min(5, max(0.2, float64(u.PromptTokens)/float64(estimate)))
		if mc.ratio == 0 {
			mc.ratio = r
		} else {
			mc.ratio += promptRatioWeight * (r - mc.ratio)
		}
	}
	if openEnded && u.CompletionTokens >= 0 {
		mc.completions[mc.next] = min(u.CompletionTokens, maxRequestTokens)
		mc.next = (mc.next + 1) % costWindow
		mc.n = min(mc.n+1, costWindow)
		mc.reserve = 0
	}
}

// learnt returns the model's prompt ratio (0 before the first answer) and
// completion reserve.
func (m *costModel) learnt(model string) (ratio float64, reserve int) {
	reserve = m.completionReserve(model)
	m.mu.Lock()
	defer m.mu.Unlock()
	if mc := m.models[model]; mc != nil {
		ratio = mc.ratio
	}
	return ratio, reserve
}

// usedTokens is what a request that reserved tokens used, by the server's usage
// (the reservation when there is none), bounded as a request can be: a poisoned
// figure (9223372036854775807) must not spend a day's budget or years of a
// bucket. The buckets bound it further by the model's context window.
func usedTokens(u *Usage, reserved int) int {
	if u == nil {
		return reserved
	}
	return min(max(u.TotalTokens, 0), max(reserved, maxRequestTokens))
}

// countedTokens is what a request took from Groq's token limits: its usage less
// the prompt tokens Groq's prompt cache served (prompt_tokens_details.
// cached_tokens), which do not count toward them.
func countedTokens(u *Usage, reserved int) int {
	n := usedTokens(u, reserved)
	if u != nil && u.PromptTokensDetails != nil {
		n -= min(max(u.PromptTokensDetails.CachedTokens, 0), max(u.PromptTokens, 0))
	}
	return max(n, 0)
}
