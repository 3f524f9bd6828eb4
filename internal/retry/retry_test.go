package retry

import (
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestServerWait(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name   string
		header http.Header
		status int
		msg    string
		want   time.Duration
		ok     bool
	}{
		{"integer seconds", h("Retry-After", "20"), 429, "", 20 * time.Second, true},
		{"zero", h("Retry-After", "0"), 503, "", 0, true},
		{"negative", h("Retry-After", "-10"), 503, "", 0, false},
		{"decimal seconds", h("Retry-After", "1.5"), 503, "", 1500 * time.Millisecond, true},
		{"61 is returned as is (the cap is the caller's)", h("Retry-After", "61"), 429, "", 61 * time.Second, true},
		{"HTTP date in the future", h("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 503, "", 90 * time.Second, true},
		{"HTTP date in the past", h("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)), 503, "", 0, true},
		{"malformed date", h("Retry-After", "Mon, 32 Foo 2026 99:00:00 GMT"), 503, "", 0, false},
		{"35-digit number: the longest wait", h("Retry-After", "12345678901234567890123456789012345"), 429, "", maxSaneWait, true},
		{"ten years: the longest wait", h("Retry-After", "315360000"), 503, "", maxSaneWait, true},
		{"thirty days", h("Retry-After", "2592000"), 503, "", 30 * 24 * time.Hour, true},
		{"+Inf: the longest wait", h("Retry-After", "+Inf"), 503, "", maxSaneWait, true},
		{"1e400: the longest wait", h("Retry-After", "1e400"), 503, "", maxSaneWait, true},
		{"-Inf", h("Retry-After", "-Inf"), 503, "", 0, false},
		{"minus one", h("Retry-After", "-1"), 503, "", 0, false},
		{"HTTP date ten years ahead: the longest wait", h("Retry-After", now.AddDate(10, 0, 0).Format(http.TimeFormat)), 503, "", maxSaneWait, true},
		{"message of ten years", h(), 429, "Please try again in 87600h.", maxSaneWait, true},
		{"huge retry-after-ms", h("Retry-After-Ms", "1e30"), 503, "", maxSaneWait, true},
		{"empty", h("Retry-After", ""), 503, "", 0, false},
		{"absent", h(), 503, "", 0, false},
		{"garbage", h("Retry-After", "soon"), 503, "", 0, false},
		{"NaN", h("Retry-After", "NaN"), 503, "", 0, false},
		{"retry-after-ms first", h("Retry-After-Ms", "1500", "Retry-After", "2"), 503, "", 1500 * time.Millisecond, true},
		{"bad retry-after-ms falls to retry-after", h("Retry-After-Ms", "x", "Retry-After", "2"), 503, "", 2 * time.Second, true},
		{"message finer and longer than header", h("Retry-After", "5"), 429, "Please try again in 5.289s. Need more tokens?", 5289 * time.Millisecond, true},
		{"header longer than message", h("Retry-After", "6"), 429, "Please try again in 5.289s.", 6 * time.Second, true},
		{"message minutes", h("Retry-After", "60"), 429, "Limit 500000. Please try again in 1m0.36s.", 60360 * time.Millisecond, true},
		{"message without header", h(), 429, "Please try again in 150ms.", 150 * time.Millisecond, true},
		{"message duration 2m59.56s", h(), 429, "please try again in 2m59.56s", 2*time.Minute + 59560*time.Millisecond, true},
		{"message on a 503 is ignored", h(), 503, "Please try again in 7.66s.", 0, false},
		{"message unparsable", h("Retry-After", "3"), 429, "Please try again in a bit.", 3 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ServerWait(tt.header, tt.status, tt.msg, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ServerWait(%v, %d, %q) = %v, %v; want %v, %v", tt.header, tt.status, tt.msg, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzServerWait(f *testing.F) {
	for _, s := range []string{"20", "0", "-10", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "1e400", "12345678901234567890123456789012345", "", "NaN", "+Inf", "0x10"} {
		f.Add(s, "1500", "Please try again in 1m0.36s.")
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, ra, raMs, msg string) {
		h := http.Header{}
		h.Set("Retry-After", ra)
		h.Set("Retry-After-Ms", raMs)
		for _, status := range []int{429, 503} {
			d, ok := ServerWait(h, status, msg, now)
			if d < 0 {
				t.Fatalf("ServerWait(%q, %q, %q) = %v: negative", ra, raMs, msg, d)
			}
			if !ok && d != 0 {
				t.Fatalf("ServerWait(%q, %q, %q) = %v, false: a refused value must be 0", ra, raMs, msg, d)
			}
			if d > maxSaneWait {
				t.Fatalf("ServerWait(%q, %q, %q) = %v: past the sanity bound", ra, raMs, msg, d)
			}
			// A longer wait is never read as a shorter one: a number of seconds
			// above the bound is the bound.
			if s, err := strconv.ParseFloat(ra, 64); (err == nil || math.IsInf(s, 1)) && s > maxSaneWait.Seconds() && raMs == "" {
				if d2, _ := ServerWait(http.Header{"Retry-After": {ra}}, status, "", now); d2 != maxSaneWait {
					t.Fatalf("Retry-After %q = %v; want the longest wait %v", ra, d2, maxSaneWait)
				}
			}
		}
	})
}
