package main

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// recorder is the clients' transport. It counts, as the process saw it, every
// request sent on a key after a 429 for that key had been received and before the
// wait it asked for (retry-after-ms, else retry-after) had passed. Counted on the
// client's side, it charges a client only for what it could have known; the
// server's own count (groqtest's Violations) also charges requests that were
// already on the wire when the 429 left.
type recorder struct {
	next http.RoundTripper

	mu    sync.Mutex
	until map[string]time.Time // by Authorization header: end of the last 429's wait
	early int
}

func newRecorder() *recorder {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	return &recorder{next: tr, until: map[string]time.Time{}}
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	auth := req.Header.Get("Authorization")
	r.mu.Lock()
	if time.Now().Before(r.until[auth]) {
		r.early++
	}
	r.mu.Unlock()
	resp, err := r.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		if wait, ok := retryAfter(resp.Header); ok {
			end := time.Now().Add(wait)
			r.mu.Lock()
			if end.After(r.until[auth]) {
				r.until[auth] = end
			}
			r.mu.Unlock()
		}
	}
	return resp, err
}

func (r *recorder) sentEarly() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.early
}

func (r *recorder) close() { r.next.(*http.Transport).CloseIdleConnections() }

func retryAfter(h http.Header) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	if secs, err := strconv.ParseFloat(strings.TrimSpace(h.Get("Retry-After")), 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), true
	}
	return 0, false
}
