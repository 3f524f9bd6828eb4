package groq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// QuotaStore is rate-limit state shared by every process that calls Groq with the
// same keys: replicas of a service, workers of a batch job. Without one, each
// client paces itself against the whole limit, so N processes may send N times
// it. Plug one in with WithQuotaStore; the redisstore module
// (github.com/groqkit/groq/redisstore) is one on Redis.
//
// The client keeps its own in-memory buckets and queue: priority within the
// process, per-model queues, the choice of key, the pacing margin and the
// deadline checks work as without a store. A call that its own buckets admit then
// asks the store with Take, just before it is sent. A refusal puts the call back
// in its queue, in its place, and holds that quota and model in this process until
// the store's wait has passed (plus the pacing margin).
//
// Quotas are named by the client, never by a key: "org:NAME" for an organization
// declared with WithOrganization or a config file, and "key:HASH" (the first 16
// hex digits of the key's SHA-256) for a key on its own. Processes that use the same
// key, or keys of the same declared organization, share a quota.
//
// The methods are called concurrently from many goroutines: Take with the
// calling Chat's context, the others with a background context (what a call
// learnt must reach the store even when its caller has gone), so a store bounds
// each operation with its own timeout.
//
// An error means the store could not answer: a call does not fail for it. The
// client logs the switch once at Warn and, until the store answers again, admits
// on its in-memory buckets and also paces each quota and model at this process's
// share of the limits: the limits over the store's last count of its processes
// (QuotaDecision.Members; 1 when it never counted), from an empty bucket, so that
// N processes together send no more than the limits while they cannot see one
// another. A 429's Retry-After still holds this process back. When the store
// answers again, the client first charges it what this process sent meanwhile
// (Charge, when the store is a QuotaCharger; else the tokens through Settle) and
// the cooldowns it could not share, and only then asks it to admit again; it logs
// the return once at Info. With WithQuotaStoreFailClosed, a call fails instead
// with a *QuotaStoreError.
type QuotaStore interface {
	// Take is admission, and must be atomic across processes. It checks every
	// bucket of r's quota and model with a limit (requests and tokens per minute
	// and per day, and a cooldown). If all of them can take one request and
	// r.Tokens now, it takes them from all of them and returns OK. Otherwise it
	// takes nothing and returns how long until it could (Wait, measured on the
	// store's clock).
	//
	// A bucket's rate is its limit per period. Its depth is the limit, or r.Burst
	// when that is lower. A request larger than the depth is admitted only from a
	// full bucket. Priority: while a call more urgent than r.Priority waits on the
	// same quota and model in another process, r must leave that call's request
	// and tokens in the buckets. A refused call becomes such a waiter until shortly
	// after its Wait. When r is admitted, r.NextPriority is the process's next
	// waiter on this quota and model (0: none).
	Take(ctx context.Context, r QuotaRequest) (QuotaDecision, error)
	// Settle corrects an admitted request after its answer. It gives back what
	// was reserved and not used (or charges more), gives back the request itself
	// when the server did not count it, and lowers the buckets to what the
	// response's headers said is left.
	Settle(ctx context.Context, r QuotaRequest, s QuotaSettlement) error
	// CoolDown holds quota and model back in every process until now+wait, after
	// a 429 asked for that wait. A cooldown is only ever extended.
	CoolDown(ctx context.Context, quota, model string, wait time.Duration) error
	// Learn records that the server's bucket for one limit ("RPM" or "TPM") of
	// quota and model is only burst deep. The store applies the lowest depth it was
	// told, and forgets it after a few quiet minutes.
	Learn(ctx context.Context, quota, model, limit string, burst int) error
	// Usage is what the shared buckets of quota and model hold now.
	Usage(ctx context.Context, quota, model string, l Limits) (QuotaUsage, error)
}

// QuotaRequest is one request's admission by a QuotaStore.
type QuotaRequest struct {
	Quota string // "org:NAME" or "key:HASH"; never a key
	Model string
	// Limits are the limits in force for the quota and model. A zero field is
	// unlimited; ContextWindow is not used.
	Limits Limits
	// Burst holds depths lower than the limit, for the RPM and TPM buckets, that
	// this process has learnt or was configured with. 0 means the limit.
	Burst        Limits
	Tokens       int // tokens to reserve: the prompt's estimate and the completion's
	Priority     int // 1 (most urgent) to 10
	NextPriority int // after admission: this process's next waiter on the quota and model (0: none)
}

// QuotaDecision is a QuotaStore's answer to Take.
type QuotaDecision struct {
	OK   bool
	Wait time.Duration // when not OK: until the buckets could take the request
	// Spent, when the store counts it, is what every process sharing the quota
	// and model has taken so far, this one's included, net of what settlements
	// gave back or charged. The client reads its other members' spending from it,
	// so that their requests, which the server's headers show, are not taken for
	// another program's (see ForeignSpending). With a store that leaves it nil the
	// client cannot tell its members from other programs, and reads nothing as
	// foreign on that quota.
	Spent *QuotaSpent
	// Members, when the store counts them, is how many processes took from or
	// waited on the quota and model lately, this one included (0: not counted).
	// While the store does not answer, the client paces at the limits over the
	// last count it was told.
	Members int
}

// QuotaSpent is what a QuotaStore's members have taken from one quota and
// model's buckets: requests and tokens, each cumulative since the store began
// counting (a store may start again from 0, after its state expired).
type QuotaSpent struct {
	Requests, Tokens int64
}

// QuotaSettlement is what became of an admitted request.
type QuotaSettlement struct {
	Reserved int           // tokens Take reserved
	Used     int           // tokens the server counted (when Counted)
	Counted  bool          // false: the server did not count the request (a 5xx, a connection never made)
	Headers  RateLimitInfo // the response's x-ratelimit-* headers (zero fields: absent)
}

// QuotaUsage is what a shared quota's buckets hold now. A used figure is -1 when
// its limit is unknown.
type QuotaUsage struct {
	RequestsThisMinute, TokensThisMinute int
	RequestsToday, TokensToday           int
	CoolingFor                           time.Duration // 0: not cooling down
}

// ErrQuotaStoreUnavailable matches a *QuotaStoreError.
var ErrQuotaStoreUnavailable = errors.New("groq: quota store unavailable")

// QuotaStoreError is a call refused because the QuotaStore could not answer and
// the client was built with WithQuotaStoreFailClosed. Nothing was sent.
type QuotaStoreError struct {
	Op  string // the store's method
	Err error
}

func (e *QuotaStoreError) Error() string {
	return fmt.Sprintf("groq: quota store unavailable (%s): %v; nothing was sent", e.Op, e.Err)
}

// Is matches ErrQuotaStoreUnavailable.
func (e *QuotaStoreError) Is(target error) bool { return target == ErrQuotaStoreUnavailable }

// Unwrap returns the store's error.
func (e *QuotaStoreError) Unwrap() error { return e.Err }

// storeHealth logs when a shared store (quotas, budget) stops and starts
// answering: the first failure after a success at Warn, the first success after a
// failure at Info. Safe for concurrent use.
type storeHealth struct {
	down           atomic.Bool // the last operation failed: the client works on its own
	log            *slog.Logger
	downMsg, upMsg string
}

func (h *storeHealth) failed(op string, err error) {
	if !h.down.Swap(true) {
		h.log.LogAttrs(context.Background(), slog.LevelWarn, h.downMsg, slog.String("op", op), slog.String("error", err.Error()))
	}
}

func (h *storeHealth) answered() {
	if h.down.Swap(false) {
		h.log.LogAttrs(context.Background(), slog.LevelInfo, h.upMsg)
	}
}

// quotaSync keeps the scheduler's quotas in step with the other processes that
// share its limits: storeSync does it through a QuotaStore; noStore, the
// scheduler's value without one, does nothing. Only storeSync (and the outage it
// keeps) calls a QuotaStore; the store bounds each call with its own timeout.
type quotaSync interface {
	// request is the request to put to the store for w, which take reserves on
	// quota q (b: its buckets for w's model). s.mu is held.
	request(s *scheduler, q *quota, b *modelBuckets, w *waiter) QuotaRequest
	// admit asks the store to admit g just before it is sent (see
	// Client.storeAdmit). admitted: the store admitted g; owed: g is sent under
	// what is owed to the store while it does not answer.
	admit(ctx context.Context, c *Client, g grant) (admitted bool, owed *owed, f *failure)
	// settle tells the store what became of g, after the buckets of this process
	// were settled with o and learnt l.
	settle(g grant, o outcome, l lesson)
	// coolDown holds g's quota and model back until t in every process.
	coolDown(g grant, t time.Time)
	// appendName appends q's name in the store to names, for usage. s.mu is held.
	appendName(names []string, s *scheduler, q *quota) []string
	// usage sets each quota's Shared to what the store's buckets of model hold,
	// quotas[i] being the one named names[i]. s.mu is not held.
	usage(model string, names []string, quotas []QuotaSnapshot)
}

// storeSync is quotaSync through a QuotaStore, and the only code that calls one
// (through its outage too, when the store answers again).
type storeSync struct {
	storeHealth
	store      QuotaStore
	failClosed bool
	margin     time.Duration
	outage     outage // while the store does not answer (outage.go)
}

func newStoreSync(store QuotaStore, failClosed bool, margin time.Duration, log *slog.Logger) *storeSync {
	return &storeSync{store: store, failClosed: failClosed, margin: margin, storeHealth: storeHealth{log: log,
		downMsg: "groq: the quota store does not answer; pacing at this process's share of the limits until it does",
		upMsg:   "groq: the quota store answers again; what was sent meanwhile is charged to it; limits are shared again"}}
}

func (ss *storeSync) request(s *scheduler, q *quota, b *modelBuckets, w *waiter) QuotaRequest {
	r := QuotaRequest{Quota: s.storeName(q), Model: w.model, Limits: b.limits(), Burst: b.bursts(),
		Tokens: w.tokens, Priority: w.priority}
	if next := s.groups[w.model]; next != nil && len(next.q) > 0 {
		r.NextPriority = next.q[0].priority
	}
	return r
}

// admit returns no failure to send g; a failure with requeue when the store (or,
// while it does not answer, this process's share) refused: g's quota is held
// back in this process for the wait (the call then settles g as never sent); a final failure when the store
// could not answer and the client fails closed. What this process sent while the
// store did not answer is charged to it before it is asked again.
func (ss *storeSync) admit(ctx context.Context, c *Client, g grant) (bool, *owed, *failure) {
	var d QuotaDecision
	var op string
	var err error
	if ss.outage.pending.Load() {
		op, err = ss.outage.chargeBack(context.Background(), ss.store)
	}
	if err == nil {
		op = "Take"
		d, err = ss.store.Take(ctx, g.storeReq)
	}
	if err != nil && ctx.Err() != nil { // the caller gave up: not the store's failure
		return false, nil, &failure{err: c.ctxError(ctx, g.model, nil), final: true}
	}
	if err != nil {
		ss.failed(op, err)
		if ss.failClosed {
			return false, nil, &failure{err: &QuotaStoreError{Op: op, Err: err}, final: true}
		}
		owed, f := ss.outageAdmit(c.sched, g)
		return false, owed, f
	}
	ss.answered()
	ss.outage.counted(g.storeReq, d.Members)
	if d.Spent != nil {
		c.sched.members(g, *d.Spent)
	}
	if d.OK {
		return true, nil, nil
	}
	// Hold the quota before the call settles g, so that giving the slot back admits
	// no other call on it.
	c.sched.coolNow(g, time.Now().Add(d.Wait+ss.margin), false)
	return false, nil, &failure{requeue: true}
}

// outageAdmit admits g at this process's share of its quota while the store does
// not answer (g's request and tokens are then owed to the store under the owed it
// returns), or holds the quota back in this process until the share could take it
// and requeues g.
func (ss *storeSync) outageAdmit(s *scheduler, g grant) (*owed, *failure) {
	wait, d := ss.outage.admit(time.Now(), g.storeReq)
	if d != nil {
		return d, nil
	}
	s.coolNow(g, time.Now().Add(wait+ss.margin), false)
	return nil, &failure{requeue: true}
}

// coolDown tells the store to hold g's quota and model back until t in every
// process; when it cannot, the cooldown is told once it answers again.
func (ss *storeSync) coolDown(g grant, t time.Time) {
	if err := ss.store.CoolDown(context.Background(), g.storeReq.Quota, g.model, time.Until(t)); err != nil {
		ss.failed("CoolDown", err)
		ss.outage.cooled(g.storeReq, t)
	}
}

// settle settles g in the store (or what it owes the store, when it was sent while
// the store did not answer), then shares a cooldown that was not shared when it
// was set, then teaches the store the depth l learnt.
func (ss *storeSync) settle(g grant, o outcome, l lesson) {
	if g.storeAdmitted {
		ss.settleAdmitted(g, o)
	} else if g.owed != nil {
		ss.settleOwed(g, o)
	}
	if o.shareCool && !o.coolUntil.IsZero() {
		// A 429 whose wait came from its message or from backoff (a header's wait
		// was shared as soon as it was read): every process waits it too.
		ss.coolDown(g, o.coolUntil)
	}
	if l.burst > 0 && (l.kind == kindRPM || l.kind == kindTPM) {
		if err := ss.store.Learn(context.Background(), g.storeReq.Quota, g.model, l.kind.String(), l.burst); err != nil {
			ss.failed("Learn", err)
		}
	}
}

// settleAdmitted tells the store what became of a request it admitted.
func (ss *storeSync) settleAdmitted(g grant, o outcome) {
	if err := ss.store.Settle(context.Background(), g.storeReq, QuotaSettlement{Reserved: g.reserved, Used: o.countedUsed(), Counted: o.counted, Headers: o.info}); err != nil {
		ss.failed("Settle", err)
	}
}

// settleOwed corrects what was owed for g, a request sent while the store did not
// answer; once that was charged to the store, the store is settled instead.
func (ss *storeSync) settleOwed(g grant, o outcome) {
	if !ss.outage.settled(time.Now(), g.owed, g.reserved, o.countedUsed(), o.counted) {
		ss.settleAdmitted(g, o)
	}
}

func (ss *storeSync) appendName(names []string, s *scheduler, q *quota) []string {
	return append(names, s.storeName(q))
}

// usage asks the store, with a background context; a quota it cannot tell about
// is left without.
func (ss *storeSync) usage(model string, names []string, quotas []QuotaSnapshot) {
	for i, name := range names {
		if u, err := ss.store.Usage(context.Background(), name, model, quotas[i].Limits); err == nil {
			quotas[i].Shared = &u
		}
	}
}
