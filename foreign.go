package groq

import (
	"math"
	"time"
)

// This file estimates what programs the client cannot see spend from a quota: a
// notebook, a cron job, a second service without the QuotaStore, a teammate's
// script on the same organization.
//
// Groq sends no per-minute request header, but every response says how many
// requests the day has left (x-ratelimit-remaining-requests) and how many tokens
// the minute has left (x-ratelimit-remaining-tokens), and both fall with every
// program's spending. The client's buckets already hold what this process (and,
// with a QuotaStore, every member process) has spent, so when a header says the
// server has less left than the local bucket holds, the difference is spending
// the client did not account for: another program's. The bucket is pulled down
// to the header (tokenbucket.go), and the difference is recorded here. From it
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
