// Package retry holds what the client reads from a response to decide when to
// retry (the server's wait: retry-after-ms, retry-after, Groq's "try again in")
// and the backoff it uses otherwise. It is internal: the client and its command
// share it; users see the client's behaviour, not these functions.
package retry

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxSaneWait bounds a server-directed wait. A longer one (ten years, a 35-digit
// number, +Inf, a date in another century) is read as maxSaneWait: a wait past any
// maximum delay, which the client refuses at once. A longer wait must never mean a
// sooner retry, so it is never read as absent.
const maxSaneWait = 31 * 24 * time.Hour

// ServerWait reads the wait a response asks for, in order: retry-after-ms,
// retry-after (integer or decimal seconds, or an HTTP date), and, for a 429, Groq's
// "try again in 5.289s" in the error message when it is longer than the header. It
// returns false when the response gives no usable wait: no header, or a negative
// or unparsable one. A wait longer than maxSaneWait is maxSaneWait. It is pure: now
// stands for the time the response came.
func ServerWait(h http.Header, status int, message string, now time.Time) (time.Duration, bool) {
	wait, ok := headerWait(h, now)
	if status == http.StatusTooManyRequests {
		if m, mok := MessageWait(message); mok && (!ok || m > wait) {
			wait, ok = m, true
		}
	}
	return wait, ok
}

// headerWait parses retry-after-ms, then retry-after.
func headerWait(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, ok := parseNumber(v); ok {
			return secondsWait(ms / 1000)
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
	if secs, ok := parseNumber(v); ok {
		return secondsWait(secs)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		return 0, true
	}
	return min(d, maxSaneWait), true
}

// parseNumber reads a decimal number; one too large for a float64 is +Inf.
func parseNumber(v string) (float64, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil && !(errors.Is(err, strconv.ErrRange) && math.IsInf(f, 1)) {
		return 0, false
	}
	return f, true
}

// secondsWait is a wait of secs seconds: none when negative or not a number, at
// most maxSaneWait.
func secondsWait(secs float64) (time.Duration, bool) {
	switch {
	case math.IsNaN(secs) || secs < 0:
		return 0, false
	case secs > maxSaneWait.Seconds():
		return maxSaneWait, true
	}
	return SecondsToDuration(secs), true
}

// MessageWait finds Groq's "try again in <duration>" in an error message (a 429's
// wait to the bucket's own state, finer than an integer Retry-After).
func MessageWait(msg string) (time.Duration, bool) {
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
	if err != nil || d < 0 {
		return 0, false
	}
	return min(d, maxSaneWait), true
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

// SaneSeconds reports whether s is a usable wait in seconds: a number, not
// negative, within maxSaneWait.
func SaneSeconds(s float64) bool {
	return !math.IsNaN(s) && s >= 0 && s <= maxSaneWait.Seconds()
}

// SecondsToDuration converts seconds to a Duration, rounding up to the nanosecond.
func SecondsToDuration(s float64) time.Duration {
	return time.Duration(math.Ceil(s * float64(time.Second)))
}

// Jitter returns the next backoff sleep after prev, following AWS's
// "decorrelated jitter": sleep = min(max, rand[base, prev*3)). For the first retry,
// pass prev = 0. randN returns a uniform value in [0, n); it is a parameter so that
// tests can pin the draw.
func Jitter(prev, base, max time.Duration, randN func(int64) int64) time.Duration {
	if base <= 0 {
		return 0
	}
	if prev < base {
		prev = base
	}
	hi := prev * 3
	if hi/3 != prev { // overflow
		hi = math.MaxInt64
	}
	if hi <= base {
		return min(base, max)
	}
	return min(base+time.Duration(randN(int64(hi-base))), max)
}

// RandN is a uniform draw in [0, n) from math/rand/v2, safe for concurrent use.
func RandN(n int64) int64 { return rand.Int64N(n) }

// Next draws the sleep before the next retry when the server gave no wait:
// decorrelated jitter, min(max, random in [base, 3×prev)). Pass prev = 0 for the
// first retry. It is safe for concurrent use.
func Next(prev, base, max time.Duration) time.Duration {
	return Jitter(prev, base, max, RandN)
}
