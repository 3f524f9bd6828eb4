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
	kindASH // audio seconds per hour
	kindASD // audio seconds per day
	numKinds
)

var kindNames = [numKinds]string{"RPM", "RPD", "TPM", "TPD", "ASH", "ASD"}

func (k limitKind) String() string { return kindNames[k] }

// period is how long the limit's bucket takes to refill from empty.
func (k limitKind) period() time.Duration {
	switch k {
	case kindRPM, kindTPM:
		return time.Minute
	case kindASH:
		return time.Hour
	}
	return 24 * time.Hour
}

// cost is what a request of tokens takes from this limit's bucket. A request's
// tokens are in its model's unit: tokens for a chat model, seconds of audio for a
// transcription model (whose limits are RPM, RPD, ASH and ASD).
func (k limitKind) cost(tokens int) int {
	if k == kindRPM || k == kindRPD {
		return 1
	}
	return tokens
}

func (l Limits) of(k limitKind) int {
	return [numKinds]int{l.RPM, l.RPD, l.TPM, l.TPD, l.ASH, l.ASD}[k]
}

func (l *Limits) set(k limitKind, n int) {
	*[numKinds]*int{&l.RPM, &l.RPD, &l.TPM, &l.TPD, &l.ASH, &l.ASD}[k] = n
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

	accepted [numKinds]int        // the largest cost the server has counted, per bucket
	own      [numKinds]spendMeter // this process's own spending, apart from what headers charged
	foreign  foreignSpend         // what programs the client cannot see spend (foreign.go)
	members  memberSpend          // with a QuotaStore: what its other members spent
}

func newModelBuckets(now time.Time, configured Limits, margin time.Duration) *modelBuckets {
	b := &modelBuckets{configured: configured, baseMargin: margin, margin: margin, foreign: newForeignSpend()}
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
		ASH:           effective(b.configured.ASH, b.learned.ASH),
		ASD:           effective(b.configured.ASD, b.learned.ASD),
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
// the pacing margin's worth of refill and the reserve left for another program
// (foreign.go), capped at the bucket's depth. The margin is what makes a request
// that waited for refill leave a little after the local bucket allows it, so that
// a server whose refill runs a few milliseconds behind has refilled too. ok is
// false when the request can never fit. A learnt depth smaller than the request
// is a contradiction (the server's bucket cannot be shallower than what it will
// take) and is dropped.
func (b *modelBuckets) readyAt(now time.Time, tokens int) (at time.Time, ok bool) {
	if !b.fits(tokens) {
		return time.Time{}, false
	}
	b.dropContradictions(now, tokens)
	var reserve [numKinds]float64
	if b.foreign.requests.chunk > 0 || b.foreign.tokens.chunk > 0 { // another program was seen
		l := b.limits()
		reserve[kindRPM] = b.foreign.requests.reserve(now, b.capacity(l, kindRPM))
		reserve[kindTPM] = b.foreign.tokens.reserve(now, b.capacity(l, kindTPM))
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
			need = min(need+b.margin.Seconds()*r+reserve[k], float64(lim.Burst()))
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
	own      [numKinds]float64 // this process's own spending not yet refilled
	capacity [numKinds]int
	taken    [numKinds]float64
	refunded [numKinds]float64
	at       time.Time // when it was admitted
	// nearFull: a per-minute bucket was within maxSendLag's refill of full, so
	// that a late send can matter (see wrote).
	nearFull bool
}

// maxSendLag is how late after its admission a request's send is looked at: a
// request admitted from a bucket further below full than this much refill cannot
// have left the server's bucket full while it waited.
const maxSendLag = 10 * time.Second

// reserve takes a request's cost from every limiter and returns the levels before.
func (b *modelBuckets) reserve(now time.Time, tokens int) sendLevels {
	s := sendLevels{at: now}
	for k, lim := range b.lim {
		if lim == nil {
			continue
		}
		cost := limitKind(k).cost(tokens)
		s.level[k], s.capacity[k], s.taken[k], s.refunded[k] = lim.TokensAt(now), lim.Burst(), b.taken[k], b.refunded[k]
		if limitKind(k).period() == time.Minute && s.level[k]+float64(lim.Limit())*maxSendLag.Seconds() > float64(s.capacity[k]) {
			s.nearFull = true
		}
		s.own[k] = b.own[k].add(now, lim, float64(cost))
		charge(lim, now, cost)
		b.taken[k] += float64(cost)
	}
	b.members.own[unitRequests]++
	b.members.own[unitTokens] += float64(tokens)
	return s
}

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

// reconcile settles a reservation made with the buckets at sent. A request the
// server did not count gives back everything; a counted one gives back (or is
// charged) the difference between the tokens reserved and those it used. A bucket
// that did not exist when the request left (a limit learnt from headers since) is
// left alone: giving it back what it never held would make it hold more than the
// server does.
func (b *modelBuckets) reconcile(now time.Time, sent sendLevels, reserved, used int, counted bool) {
	if !counted {
		b.members.own[unitRequests]--
		b.members.own[unitTokens] -= float64(reserved)
		for k, lim := range b.lim {
			if lim != nil && sent.capacity[k] > 0 {
				giveBack(lim, now, limitKind(k).cost(reserved))
				b.own[k].add(now, lim, -float64(limitKind(k).cost(reserved)))
				b.refunded[k] += float64(limitKind(k).cost(reserved))
			}
		}
		return
	}
	used = b.saneUsed(reserved, used)
	b.accepted[kindRPM], b.accepted[kindRPD] = 1, 1
	for _, k := range []limitKind{kindTPM, kindTPD, kindASH, kindASD} {
		b.accepted[k] = max(b.accepted[k], used)
	}
	diff := used - reserved
	b.members.own[unitTokens] += float64(diff)
	for _, k := range []limitKind{kindTPM, kindTPD, kindASH, kindASD} {
		lim := b.lim[k]
		if lim == nil || sent.capacity[k] == 0 {
			continue // a bucket made (learnt from headers) after the request left holds none of it
		}
		b.own[k].add(now, lim, float64(diff))
		switch {
		case diff < 0:
			giveBack(lim, now, -diff)
		case diff > 0:
			charge(lim, now, diff)
		}
	}
	if diff > 0 {
		for _, k := range []limitKind{kindTPM, kindTPD, kindASH, kindASD} {
			b.taken[k] += float64(diff)
		}
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

// charge takes n tokens from lim, going into debt if it must, in constant time:
// ReserveN refuses more than the burst at once, so a larger charge widens the
// burst for the one reservation (SetBurstAt adds no tokens) and restores it.
func charge(lim *rate.Limiter, now time.Time, n int) {
	if n <= 0 {
		return
	}
	if depth := lim.Burst(); n > depth {
		lim.SetBurstAt(now, n)
		lim.ReserveN(now, n)
		lim.SetBurstAt(now, depth)
		return
	}
	lim.ReserveN(now, n)
}

// chargeFraction takes x tokens (x > 0, not necessarily whole) from lim at now.
// Limiter takes whole tokens only, so the fraction is taken as one token reserved
// back in time: its state becomes "one token fewer, (1-f)/rate earlier", which is
// f fewer now and refills from there as before. A limiter refills from its last
// event, so that is set to now first.
func chargeFraction(lim *rate.Limiter, now time.Time, x float64) {
	whole := math.Floor(x)
	charge(lim, now, int(whole))
	f := x - whole
	if f <= tokenEpsilon || lim.Limit() <= 0 || lim.Limit() == rate.Inf {
		return
	}
	lim.AllowN(now, 0)
	lim.ReserveN(now.Add(-time.Duration((1-f)/float64(lim.Limit())*float64(time.Second))), 1)
}

// maxRequestTokens bounds what one request can have cost when its model's context
// window is unknown (the largest context windows are about 2M tokens): a usage
// figure above it is a server's (or a proxy's) error.
const maxRequestTokens = 1 << 21

// saneUsed is what a request that reserved tokens can have used, read from a
// server's usage: not negative, and no more than a request can be (the model's
// context window, else maxRequestTokens; never less than the reservation). A long
// answer may cost more than a minute's tokens (the bucket goes into debt); a
// poisoned usage (9223372036854775807) cannot put it into years of debt.
func (b *modelBuckets) saneUsed(reserved, used int) int {
	bound := maxRequestTokens
	if cw := b.configured.ContextWindow; cw > 0 {
		bound = min(bound, cw)
	}
	return min(max(used, 0), max(bound, reserved))
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

// observe corrects the buckets from a response's x-ratelimit-* headers: unknown
// limits are learnt, a lower server limit wins over a configured one, and the local
// buckets are pulled down to what the server says is left. What a header showed
// spent beyond the buckets is another program's (foreign.go): those requests are
// taken from the RPM bucket too, those tokens from the TPD bucket. It returns the
// tokens the TPM header showed spent by others, and the limits (RPM for requests,
// TPM for tokens) whose other program started or stopped being seen. A refusal's
// headers (refused) show a bucket someone emptied, not the size of anyone's
// requests (but a request is one request).
func (b *modelBuckets) observe(now time.Time, info RateLimitInfo, refused bool) (seen int, changed []limitKind) {
	if !info.Present {
		return 0, nil
	}
	b.last = info
	relimit := false
	if info.TokensPerMinute > 0 && info.TokensPerMinute != b.learned.TPM {
		b.learned.TPM, relimit = info.TokensPerMinute, true
	}
	if info.RequestsPerDay > 0 && info.RequestsPerDay != b.learned.RPD {
		b.learned.RPD, relimit = info.RequestsPerDay, true
	}
	if relimit {
		b.apply(now)
	}
	if lim := b.lim[kindTPM]; lim != nil && info.TokensLeftInMinute >= 0 {
		n, _ := b.others(now, &b.foreign.tokens, unitTokens, pullDown(lim, now, leftNow(lim, info.TokensLeftInMinute, info.ObservedAt, now)), time.Minute, refused)
		if n > 0 && b.lim[kindTPD] != nil { // the minute's spending is the day's too
			charge(b.lim[kindTPD], now, n)
		}
		seen = n
	}
	if lim := b.lim[kindRPD]; lim != nil && info.RequestsLeftToday >= 0 {
		prev := b.foreign.requests.at
		n, first := b.others(now, &b.foreign.requests, unitRequests, pullDown(lim, now, leftNow(lim, info.RequestsLeftToday, info.ObservedAt, now)), 24*time.Hour, refused)
		if n > 0 && !first && b.lim[kindRPM] != nil { // the day's first reading is not this minute's
			charge(b.lim[kindRPM], now, lastMinute(n, prev, now))
		}
	}
	return seen, b.foreignChanged(now)
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

// foreignStep is how close together two readings must be for what fell between
// them to be one request of the other program's, not a sum of several.
const foreignStep = 2 * time.Second

// Units of spending, as memberSpend counts them.
const (
	unitRequests = iota
	unitTokens
)

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
// later count too. Three readings, in this order:
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
	if sig.limit > 0 && b.learned.of(k) != sig.limit {
		b.learned.set(k, sig.limit)
		b.apply(now)
	}
	cost := float64(k.cost(tokens))
	if sig.requested > 0 {
		cost = float64(sig.requested)
	}
	var learnt lesson
	if capacity := sent.capacity[k]; capacity > 0 {
		since := (b.taken[k] - sent.taken[k]) - (b.refunded[k] - sent.refunded[k])
		spent := float64(capacity) - sent.level[k] + since
		own := sent.own[k] + since
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

// level is what limit k's bucket holds now (+Inf when it has no limit).
func (b *modelBuckets) level(now time.Time, k limitKind) float64 {
	if lim := b.lim[k]; lim != nil {
		return lim.TokensAt(now)
	}
	return math.Inf(1)
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

// bucketSet is one quota's buckets, by model, made on first use from the
// configured limits. The scheduler uses it under its mutex.
type bucketSet struct {
	limitsFor func(model string) Limits
	margin    time.Duration
	shared    bool // a QuotaStore is in use: its members' spending is not foreign
	models    map[string]*modelBuckets
}

func newBucketSet(limitsFor func(string) Limits, margin time.Duration, shared bool) *bucketSet {
	return &bucketSet{limitsFor: limitsFor, margin: margin, shared: shared, models: map[string]*modelBuckets{}}
}

// of is model's buckets.
func (m *bucketSet) of(now time.Time, model string) *modelBuckets {
	b, ok := m.models[model]
	if !ok {
		b = newModelBuckets(now, m.limitsFor(model), m.margin)
		b.members.store = m.shared
		m.models[model] = b
	}
	return b
}

// reconfigure re-reads the configured limits of every model it holds and changes
// its limiters in place.
func (m *bucketSet) reconfigure(now time.Time) {
	for model, b := range m.models {
		b.configured = m.limitsFor(model)
		b.apply(now)
	}
}

// QuotaSnapshot describes one quota's buckets for one model. A used figure is -1
// when that limit is unknown.
type QuotaSnapshot struct {
	Name string // organization name, or "key#N"
	Keys []int  // indexes of the quota's keys

	Limits Limits // in force: configured, lowered by what Groq said
	// Burst is the depth of each bucket in force: the period's limit, or less where
	// a 429 showed the server's bucket to be shallower (learnt, and growing back
	// after a quiet minute). ContextWindow is unset.
	Burst Limits
	// PacingMargin is how long after its bucket allows it a request that waited for
	// refill is sent: WithPacingMargin's value, or wider after a 429 that timing
	// explains (narrowing back after a quiet minute).
	PacingMargin time.Duration

	RequestsThisMinute int // consumed and not yet refilled (of Burst)
	TokensThisMinute   int
	RequestsToday      int
	TokensToday        int
	AudioThisHour      int // seconds of audio consumed and not yet refilled (speech-to-text models)
	AudioToday         int
	CoolingUntil       time.Time // zero when not cooling down
	LastHeaders        RateLimitInfo
	// Foreign is what programs the client cannot see are estimated to spend from
	// this quota and model, and what the client leaves them (see ForeignSpending).
	Foreign ForeignSpending
	// Shared is what the QuotaStore's buckets hold (every process's use), when
	// the client has one (WithQuotaStore) and it answered; nil otherwise.
	Shared *QuotaUsage
}

// snapshot describes the buckets (Name and Keys are the quota's to fill).
func (b *modelBuckets) snapshot(now time.Time) QuotaSnapshot {
	s := QuotaSnapshot{Limits: b.limits(), Burst: b.bursts(), PacingMargin: b.margin, LastHeaders: b.last}
	s.Foreign = b.foreign.snapshot(now, s.Burst)
	if b.coolUntil.After(now) {
		s.CoolingUntil = b.coolUntil
	}
	used := func(k limitKind) int {
		lim := b.lim[k]
		if lim == nil {
			return -1
		}
		return max(0, lim.Burst()-int(lim.TokensAt(now)))
	}
	s.RequestsThisMinute, s.RequestsToday = used(kindRPM), used(kindRPD)
	s.TokensThisMinute, s.TokensToday = used(kindTPM), used(kindTPD)
	s.AudioThisHour, s.AudioToday = used(kindASH), used(kindASD)
	return s
}

// coolDown holds a quota's model back until t, after a 429 asked it to wait; a
// cooldown is only ever extended. readyAt honours it.
func (b *modelBuckets) coolDown(t time.Time) {
	if t.After(b.coolUntil) {
		b.coolUntil = t
	}
}

// hintBurst applies a burst that another quota serving the same model learnt: the
// same server most likely shapes this quota's bucket the same way, and a quota
// that has sent a wave of its own should not wait for its own refusals to know it.
// Like a learnt burst, it grows back after quiet minutes.
func (b *modelBuckets) hintBurst(now time.Time, k limitKind, n int) { b.lowerBurst(now, k, n) }
