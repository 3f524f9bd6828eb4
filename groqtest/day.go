package groqtest

import (
	"fmt"
	"time"
)

// This file is a day already spent: the requests and tokens of a model's RPD and
// TPD that earlier runs (or another program of the organization) used before
// the server started. A spent day shows as Groq shows it: the answers'
// x-ratelimit-remaining-requests is 0 and x-ratelimit-reset-requests is hours
// (a day's bucket refills over 24 h), and the 429 names the limit ("on requests
// per day (RPD): Limit 1000, Used 1000, Requested 1. Please try again in
// 1m26.4s."). Groq has no header for TPD: a spent TPD shows in the 429 only.

// spentDay is what WithSpentToday says was spent of one model's day.
type spentDay struct{ requests, tokens int }

// WithSpentToday makes every organization begin its day on model with requests
// of its RPD and tokens of its TPD already spent, as if earlier runs had spent
// them: WithSpentToday(m, 1000, 0) on a model of RPD 1000 answers its first
// request with a 429 on requests per day. The day's buckets refill as Groq's
// do, continuously over 24 h (one request of RPD 1000 every 86.4 s). The
// model's limits come from WithModel (or the default table); requests or tokens
// above its RPD or TPD, or given for a model without that limit, or negative,
// make NewServer panic, as does a model the server does not serve. Given twice
// for one model, the later wins.
func WithSpentToday(model string, requests, tokens int) Option {
	return func(s *Server) {
		if model == "" {
			panic("groqtest: WithSpentToday: empty model name")
		}
		if requests < 0 || tokens < 0 {
			panic(fmt.Sprintf("groqtest: WithSpentToday(%q): negative requests %d or tokens %d", model, requests, tokens))
		}
		if s.spent == nil {
			s.spent = map[string]spentDay{}
		}
		s.spent[model] = spentDay{requests, tokens}
	}
}

// checkSpent panics when WithSpentToday names a model that is not served, or
// spends more than its day. Run once the models are known.
func (s *Server) checkSpent() {
	for model, sp := range s.spent {
		l, ok := s.models[model]
		switch {
		case !ok:
			panic(fmt.Sprintf("groqtest: WithSpentToday: model %q is not served", model))
		case sp.requests > l.RPD:
			panic(fmt.Sprintf("groqtest: WithSpentToday(%q): %d requests; its RPD is %d", model, sp.requests, l.RPD))
		case sp.tokens > l.TPD:
			panic(fmt.Sprintf("groqtest: WithSpentToday(%q): %d tokens; its TPD is %d", model, sp.tokens, l.TPD))
		}
	}
}

// spendToday takes from a new organization and model's day buckets what
// WithSpentToday says was spent. s.mu is held.
func (s *Server) spendToday(om *orgModel, model string, now time.Time) {
	sp, ok := s.spent[model]
	if !ok {
		return
	}
	if om.rpd != nil && sp.requests > 0 {
		om.rpd.take(now, float64(sp.requests))
	}
	if om.tpd != nil && sp.tokens > 0 {
		om.tpd.take(now, float64(sp.tokens))
	}
}
