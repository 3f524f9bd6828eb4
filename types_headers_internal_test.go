package groq

import (
	"math"
	"net/http"
	"testing"
	"time"
)

// FuzzRateLimitHeaders: whatever the x-ratelimit-* headers say (absurd numbers,
// negative ones, garbage), reading them and correcting the buckets from them
// terminates at once and leaves the buckets sane: no NaN, nothing above a
// bucket's depth, a ready time that is a time.
func FuzzRateLimitHeaders(f *testing.F) {
	for _, v := range [][6]string{
		{"14400", "14370", "2m59.56s", "18000", "17997", "7.66s"},
		{"9223372036854775807", "9223372036854775807", "1e400", "9223372036854775807", "-1", "NaN"},
		{"-5", "x", "", "0", "0", "-3s"},
		{"1", "99999999999999999999", "292y", "1", "1", "2562047h47m16.854775807s"},
	} {
		f.Add(v[0], v[1], v[2], v[3], v[4], v[5])
	}
	f.Fuzz(func(t *testing.T, limReq, leftReq, resetReq, limTok, leftTok, resetTok string) {
		h := http.Header{}
		h.Set("X-Ratelimit-Limit-Requests", limReq)
		h.Set("X-Ratelimit-Remaining-Requests", leftReq)
		h.Set("X-Ratelimit-Reset-Requests", resetReq)
		h.Set("X-Ratelimit-Limit-Tokens", limTok)
		h.Set("X-Ratelimit-Remaining-Tokens", leftTok)
		h.Set("X-Ratelimit-Reset-Tokens", resetTok)
		info := parseRateLimitHeaders(h, t0)
		if info.RequestsResetIn < 0 || info.TokensResetIn < 0 {
			t.Fatalf("negative reset: %+v", info)
		}
		b := userBuckets(t0, Limits{RPM: 30, TPM: 6000}, 50*time.Millisecond)
		b.reconcile(t0, b.reserve(t0, 100), 100, 100, true)
		b.observe(t0, info, false, time.Time{})
		b.observe(t0.Add(time.Second), info, true, time.Time{})
		for k, lim := range b.lim {
			if lim == nil {
				continue
			}
			if v := lim.TokensAt(t0.Add(time.Second)); math.IsNaN(v) || v > float64(lim.Burst())+tokenEpsilon {
				t.Fatalf("%s bucket holds %v of %d", limitKind(k), v, lim.Burst())
			}
		}
		if at, ok := b.readyAt(t0.Add(time.Second), 100); ok && at.Before(t0) {
			t.Fatalf("ready at %v, before now", at)
		}
	})
}
