package groq

import (
	"math"
	"time"

	"github.com/groqkit/groq/internal/limits"
	"golang.org/x/time/rate"
)

// This file holds one quota's buckets for one model: their limiters, what a request
// reserves and gives back, when the next request can go, its cooldown and its
// snapshot; a quota's buckets by model (bucketSet); and the limits they enforce
// (Limits, the built-in table, the six limit kinds and where each figure came
// from). What the buckets learn from the server (their depth, the pacing margin,
// others' spending, limits above the built-in table) is in learn.go.

// modelBuckets holds one quota's limiters for one model, shaped like Groq's: each
// refills continuously at its period's rate and holds one period's worth (a minute
// for RPM and TPM, a day for RPD and TPD) unless a refusal showed the server's
// bucket to be shallower. A nil limiter is unlimited. It is not safe for
// concurrent use: the scheduler's mutex guards it.
type modelBuckets struct {
	configured Limits // what the user (or the built-in table) set
	// table marks the configured limits that are only the built-in table's guess
	// (or DefaultRPM's): the organization's own figures replace them, and when
	// its plan shows to be above the table (plan), they are dropped.
	table       [numKinds]bool
	plan        *orgPlan
	learned     Limits                // what Groq's headers and 429 messages said
	learnedFrom [numKinds]LimitSource // SourceHeaders or SourceRateLimit
	// ceiling is the most a header has shown a bucket to hold; shallow counts
	// the readings that showed it at its ceiling while the local bucket held
	// more (learn.go: a bucket shallower than its limit).
	ceiling [numKinds]int
	shallow [numKinds]int
	readAt  [numKinds]time.Time // the last header reading of each bucket
	// inFlight and inFlightTokens are this process's requests admitted and not
	// yet settled, and what they reserved, whatever limiters existed then.
	inFlight, inFlightTokens int
	seq                      uint64           // requests reserved so far
	madeSeq                  [numKinds]uint64 // seq when a header made each limiter (learnHeaderLimits)
	// unsent holds the requests admitted and not yet handed to the transport,
	// by seq: no server has counted them (see unsentCost).
	unsent map[uint64]pendingSend

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
	foreign  foreignSpend         // what programs the client cannot see spend (learn.go)
	members  memberSpend          // with a QuotaStore: what its other members spent
}

// newModelBuckets makes a model's buckets from its configured limits, whose
// organization's plan is plan (shared by the quota's models).
func newModelBuckets(now time.Time, spec limitSpec, plan *orgPlan, margin time.Duration) *modelBuckets {
	b := &modelBuckets{configured: spec.Limits, table: spec.table, plan: plan, baseMargin: margin, margin: margin, foreign: newForeignSpend()}
	b.apply(now)
	return b
}

// orgPlan is what one quota's answers showed of its organization's plan: above is
// set when a header showed a limit above the built-in table's (a paid plan).
type orgPlan struct {
	above bool
}

// limitOf is limit k in force and where it came from. A user's limit is a
// ceiling that what Groq said can only lower. The table's is a guess: what Groq
// said replaces it, higher or lower, and once the organization showed a plan above
// the table, a table figure Groq never confirmed is dropped (unknown, until a 429
// names it).
func (b *modelBuckets) limitOf(k limitKind) (int, LimitSource) {
	c, l := b.configured.of(k), b.learned.of(k)
	switch {
	case b.table[k] && l > 0:
		return l, b.learnedFrom[k]
	case b.table[k] && b.plan.above:
		return 0, SourceNone
	case b.table[k]:
		return c, SourceTable
	case l > 0 && (c == 0 || l < c):
		return l, b.learnedFrom[k]
	case c > 0:
		return c, SourceConfigured
	}
	return 0, SourceNone
}

func (b *modelBuckets) limits() Limits {
	out := Limits{ContextWindow: b.configured.ContextWindow}
	for k := range numKinds {
		n, _ := b.limitOf(k)
		out.set(k, n)
	}
	return out
}

// sources says where each limit in force came from.
func (b *modelBuckets) sources() LimitSources {
	var src [numKinds]LimitSource
	for k := range numKinds {
		_, src[k] = b.limitOf(k)
	}
	return LimitSources{RPM: src[kindRPM], RPD: src[kindRPD], TPM: src[kindTPM], TPD: src[kindTPD], ASH: src[kindASH], ASD: src[kindASD]}
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

// holds reports whether limit k's bucket holds the reservation made at sent:
// it existed then, or was made while the request was in flight (and charged it).
func (b *modelBuckets) holds(sent sendLevels, k limitKind) bool {
	return sent.capacity[k] > 0 || (sent.seq > 0 && sent.seq <= b.madeSeq[k])
}

// inFlightCost is what this process's requests in flight cost limit k.
func (b *modelBuckets) inFlightCost(k limitKind) int {
	if k == kindRPM || k == kindRPD {
		return b.inFlight
	}
	return b.inFlightTokens
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
// (learn.go), capped at the bucket's depth. The margin is what makes a request
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
	seq      uint64    // its place among the requests reserved
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
	b.seq++
	s := sendLevels{at: now, seq: b.seq}
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
	b.inFlight++
	b.inFlightTokens += tokens
	return s
}

// pendingSend is a request admitted and not yet handed to the transport: when it
// was admitted and what it reserved.
type pendingSend struct {
	at     time.Time
	tokens int
}

// pending notes that the request reserved at sent, of tokens, has not been handed
// to the transport yet. The scheduler notes every request it admits; one never
// noted (a replayed trace) counts as sent.
func (b *modelBuckets) pending(sent sendLevels, tokens int) {
	if b.unsent == nil {
		b.unsent = map[uint64]pendingSend{}
	}
	b.unsent[sent.seq] = pendingSend{at: sent.at, tokens: tokens}
}

// handedOver notes that the request reserved as seq goes to the transport now:
// from here on, the server may count it.
func (b *modelBuckets) handedOver(seq uint64) { delete(b.unsent, seq) }

// unsentCost is what the requests not yet handed to the transport make up of
// what a refusal of the request admitted at sent reads as spent from bucket k
// (rateLimited): the server cannot have counted them. One admitted after sent
// is read at its whole cost; one admitted before, at its cost less the refill
// between its admission and sent, the least it can still make up of the level
// sent recorded.
func (b *modelBuckets) unsentCost(k limitKind, sent sendLevels) float64 {
	lim := b.lim[k]
	if lim == nil {
		return 0
	}
	n := 0.0
	for _, u := range b.unsent {
		cost := float64(k.cost(u.tokens))
		if sent.at.After(u.at) {
			cost -= float64(lim.Limit()) * sent.at.Sub(u.at).Seconds()
		}
		n += max(0, cost)
	}
	return n
}

// reconcile settles a reservation made with the buckets at sent. A request the
// server did not count gives back everything; a counted one gives back (or is
// charged) the difference between the tokens reserved and those it used. A bucket
// that did not exist when the request left (a limit learnt from headers since) is
// left alone: giving it back what it never held would make it hold more than the
// server does.
func (b *modelBuckets) reconcile(now time.Time, sent sendLevels, reserved, used int, counted bool) {
	delete(b.unsent, sent.seq)
	if !counted {
		b.members.own[unitRequests]--
		b.members.own[unitTokens] -= float64(reserved)
		for k, lim := range b.lim {
			if lim != nil && b.holds(sent, limitKind(k)) {
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
		if lim == nil || !b.holds(sent, k) {
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

// landed takes a settled request of reserved tokens out of those in flight. The
// scheduler calls it after the answer's headers are read: a limiter those headers
// make counts the request being settled too (the server has counted it).
func (b *modelBuckets) landed(reserved int) {
	b.inFlight, b.inFlightTokens = max(0, b.inFlight-1), max(0, b.inFlightTokens-reserved)
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

// level is what limit k's bucket holds now (+Inf when it has no limit).
func (b *modelBuckets) level(now time.Time, k limitKind) float64 {
	if lim := b.lim[k]; lim != nil {
		return lim.TokensAt(now)
	}
	return math.Inf(1)
}

// bucketSet is one quota's buckets, by model, made on first use from the
// configured limits. The scheduler uses it under its mutex.
type bucketSet struct {
	limitsFor func(model string) limitSpec
	margin    time.Duration
	withStore bool    // a QuotaStore is in use: its members' spending is not foreign
	plan      orgPlan // the organization's plan, as its answers showed it
	models    map[string]*modelBuckets
}

func newBucketSet(limitsFor func(string) limitSpec, margin time.Duration, withStore bool) *bucketSet {
	return &bucketSet{limitsFor: limitsFor, margin: margin, withStore: withStore, models: map[string]*modelBuckets{}}
}

// of is model's buckets.
func (m *bucketSet) of(now time.Time, model string) *modelBuckets {
	b, ok := m.models[model]
	if !ok {
		b = newModelBuckets(now, m.limitsFor(model), &m.plan, m.margin)
		b.members.store = m.withStore
		m.models[model] = b
	}
	return b
}

// reconfigure re-reads the configured limits of every model it holds and changes
// its limiters in place.
func (m *bucketSet) reconfigure(now time.Time) {
	for model, b := range m.models {
		spec := m.limitsFor(model)
		b.configured, b.table = spec.Limits, spec.table
		b.apply(now)
	}
}

// applyAll brings every model's limiters in line with the limits in force (after
// the organization's plan showed to be above the table).
func (m *bucketSet) applyAll(now time.Time) {
	for _, b := range m.models {
		b.apply(now)
	}
}

// QuotaSnapshot describes one quota's buckets for one model. A used figure is -1
// when that limit is unknown.
type QuotaSnapshot struct {
	Name string // organization name, or "key#N"
	Keys []int  // indexes of the quota's keys

	Limits Limits // in force: configured, lowered by what Groq said
	// Sources says where each limit in force came from: configured, Groq's
	// headers, a 429's message, or the built-in table.
	Sources LimitSources
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
	s := QuotaSnapshot{Limits: b.limits(), Sources: b.sources(), Burst: b.bursts(), PacingMargin: b.margin, LastHeaders: b.last}
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

// The limits the buckets enforce.

// Limits are one model's rate limits for one quota (an organization, or a key that
// stands alone). A zero field means unlimited or unknown: the client then learns
// what it can from Groq's x-ratelimit-* headers and 429 messages.
type Limits struct {
	RPM           int // requests per minute
	RPD           int // requests per day
	TPM           int // tokens per minute
	TPD           int // tokens per day
	ContextWindow int // prompt plus completion tokens the model accepts
	// ASH and ASD are the seconds of audio per hour and per day of a
	// speech-to-text model. No header reports them: the client learns them from
	// 429 messages. A transcription costs its audio's duration, at least
	// MinAudioSeconds.
	ASH, ASD int
}

// DefaultRPM is the per-minute request limit applied to a model with no RPM of its
// own (WithRPM changes it).
const DefaultRPM = 30

// DefaultModel is the model a request without one uses (WithDefaultModel changes it).
const DefaultModel = "llama-3.1-8b-instant"

// builtinLimits is Groq's published table, the free plan's (internal/limits, which
// groqtest shares): a floor the client starts from, which Groq's headers and 429s
// correct (learn.go). Limits change over time: these are defaults, not truths.
var builtinLimits = func() map[string]Limits {
	out := map[string]Limits{}
	for name, m := range limits.Published() {
		out[name] = Limits{RPM: m.RPM, RPD: m.RPD, TPM: m.TPM, TPD: m.TPD, ContextWindow: m.ContextWindow, ASH: m.ASH, ASD: m.ASD}
	}
	return out
}()

// BuiltinLimits returns a copy of the client's built-in table of Groq's published
// limits, by model.
func BuiltinLimits() map[string]Limits {
	out := make(map[string]Limits, len(builtinLimits))
	for k, v := range builtinLimits {
		out[k] = v
	}
	return out
}

func (l Limits) validate() string {
	switch {
	case l.RPM < 0:
		return "RPM is negative"
	case l.RPD < 0:
		return "RPD is negative"
	case l.TPM < 0:
		return "TPM is negative"
	case l.TPD < 0:
		return "TPD is negative"
	case l.ContextWindow < 0:
		return "ContextWindow is negative"
	case l.ASH < 0:
		return "ASH is negative"
	case l.ASD < 0:
		return "ASD is negative"
	}
	return ""
}

// LimitSource says where a limit in force came from (QuotaSnapshot.Sources).
type LimitSource string

// The sources of a limit, from the strongest evidence to none.
const (
	// SourceConfigured: WithModelLimits, WithRPM or the config file. The user's
	// figure is a ceiling: Groq's headers and 429s may lower it, never raise it.
	SourceConfigured LimitSource = "configured"
	// SourceRateLimit: a 429's message named the limit ("requests per minute
	// (RPM): Limit 240").
	SourceRateLimit LimitSource = "429"
	// SourceHeaders: Groq's x-ratelimit-* headers (the RPD and the TPM only).
	SourceHeaders LimitSource = "headers"
	// SourceTable: the built-in table (Groq's free plan) or DefaultRPM. A floor
	// to start from, not a ceiling: when the organization's headers show a limit
	// above the table, the table's other figures are dropped for that quota.
	SourceTable LimitSource = "table"
	// SourceNone: no limit is known and none is in force.
	SourceNone LimitSource = ""
)

// LimitSources says where each limit of a Limits came from.
type LimitSources struct {
	RPM, RPD, TPM, TPD, ASH, ASD LimitSource
}

// limitSpec is a model's configured limits and which of them are only the
// built-in table's guess (or DefaultRPM's) rather than the user's.
type limitSpec struct {
	Limits
	table [numKinds]bool
}

// tokenEpsilon absorbs float rounding when a limiter's tokens are compared with a
// whole request.
const tokenEpsilon = 1e-6

// limitKind names one of a model's limits: requests and tokens per minute and per
// day, and audio seconds per hour and per day.
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

// maxRequestTokens bounds what one request can have cost when its model's context
// window is unknown (the largest context windows are about 2M tokens): a usage
// figure above it is a server's (or a proxy's) error.
const maxRequestTokens = 1 << 21
