package groqtest

import (
	"fmt"
	"math"
	"time"
)

// OtherProgram is a program that the client under test does not see and that
// spends the same quota: a notebook, a cron job, a second service without the
// shared store, a teammate's script on the same organization.
//
// It sends RequestsPerMinute requests a minute for Model on Key's organization,
// evenly spaced, each up to Jitter late (uniform, from the server's seed), each
// costing one request against the request limits and Tokens against the token
// limits. It starts when the server first counts a chat request for that
// organization and model, with one request just before it (the program was
// already running), and goes on for For (0: for as long as the server does). A
// refused request is dropped, never retried.
//
// Its requests are counted apart, in Stats.Other; they appear in no other
// counter and not in Arrivals. They do spend the buckets, so the headers and 429
// messages the client gets show them, as Groq's would.
type OtherProgram struct {
	Key               string
	Model             string
	RequestsPerMinute float64
	Tokens            int
	Jitter            time.Duration
	For               time.Duration
}

// OtherStats counts the requests of every OtherProgram.
type OtherStats struct {
	Requests int // sent
	Refused  int // refused by a limit (a 429 or 413, for a client)
	Tokens   int // tokens spent by the admitted ones
}

// WithOtherProgram adds a program that spends a share of a quota (see
// OtherProgram). It may be given more than once.
func WithOtherProgram(p OtherProgram) Option {
	return func(s *Server) {
		switch {
		case p.Key == "":
			panic("groqtest: WithOtherProgram: empty key")
		case p.Model == "":
			panic("groqtest: WithOtherProgram: empty model")
		case !(p.RequestsPerMinute > 0) || math.IsInf(p.RequestsPerMinute, 0):
			panic(fmt.Sprintf("groqtest: WithOtherProgram: RequestsPerMinute %v, want a positive number", p.RequestsPerMinute))
		case p.Tokens < 0 || p.Jitter < 0 || p.For < 0:
			panic(fmt.Sprintf("groqtest: WithOtherProgram: negative Tokens, Jitter or For %+v", p))
		}
		s.others = append(s.others, p)
	}
}

// otherRun is one OtherProgram spending one organization and model's buckets.
type otherRun struct {
	p     OtherProgram
	start time.Time
	n     int       // requests sent so far
	next  time.Time // when the next one arrives
}

// attachOthers starts, on a new organization and model, the programs that spend
// it. s.mu is held.
func (s *Server) attachOthers(om *orgModel, org, model string, now time.Time) {
	for _, p := range s.others {
		if p.Model == model && s.orgLocked(p.Key) == org {
			om.others = append(om.others, &otherRun{p: p, start: now, next: now})
		}
	}
}

// runOthers lets the other programs spend om's buckets up to now, request by
// request in time order. Every use of the buckets calls it first. s.mu is held.
func (s *Server) runOthers(om *orgModel, now time.Time) {
	for {
		var r *otherRun
		for _, o := range om.others {
			if o.p.For > 0 && o.next.Sub(o.start) >= o.p.For {
				continue // it has stopped
			}
			if !o.next.After(now) && (r == nil || o.next.Before(r.next)) {
				r = o
			}
		}
		if r == nil {
			return
		}
		at := r.next
		s.stats.Other.Requests++
		if om.spend(at, r.p.Tokens) {
			s.stats.Other.Tokens += r.p.Tokens
		} else {
			s.stats.Other.Refused++
		}
		r.n++
		r.next = r.start.Add(time.Duration(float64(r.n) * float64(time.Minute) / r.p.RequestsPerMinute))
		if r.p.Jitter > 0 {
			r.next = r.next.Add(time.Duration(s.rng.Int64N(int64(r.p.Jitter))))
		}
		if r.next.Before(at) {
			r.next = at
		}
	}
}

// spend admits one request of tokens at t when every bucket can take it, as the
// client's requests are, and reports whether it did.
func (om *orgModel) spend(t time.Time, tokens int) bool {
	checks := []struct {
		b *bucket
		n float64
	}{{om.rpm, 1}, {om.rpd, 1}, {om.tpm, float64(tokens)}, {om.tpd, float64(tokens)}}
	for _, c := range checks {
		if c.b != nil && c.b.waitFor(t, c.n) > 0 {
			return false
		}
	}
	for _, c := range checks {
		if c.b != nil {
			c.b.take(t, c.n)
		}
	}
	return true
}

// orgLocked is the organization of key ("" when it is not accepted). s.mu is held.
func (s *Server) orgLocked(key string) string {
	if len(s.orgOfKey) == 0 {
		return "org_" + shortHash(key)
	}
	return s.orgOfKey[key]
}
