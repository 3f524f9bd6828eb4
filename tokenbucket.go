package groq

import (
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// tokenEpsilon absorbs float rounding when a limiter's tokens are compared with a
// whole request.
const tokenEpsilon = 1e-6

// modelBuckets holds one quota's limiters for one model, shaped like Groq's: each
// refills continuously and holds one period's worth (a minute for RPM and TPM, a
// day for RPD and TPD). A nil limiter is unlimited. It is not safe for concurrent
// use: the scheduler's mutex guards it.
type modelBuckets struct {
	configured Limits // what the user (or the built-in table) set; never exceeded
	learned    Limits // what Groq's headers and 429 messages said

	rpm, rpd, tpm, tpd *rate.Limiter

	coolUntil time.Time
	last      RateLimitInfo
}

func newModelBuckets(now time.Time, configured Limits) *modelBuckets {
	b := &modelBuckets{configured: configured}
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

// apply brings the limiters in line with the effective limits. A limiter whose limit
// changes is adjusted with SetLimitAt and SetBurstAt, keeping what it had consumed.
func (b *modelBuckets) apply(now time.Time) {
	l := b.limits()
	b.rpm = shapeLimiter(b.rpm, now, l.RPM, time.Minute)
	b.rpd = shapeLimiter(b.rpd, now, l.RPD, 24*time.Hour)
	b.tpm = shapeLimiter(b.tpm, now, l.TPM, time.Minute)
	b.tpd = shapeLimiter(b.tpd, now, l.TPD, 24*time.Hour)
}

func shapeLimiter(lim *rate.Limiter, now time.Time, n int, period time.Duration) *rate.Limiter {
	if n <= 0 {
		return nil
	}
	r := rate.Limit(float64(n) / period.Seconds())
	if lim == nil {
		lim = rate.NewLimiter(r, n)
		lim.SetBurstAt(now, n) // start full at now
		return lim
	}
	if lim.Limit() != r {
		lim.SetLimitAt(now, r)
	}
	if lim.Burst() != n {
		lim.SetBurstAt(now, n)
	}
	return lim
}

// each calls f for every limiter with the amount a request of tokens costs in it.
func (b *modelBuckets) each(tokens int, f func(lim *rate.Limiter, cost int)) {
	if b.rpm != nil {
		f(b.rpm, 1)
	}
	if b.rpd != nil {
		f(b.rpd, 1)
	}
	if b.tpm != nil {
		f(b.tpm, tokens)
	}
	if b.tpd != nil {
		f(b.tpd, tokens)
	}
}

// fits reports whether a request of tokens can ever be admitted (it is no larger
// than the token limits' capacities).
func (b *modelBuckets) fits(tokens int) bool {
	ok := true
	b.each(tokens, func(lim *rate.Limiter, cost int) {
		if cost > lim.Burst() {
			ok = false
		}
	})
	return ok
}

// readyAt is the earliest time, not before now, at which every limiter holds what a
// request of tokens costs and no cooldown is running. ok is false when the request
// can never fit.
func (b *modelBuckets) readyAt(now time.Time, tokens int) (at time.Time, ok bool) {
	at, ok = now, true
	if b.coolUntil.After(at) {
		at = b.coolUntil
	}
	b.each(tokens, func(lim *rate.Limiter, cost int) {
		if cost > lim.Burst() {
			ok = false
			return
		}
		avail := lim.TokensAt(now)
		if avail+tokenEpsilon >= float64(cost) {
			return
		}
		secs := (float64(cost) - avail) / float64(lim.Limit())
		if t := now.Add(time.Duration(math.Ceil(secs * float64(time.Second)))); t.After(at) {
			at = t
		}
	})
	return at, ok
}

// reserve takes a request's cost from every limiter.
func (b *modelBuckets) reserve(now time.Time, tokens int) {
	b.each(tokens, func(lim *rate.Limiter, cost int) { lim.ReserveN(now, cost) })
}

// reconcile settles a reservation. A request the server did not count gives back
// everything; a counted one gives back (or is charged) the difference between the
// tokens reserved and those it used.
func (b *modelBuckets) reconcile(now time.Time, reserved, used int, counted bool) {
	if !counted {
		b.each(reserved, func(lim *rate.Limiter, cost int) { giveBack(lim, now, cost) })
		return
	}
	diff := used - reserved
	for _, lim := range []*rate.Limiter{b.tpm, b.tpd} {
		if lim == nil {
			continue
		}
		if diff < 0 {
			giveBack(lim, now, -diff)
		} else if diff > 0 {
			charge(lim, now, diff)
		}
	}
}

// giveBack returns n tokens to lim, never past its capacity. A negative reservation
// is how x/time/rate adds tokens (ReserveN with no future limit always applies).
func giveBack(lim *rate.Limiter, now time.Time, n int) {
	room := float64(lim.Burst()) - lim.TokensAt(now)
	n = min(n, int(math.Floor(room)))
	if n > 0 {
		lim.ReserveN(now, -n)
	}
}

// charge takes n more tokens from lim, going into debt if it must; a charge larger
// than the capacity is taken in pieces.
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

// coolDown holds the model back until t; a cooldown is only ever extended.
func (b *modelBuckets) coolDown(t time.Time) {
	if t.After(b.coolUntil) {
		b.coolUntil = t
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
	pullDown(b.tpm, now, info.TokensLeftInMinute)
	pullDown(b.rpd, now, info.RequestsLeftToday)
}

// observeRateLimit learns from a 429's message ("... on requests per minute (RPM):
// Limit 30, Used 30, Requested 1 ...") which limit was hit and its size, and empties
// the local bucket of that limit accordingly.
func (b *modelBuckets) observeRateLimit(now time.Time, message string) {
	kind, limit, used, ok := parseLimitMessage(message)
	if !ok {
		return
	}
	var field *int
	switch kind {
	case "RPM":
		field = &b.learned.RPM
	case "RPD":
		field = &b.learned.RPD
	case "TPM":
		field = &b.learned.TPM
	case "TPD":
		field = &b.learned.TPD
	}
	if limit > 0 && *field != limit {
		*field = limit
		b.apply(now)
	}
	lim := map[string]*rate.Limiter{"RPM": b.rpm, "RPD": b.rpd, "TPM": b.tpm, "TPD": b.tpd}[kind]
	left := 0
	if kind[0] == 'T' && used >= 0 && limit > used {
		left = limit - used
	}
	pullDown(lim, now, left)
}

// parseLimitMessage reads the limit kind, its size and the used figure from Groq's
// 429 message. used is -1 when absent.
func parseLimitMessage(msg string) (kind string, limit, used int, ok bool) {
	for _, k := range []string{"RPM", "RPD", "TPM", "TPD"} {
		if strings.Contains(msg, "("+k+")") {
			kind = k
			break
		}
	}
	if kind == "" {
		return "", 0, 0, false
	}
	limit, used = numberAfter(msg, "Limit "), numberAfter(msg, "Used ")
	return kind, limit, used, true
}

func numberAfter(s, marker string) int {
	i := strings.Index(s, marker)
	if i < 0 {
		return -1
	}
	s = s[i+len(marker):]
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(s[:j])
	if err != nil {
		return -1
	}
	return n
}
