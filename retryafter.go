package groq

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/groqkit/groq/internal/retry"
)

// This file reads what a 429 (or any refusal) says: how long to wait, which limit
// was hit, and what the server counted. The wait's parsing lives in internal/retry,
// which the command shares.

// serverWait reads the wait a response asks for: retry-after-ms, retry-after
// (integer or decimal seconds, or an HTTP date), and for a 429 Groq's "try again
// in 5.289s" when it is longer than the header. ok is false when the response gives
// no usable wait. now stands for the time the response came.
func serverWait(h http.Header, status int, message string, now time.Time) (time.Duration, bool) {
	return retry.ServerWait(h, status, message, now)
}

// messageWait reads only a 429 message's "try again in 100ms": the bucket's own
// state, finer than an integer Retry-After.
func messageWait(message string) (time.Duration, bool) {
	return retry.MessageWait(message)
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
