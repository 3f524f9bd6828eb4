package groq

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxSaneWait bounds what the client takes for a real server-directed wait. A longer
// value (a 35-digit number, a date in another century) is treated as garbage and the
// client falls back to its own backoff instead.
const maxSaneWait = 31 * 24 * time.Hour

// serverWait reads the wait a response asks for, in order: retry-after-ms,
// retry-after (integer or decimal seconds, or an HTTP date), and, for a 429, Groq's
// "try again in 5.289s" in the error message when it is longer than the header. It
// returns false when the response gives no usable wait: no header, or a negative,
// unparsable or absurd one. It is pure: now stands for the time the response came.
func serverWait(h http.Header, status int, message string, now time.Time) (time.Duration, bool) {
	wait, ok := headerWait(h, now)
	if status == http.StatusTooManyRequests {
		if m, mok := messageWait(message); mok && (!ok || m > wait) {
			wait, ok = m, true
		}
	}
	return wait, ok
}

// headerWait parses retry-after-ms, then retry-after.
func headerWait(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && saneSeconds(ms/1000) {
			return secondsToDuration(ms / 1000), true
		}
	}
	return parseRetryAfter(h.Get("Retry-After"), now)
}

// parseRetryAfter reads a Retry-After value: whole or decimal seconds, or an HTTP
// date (a date in the past means no wait).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if !saneSeconds(secs) {
			return 0, false
		}
		return secondsToDuration(secs), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		return 0, true
	}
	if d > maxSaneWait {
		return 0, false
	}
	return d, true
}

// messageWait finds Groq's "try again in <duration>" in an error message.
func messageWait(msg string) (time.Duration, bool) {
	const marker = "try again in "
	i := indexFold(msg, marker)
	if i < 0 {
		return 0, false
	}
	rest := msg[i+len(marker):]
	if j := strings.IndexAny(rest, " \t\n,;"); j >= 0 {
		rest = rest[:j]
	}
	rest = strings.TrimRight(rest, ".")
	d, err := time.ParseDuration(rest)
	if err != nil || d < 0 || d > maxSaneWait {
		return 0, false
	}
	return d, true
}

// indexFold is a case-insensitive strings.Index that keeps byte offsets valid
// (lowering a string first can change its length when it is not valid UTF-8).
func indexFold(s, substr string) int {
	for i := 0; i+len(substr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(substr)], substr) {
			return i
		}
	}
	return -1
}

func saneSeconds(s float64) bool {
	return !math.IsNaN(s) && s >= 0 && s <= maxSaneWait.Seconds()
}

func secondsToDuration(s float64) time.Duration {
	return time.Duration(math.Ceil(s * float64(time.Second)))
}

// ParseRetryAfter reads the wait a response asks for, as the client does: the
// retry-after-ms header, then retry-after (integer or decimal seconds, or an HTTP
// date; a past date means no wait), and, for a 429, Groq's "try again in 5.289s"
// in message when it is longer than the header. ok is false when the response
// gives no usable wait (absent, negative, unparsable or absurd). now is the time
// the response arrived.
func ParseRetryAfter(h http.Header, status int, message string, now time.Time) (wait time.Duration, ok bool) {
	return serverWait(h, status, message, now)
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

// parseLimitSignal reads a 429 message; ok is false when it names none of RPM,
// RPD, TPM and TPD.
func parseLimitSignal(msg string) (sig limitSignal, ok bool) {
	for k := range numKinds {
		if strings.Contains(msg, "("+k.String()+")") {
			sig.kind, ok = k, true
			break
		}
	}
	if !ok {
		return limitSignal{}, false
	}
	sig.limit, sig.used, sig.requested = numberAfter(msg, "Limit "), numberAfter(msg, "Used "), numberAfter(msg, "Requested ")
	return sig, true
}

// serverCost is the token count the server charged a refused request, from a TPM
// or TPD message's "Requested N" (0 when it gave none): the truth a retry reserves.
func (sig limitSignal) serverCost() int {
	if (sig.kind == kindTPM || sig.kind == kindTPD) && sig.requested > 0 {
		return sig.requested
	}
	return 0
}

// numberAfter reads the whole number that follows marker in s ("~" before it is
// allowed), or -1.
func numberAfter(s, marker string) int {
	i := strings.Index(s, marker)
	if i < 0 {
		return -1
	}
	s = strings.TrimPrefix(s[i+len(marker):], "~")
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
