// Package redisstore shares a groq.Client's rate limits, cache and daily token
// budget between processes through Redis: replicas of a service, workers of a
// batch job, all calling Groq with the same keys.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//	store := redisstore.New(rdb)
//	client, err := groq.NewClient(groq.WithQuotaStore(store))
//
// Admission is one Lua script over every bucket of a quota and model (requests
// and tokens per minute and per day), checked and reserved together, on Redis's
// clock. Cooldowns after a 429, learnt bucket depths and the server's header
// corrections are shared too, and every admission reports what all the
// processes have taken (groq.QuotaDecision.Spent), so that a client does not
// take the other processes' requests, which Groq's headers show, for another
// program's. Nothing here ever holds an API key: quotas are
// named by the client ("org:NAME" or "key:" and a hash of the key).
//
// When Redis does not answer within the operation timeout, calls do not fail:
// each client paces every quota and model at its share of the limits (the limits
// over the processes Redis last counted on it, groq.QuotaDecision.Members),
// honours every Retry-After it is given, and when Redis answers again it first
// charges Redis what it sent meanwhile (Charge) and the cooldowns it could not
// share, then shares admission again (see groq.QuotaStore). The store tries
// Redis again at most once a second meanwhile.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/groqkit/groq"
)

// Defaults.
const (
	DefaultPrefix  = "groq:"
	DefaultTimeout = 100 * time.Millisecond
	// DefaultRetryDown is how long the store answers ErrUnavailable at once after
	// Redis failed, before it asks Redis again.
	DefaultRetryDown = time.Second
	// markerGrace is how long a refused call stays visible to other processes
	// after the wait it was told (its headroom marker).
	markerGrace = time.Second
	// learntFor is how long a learnt depth holds after it was last told.
	learntFor = 3 * time.Minute
	// staleSlack is how long after the store stops waiting for an answer a
	// script still does its work when Redis runs it (the clocks' skew, as Take
	// measures it, is within a round trip).
	staleSlack = 250 * time.Millisecond
	// memberFor is how long a process counts as a member of a quota and model
	// (groq.QuotaDecision.Members) after it last asked for admission.
	memberFor = time.Minute
)

// ErrUnavailable is returned, without asking Redis, for a while after Redis
// failed to answer.
var ErrUnavailable = errors.New("redisstore: Redis did not answer recently")

// Store is a groq.QuotaStore on Redis. It is safe for concurrent use; one Store
// serves any number of clients in a process.
type Store struct {
	rdb       redis.UniversalClient
	prefix    string
	timeout   time.Duration
	retryDown time.Duration
	proc      string       // this process's marker name (random)
	bounded   bool         // rdb bounds its reads by the context's deadline (see bound)
	skew      atomic.Int64 // Redis's clock minus this process's, in ns, as Take last saw it
	skewKnown atomic.Bool
	downUntil atomic.Int64 // unix ns: until then, answer ErrUnavailable at once
}

var (
	_ groq.QuotaStore   = (*Store)(nil)
	_ groq.QuotaCharger = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the prefix of every key the store writes (DefaultPrefix). Use
// one per environment that shares a Redis.
func WithPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// WithTimeout bounds each Redis operation (DefaultTimeout). A slower answer
// counts as a failure: the client paces on its own (see the package doc). The
// bound holds whatever the go-redis client's ReadTimeout; with a client built
// with ContextTimeoutEnabled, go-redis itself stops at it.
func WithTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithRetryDown sets how long, after a failure, the store answers ErrUnavailable
// without asking Redis (DefaultRetryDown).
func WithRetryDown(d time.Duration) Option {
	return func(s *Store) {
		if d >= 0 {
			s.retryDown = d
		}
	}
}

// New returns a store on rdb (a single node, a Sentinel failover client or a
// Cluster client). It does not contact Redis: Redis may be down at start, and the
// client then paces at the whole limits until Redis answers (it has not yet
// counted the other processes). Each operation is bounded by the store's timeout
// whatever rdb's own timeouts; with ContextTimeoutEnabled set in rdb's options it
// runs on the caller's goroutine, else on one of its own.
func New(rdb redis.UniversalClient, opts ...Option) *Store {
	var id [6]byte
	rand.Read(id[:])
	s := &Store{rdb: rdb, prefix: DefaultPrefix, timeout: DefaultTimeout, retryDown: DefaultRetryDown, proc: hex.EncodeToString(id[:]),
		bounded: honoursDeadlines(rdb)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// key is the hash of a quota and model; the braces are its hash tag.
func (s *Store) key(quota, model string) string {
	return s.prefix + "q{" + quota + "|" + model + "}"
}

// ready is ErrUnavailable for a while after Redis failed.
func (s *Store) ready() error {
	if until := s.downUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		return ErrUnavailable
	}
	return nil
}

// failed records a Redis failure and wraps it.
func (s *Store) failed(err error) error {
	if errors.Is(err, context.Canceled) {
		return err // the caller gave up: not Redis's fault
	}
	s.downUntil.Store(time.Now().Add(s.retryDown).UnixNano())
	return fmt.Errorf("redisstore: %w", err)
}

// run runs a script with the store's timeout (EVALSHA, and EVAL when Redis does
// not have it yet), and keeps track of Redis being down.
func (s *Store) run(ctx context.Context, sc *redis.Script, key string, args ...any) (any, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var v any
	err := s.bound(ctx, func(ctx context.Context) (err error) {
		v, err = sc.Run(ctx, s.rdb, []string{key}, args...).Result()
		return err
	})
	if err != nil {
		return nil, s.failed(err)
	}
	s.downUntil.Store(0)
	return v, nil
}

// bound runs op, and stops waiting for it when ctx ends. A go-redis client
// built without ContextTimeoutEnabled bounds a read by its ReadTimeout alone (3 s
// by default), so a Redis that accepts connections and answers nothing (a paused
// process, a partition that drops packets) would hold every call that long: op
// then runs on its own goroutine, which ends when go-redis gives up. With
// ContextTimeoutEnabled, op runs on the caller's goroutine.
func (s *Store) bound(ctx context.Context, op func(context.Context) error) error {
	if s.bounded {
		return op(ctx)
	}
	done := make(chan error, 1)
	go func() { done <- op(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// honoursDeadlines reports whether rdb bounds its socket reads and writes by a
// context's deadline (ContextTimeoutEnabled).
func honoursDeadlines(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

func limitArgs(l, b groq.Limits) []any {
	return []any{l.RPM, l.TPM, l.RPD, l.TPD, b.RPM, b.TPM, b.RPD, b.TPD}
}

// Take implements groq.QuotaStore.
func (s *Store) Take(ctx context.Context, r groq.QuotaRequest) (groq.QuotaDecision, error) {
	args := append([]any{s.proc, r.Priority, r.NextPriority, max(r.Tokens, 0), markerGrace.Milliseconds()}, limitArgs(r.Limits, r.Burst)...)
	args = append(args, memberFor.Milliseconds(), s.staleAt())
	sent := time.Now()
	v, err := s.run(ctx, takeScript, s.key(r.Quota, r.Model), args...)
	if err != nil {
		return groq.QuotaDecision{}, err
	}
	res, ok := v.([]any)
	if !ok || len(res) != 6 {
		return groq.QuotaDecision{}, fmt.Errorf("redisstore: unexpected answer %v", v)
	}
	if ms, ok := res[5].(int64); ok {
		mid := sent.Add(time.Since(sent) / 2)
		s.skew.Store(ms*int64(time.Millisecond) - mid.UnixNano())
		s.skewKnown.Store(true)
	}
	nreq, _ := res[2].(int64)
	ntok, _ := res[3].(int64)
	members, _ := res[4].(int64)
	d := groq.QuotaDecision{Spent: &groq.QuotaSpent{Requests: nreq, Tokens: ntok}, Members: int(members)}
	if n, _ := res[0].(int64); n == 1 {
		d.OK = true
		return d, nil
	}
	us, _ := res[1].(int64)
	d.Wait = time.Duration(us) * time.Microsecond
	return d, nil
}

// Charge implements groq.QuotaCharger: it takes what this process sent while
// Redis did not answer from every bucket of r's quota and model, into debt if
// need be, so that the processes' next admissions wait for it.
func (s *Store) Charge(ctx context.Context, r groq.QuotaRequest, spent groq.QuotaSpent) error {
	if spent.Requests <= 0 && spent.Tokens <= 0 {
		return nil
	}
	l := r.Limits
	_, err := s.run(ctx, chargeScript, s.key(r.Quota, r.Model), max(spent.Requests, 0), max(spent.Tokens, 0), l.RPM, l.TPM, l.RPD, l.TPD, s.staleAt())
	return err
}

// staleAt is when, on Redis's clock (ms), an admission or a charge sent now
// must no longer take effect: the store will have stopped waiting for it, and
// the client will have paced the call on its own (a Take that Redis ran late,
// after a pause, would take capacity that no call uses; a Charge, count twice).
// 0 until Take has measured the clocks' skew.
func (s *Store) staleAt() int64 {
	if !s.skewKnown.Load() {
		return 0
	}
	return (time.Now().Add(s.timeout+staleSlack).UnixNano() + s.skew.Load()) / int64(time.Millisecond)
}

// Settle implements groq.QuotaStore.
func (s *Store) Settle(ctx context.Context, r groq.QuotaRequest, st groq.QuotaSettlement) error {
	counted := 0
	if st.Counted {
		counted = 1
	}
	leftReq, leftTok := -1, -1
	if st.Headers.Present {
		leftReq, leftTok = st.Headers.RequestsLeftToday, st.Headers.TokensLeftInMinute
	}
	args := append([]any{st.Reserved, st.Used, counted}, limitArgs(r.Limits, r.Burst)...)
	args = append(args, leftReq, leftTok)
	_, err := s.run(ctx, settleScript, s.key(r.Quota, r.Model), args...)
	return err
}

// CoolDown implements groq.QuotaStore.
func (s *Store) CoolDown(ctx context.Context, quota, model string, wait time.Duration) error {
	if wait <= 0 {
		return nil
	}
	_, err := s.run(ctx, coolScript, s.key(quota, model), wait.Milliseconds()+1)
	return err
}

// Learn implements groq.QuotaStore.
func (s *Store) Learn(ctx context.Context, quota, model, limit string, burst int) error {
	field := strings.ToLower(limit)
	if (field != "rpm" && field != "tpm") || burst <= 0 {
		return nil
	}
	_, err := s.run(ctx, learnScript, s.key(quota, model), field, burst, learntFor.Milliseconds())
	return err
}

// Usage implements groq.QuotaStore.
func (s *Store) Usage(ctx context.Context, quota, model string, l groq.Limits) (groq.QuotaUsage, error) {
	v, err := s.run(ctx, usageScript, s.key(quota, model), l.RPM, l.TPM, l.RPD, l.TPD)
	if err != nil {
		return groq.QuotaUsage{}, err
	}
	res, ok := v.([]any)
	if !ok || len(res) != 5 {
		return groq.QuotaUsage{}, fmt.Errorf("redisstore: unexpected answer %v", v)
	}
	n := func(i int) int { x, _ := res[i].(int64); return int(x) }
	cool, _ := res[4].(int64)
	return groq.QuotaUsage{RequestsThisMinute: n(0), TokensThisMinute: n(1), RequestsToday: n(2), TokensToday: n(3),
		CoolingFor: time.Duration(cool) * time.Microsecond}, nil
}
