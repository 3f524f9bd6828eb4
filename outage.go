package groq

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// This file is what the client does while its QuotaStore does not answer (and it
// does not fail closed): it paces each quota and model at this process's share of
// the limits, keeps what it sent, and charges that to the store when it answers
// again, before the store admits anything more from this process.

// QuotaCharger is a QuotaStore that can be charged what a process sent while the
// store did not answer. The client calls Charge once the store answers again,
// before it asks the store to admit anything more, so that the shared buckets
// hold what every process spent during the outage. A QuotaStore that is not a
// QuotaCharger is charged the tokens alone, through Settle.
type QuotaCharger interface {
	// Charge takes spent (requests and tokens) from every bucket of r's quota
	// and model with a limit (r.Limits, r.Burst as for Take), whatever the
	// buckets hold: a bucket may go into debt, which later admissions wait out.
	// r.Tokens is not used. It adds spent to what the store reports in
	// QuotaDecision.Spent.
	Charge(ctx context.Context, r QuotaRequest, spent QuotaSpent) error
}

// outage is the client's side of a QuotaStore that does not answer: the members
// each quota and model had when the store last answered, the buckets that pace
// this process at its share meanwhile, and what it sent then. Safe for concurrent
// use; the mutex is also held while what is owed is charged back, so that no
// call is admitted by the store before the charge.
type outage struct {
	mu      sync.Mutex
	members map[string]int        // quota|model -> the store's last count of its processes
	paces   map[string]*sharePace // quota|model -> this process's share, while the store is down
	owed    map[string]*owed      // quota|model -> sent while the store was down, not charged yet
	pending atomic.Bool           // owed is not empty
}

// owed is what this process sent on one quota and model while the store did not
// answer, and the longest cooldown a 429 asked for meanwhile.
type owed struct {
	req       QuotaRequest // the last request (quota, model, limits and depths)
	spent     QuotaSpent
	coolUntil time.Time
	charged   bool // charged to the store: later corrections go to Settle
}

func outageKey(quota, model string) string { return quota + "|" + model }

// counted records the store's count of the processes on r's quota and model.
func (o *outage) counted(r QuotaRequest, members int) {
	if members <= 0 {
		return
	}
	k := outageKey(r.Quota, r.Model)
	o.mu.Lock()
	if o.members[k] != members {
		if o.members == nil {
			o.members = map[string]int{}
		}
		o.members[k] = members
	}
	o.mu.Unlock()
}

// admit paces r at this process's share while the store does not answer. It
// returns 0 and what r is owed under when r may be sent now (its request and
// tokens are owed to the store), or how long until it could be.
func (o *outage) admit(now time.Time, r QuotaRequest) (time.Duration, *owed) {
	k := outageKey(r.Quota, r.Model)
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.paces[k]
	if p == nil {
		if o.paces == nil {
			o.paces = map[string]*sharePace{}
		}
		p = newSharePace(now, r.Limits, r.Burst, max(o.members[k], 1))
		o.paces[k] = p
	}
	if wait := p.take(now, r.Tokens); wait > 0 {
		return wait, nil
	}
	d := o.debt(k, r)
	d.spent.Requests++
	d.spent.Tokens += int64(r.Tokens)
	return 0, d
}

// debt is the entry of what is owed on quota and model k. o.mu is held.
func (o *outage) debt(k string, r QuotaRequest) *owed {
	d := o.owed[k]
	if d == nil {
		if o.owed == nil {
			o.owed = map[string]*owed{}
		}
		d = &owed{}
		o.owed[k] = d
		o.pending.Store(true)
	}
	d.req = r
	return d
}

// cooled records a cooldown the store could not be told.
func (o *outage) cooled(r QuotaRequest, until time.Time) {
	o.mu.Lock()
	d := o.debt(outageKey(r.Quota, r.Model), r)
	if until.After(d.coolUntil) {
		d.coolUntil = until
	}
	o.mu.Unlock()
}

// settled corrects what d owes after the answer to a request sent under it:
// unused tokens back (or more charged), the request back when the server did not
// count it. It reports false when d was already charged to the store: the
// correction goes to the store then.
func (o *outage) settled(now time.Time, d *owed, reserved, used int, counted bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d.charged {
		return false
	}
	delta := -reserved
	if counted {
		delta = used - reserved
	} else {
		d.spent.Requests--
	}
	d.spent.Tokens += int64(delta)
	if p := o.paces[outageKey(d.req.Quota, d.req.Model)]; p != nil {
		p.adjust(now, counted, delta)
	}
	return true
}

// chargeBack charges the store what this process sent while it did not answer,
// and the cooldowns it could not share, then forgets the outage's pacing. It
// stops at the first failure: what is left stays owed.
func (o *outage) chargeBack(ctx context.Context, store QuotaStore) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, d := range o.owed {
		if d.spent.Requests > 0 || d.spent.Tokens > 0 {
			if op, err := chargeStore(ctx, store, d); err != nil {
				return op, err
			}
		}
		if wait := time.Until(d.coolUntil); wait > 0 {
			if err := store.CoolDown(ctx, d.req.Quota, d.req.Model, wait); err != nil {
				return "CoolDown", err
			}
		}
		d.charged = true
		delete(o.owed, k)
	}
	o.pending.Store(false)
	clear(o.paces)
	return "", nil
}

// chargeStore takes d's spending from the store: with Charge when it has it, else the
// tokens through Settle.
func chargeStore(ctx context.Context, store QuotaStore, d *owed) (string, error) {
	if c, ok := store.(QuotaCharger); ok {
		return "Charge", c.Charge(ctx, d.req, d.spent)
	}
	if d.spent.Tokens <= 0 {
		return "", nil
	}
	return "Settle", store.Settle(ctx, d.req, QuotaSettlement{Used: int(d.spent.Tokens), Counted: true})
}

// sharePace is GCRA on the request and token buckets (per minute and per day) of
// one quota and model, at limits/members. Its per-minute buckets start empty: the
// store's, which they stand in for, may have been empty when it stopped
// answering, and every member starting full would send a minute's limit at once.
// Its per-day buckets start full (the per-minute ones pace a short outage; an
// empty daily share would hold a request back for many seconds).
type sharePace struct {
	tat   [4]time.Time     // theoretical arrival time per bucket
	every [4]time.Duration // emission interval: the period over the share; 0: no limit
	depth [4]float64       // the bucket's depth in requests or tokens
}

// paceOf lists a Limits' paced buckets: RPM, TPM, RPD, TPD.
func paceOf(l Limits) [4]int { return [4]int{l.RPM, l.TPM, l.RPD, l.TPD} }

var pacePeriods = [4]time.Duration{time.Minute, time.Minute, 24 * time.Hour, 24 * time.Hour}

func newSharePace(now time.Time, l, burst Limits, members int) *sharePace {
	p := &sharePace{}
	lim, dep := paceOf(l), paceOf(burst)
	for i, n := range lim {
		if n <= 0 {
			continue
		}
		share := float64(n) / float64(members)
		p.every[i] = time.Duration(float64(pacePeriods[i]) / share)
		depth := float64(n)
		if dep[i] > 0 && dep[i] < n {
			depth = float64(dep[i])
		}
		p.depth[i] = max(depth/float64(members), 1)
		p.tat[i] = now
		if pacePeriods[i] == time.Minute { // empty
			p.tat[i] = now.Add(time.Duration(p.depth[i] * float64(p.every[i])))
		}
	}
	return p
}

// take admits one request of tokens now, or says how long until it could.
func (p *sharePace) take(now time.Time, tokens int) time.Duration {
	var next [4]time.Time
	wait := time.Duration(0)
	for i, e := range p.every {
		if e == 0 {
			continue
		}
		cost := 1.0
		if i == 1 || i == 3 {
			cost = float64(max(tokens, 0))
		}
		tat := p.tat[i]
		if tat.Before(now) {
			tat = now
		}
		next[i] = tat.Add(time.Duration(cost * float64(e)))
		allow := tat // larger than the bucket: only from a full one
		if cost <= p.depth[i] {
			allow = next[i].Add(-time.Duration(p.depth[i] * float64(e)))
		}
		wait = max(wait, allow.Sub(now))
	}
	if wait > 0 {
		return wait
	}
	for i := range p.tat {
		if p.every[i] != 0 {
			p.tat[i] = next[i]
		}
	}
	return 0
}

// adjust corrects the token buckets by delta tokens, and gives the request back
// when the server did not count it. Only what has not refilled yet is given back.
func (p *sharePace) adjust(now time.Time, counted bool, delta int) {
	for i, e := range p.every {
		if e == 0 {
			continue
		}
		n := float64(delta)
		if i == 0 || i == 2 {
			if counted {
				continue
			}
			n = -1
		}
		switch {
		case n < 0 && p.tat[i].After(now):
			p.tat[i] = maxTime(now, p.tat[i].Add(time.Duration(n*float64(e))))
		case n > 0:
			p.tat[i] = maxTime(now, p.tat[i]).Add(time.Duration(n * float64(e)))
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
