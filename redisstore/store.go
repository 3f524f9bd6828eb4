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
// counts as a failure: the client falls back to its own buckets.
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
// client then runs on its own buckets until Redis answers.
func New(rdb redis.UniversalClient, opts ...Option) *Store {
	var id [6]byte
	rand.Read(id[:])
	s := &Store{rdb: rdb, prefix: DefaultPrefix, timeout: DefaultTimeout, retryDown: DefaultRetryDown, proc: hex.EncodeToString(id[:])}
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
	v, err := sc.Run(ctx, s.rdb, []string{key}, args...).Result()
	if err != nil {
		return nil, s.failed(err)
	}
	s.downUntil.Store(0)
	return v, nil
}

func limitArgs(l, b groq.Limits) []any {
	return []any{l.RPM, l.TPM, l.RPD, l.TPD, b.RPM, b.TPM, b.RPD, b.TPD}
}

// Take implements groq.QuotaStore.
func (s *Store) Take(ctx context.Context, r groq.QuotaRequest) (groq.QuotaDecision, error) {
	args := append([]any{s.proc, r.Priority, r.NextPriority, max(r.Tokens, 0), markerGrace.Milliseconds()}, limitArgs(r.Limits, r.Burst)...)
	args = append(args, memberFor.Milliseconds())
	v, err := s.run(ctx, takeScript, s.key(r.Quota, r.Model), args...)
	if err != nil {
		return groq.QuotaDecision{}, err
	}
	res, ok := v.([]any)
	if !ok || len(res) != 5 {
		return groq.QuotaDecision{}, fmt.Errorf("redisstore: unexpected answer %v", v)
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
	_, err := s.run(ctx, chargeScript, s.key(r.Quota, r.Model), max(spent.Requests, 0), max(spent.Tokens, 0), l.RPM, l.TPM, l.RPD, l.TPD)
	return err
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
