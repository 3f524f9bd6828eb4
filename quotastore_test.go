package groq_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// memQuotaStore is a QuotaStore for clients in one process: GCRA on the request
// buckets per minute, enough to test the seam. It records what it was told.
type memQuotaStore struct {
	mu       sync.Mutex
	tat      map[string]time.Time
	cool     map[string]time.Time
	fail     bool
	takes    int
	refused  int
	settles  []groq.QuotaSettlement
	cooled   []time.Duration
	learnt   []string
	requests []groq.QuotaRequest
	count    bool                        // report its members' spending (QuotaDecision.Spent)
	spent    map[string]*groq.QuotaSpent // by quota and model
	members  int                         // reported in every decision (QuotaDecision.Members)
	charged  []groq.QuotaSpent           // what Charge was told
	ops      []string                    // the methods that answered, in order
}

func newMemQuotaStore() *memQuotaStore {
	return &memQuotaStore{tat: map[string]time.Time{}, cool: map[string]time.Time{}}
}

var errStoreDown = errors.New("store down")

func (m *memQuotaStore) Take(_ context.Context, r groq.QuotaRequest) (groq.QuotaDecision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return groq.QuotaDecision{}, errStoreDown
	}
	m.takes++
	m.ops = append(m.ops, "Take")
	m.requests = append(m.requests, r)
	now, k := time.Now(), r.Quota+"|"+r.Model
	if c := m.cool[k]; c.After(now) {
		m.refused++
		return groq.QuotaDecision{Wait: c.Sub(now), Members: m.members}, nil
	}
	if r.Limits.RPM <= 0 {
		return groq.QuotaDecision{OK: true, Spent: m.took(k, 1, int64(r.Tokens)), Members: m.members}, nil
	}
	e := time.Minute / time.Duration(r.Limits.RPM)
	tat := m.tat[k]
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(e)
	if allow := next.Add(-time.Duration(r.Limits.RPM) * e); allow.After(now) {
		m.refused++
		return groq.QuotaDecision{Wait: allow.Sub(now), Members: m.members}, nil
	}
	m.tat[k] = next
	return groq.QuotaDecision{OK: true, Spent: m.took(k, 1, int64(r.Tokens)), Members: m.members}, nil
}

// took counts what the members took from quota and model k, when the store
// counts, and returns the count to report. m.mu is held.
func (m *memQuotaStore) took(k string, requests, tokens int64) *groq.QuotaSpent {
	if !m.count {
		return nil
	}
	if m.spent == nil {
		m.spent = map[string]*groq.QuotaSpent{}
	}
	sp := m.spent[k]
	if sp == nil {
		sp = &groq.QuotaSpent{}
		m.spent[k] = sp
	}
	sp.Requests += requests
	sp.Tokens += tokens
	out := *sp
	return &out
}

func (m *memQuotaStore) Settle(_ context.Context, r groq.QuotaRequest, s groq.QuotaSettlement) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errStoreDown
	}
	m.settles = append(m.settles, s)
	if s.Counted {
		m.took(r.Quota+"|"+r.Model, 0, int64(s.Used-s.Reserved))
	} else {
		m.took(r.Quota+"|"+r.Model, -1, -int64(s.Reserved))
	}
	return nil
}

func (m *memQuotaStore) CoolDown(_ context.Context, quota, model string, wait time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errStoreDown
	}
	m.ops = append(m.ops, "CoolDown")
	m.cooled = append(m.cooled, wait)
	if u := time.Now().Add(wait); u.After(m.cool[quota+"|"+model]) {
		m.cool[quota+"|"+model] = u
	}
	return nil
}

// Charge takes spent from the request bucket per minute, into debt if need be.
func (m *memQuotaStore) Charge(_ context.Context, r groq.QuotaRequest, spent groq.QuotaSpent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errStoreDown
	}
	m.ops = append(m.ops, "Charge")
	m.charged = append(m.charged, spent)
	k := r.Quota + "|" + r.Model
	if r.Limits.RPM > 0 {
		tat := m.tat[k]
		if now := time.Now(); tat.Before(now) {
			tat = now
		}
		m.tat[k] = tat.Add(time.Duration(spent.Requests) * time.Minute / time.Duration(r.Limits.RPM))
	}
	m.took(k, spent.Requests, spent.Tokens)
	return nil
}

func (m *memQuotaStore) Learn(_ context.Context, quota, model, limit string, burst int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.learnt = append(m.learnt, fmt.Sprintf("%s %s %s %d", quota, model, limit, burst))
	return nil
}

func (m *memQuotaStore) Usage(context.Context, string, string, groq.Limits) (groq.QuotaUsage, error) {
	return groq.QuotaUsage{}, nil
}

// TestQuotaStoreSharesOneKey: two clients (two processes, as far as they know)
// on one key share a store: the server sees no 429 and the makespan is the key's
// minimum. Without the store they overrun the key.
func TestQuotaStoreSharesOneKey(t *testing.T) {
	run := func(t *testing.T, store groq.QuotaStore, rpd int) (groqtest.Stats, time.Duration) {
		var st groqtest.Stats
		var took time.Duration
		synctest.Test(t, func(t *testing.T) {
			srv := groqtest.NewUnstartedServer(groqtest.WithModel("m", groqtest.Limits{RPM: 60, RPD: rpd}))
			var clients []*groq.Client
			for range 2 {
				opts := []groq.Option{groq.WithAPIKeys("gsk_one"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
					groq.WithModelLimits("m", groq.Limits{RPM: 60}), groq.WithMaxConcurrency(8)}
				if store != nil {
					opts = append(opts, groq.WithQuotaStore(store))
				}
				c, err := groq.NewClient(opts...)
				require.NoError(t, err)
				defer c.Close()
				clients = append(clients, c)
			}
			start := time.Now()
			var wg sync.WaitGroup
			for i := range 90 {
				c := clients[i%2]
				wg.Go(func() {
					_, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint("q", i))}, groq.WithModel("m"))
					if store != nil {
						assert.NoError(t, err)
					}
				})
			}
			wg.Wait()
			took = time.Since(start)
			st = srv.Stats()
		})
		return st, took
	}
	store := newMemQuotaStore()
	st, took := run(t, store, 1000)
	assert.Zero(t, st.RateLimited)
	assert.Equal(t, 90, st.Successes)
	assert.Equal(t, 30*time.Second, took.Round(time.Second), "30 calls past the burst at one a second")
	assert.Positive(t, store.refused, "the store made calls wait")
	assert.Len(t, store.settles, 90, "every admitted call is settled")
	for _, r := range store.requests {
		assert.True(t, strings.HasPrefix(r.Quota, "key:"), "a key's quota is named by its hash: %s", r.Quota)
		assert.NotContains(t, r.Quota, "gsk_one")
		assert.Equal(t, 60, r.Limits.RPM)
	}
	for _, s := range store.settles {
		assert.True(t, s.Counted)
		assert.Positive(t, s.Used)
		assert.True(t, s.Headers.Present)
	}

	// Without the store, and with no header that shows one client the other's
	// requests (no RPD, so no x-ratelimit-remaining-requests), they overrun it.
	// (With that header each would read the other as another program: see
	// TestQuotaStoreMembersAreNotForeign for what the store changes.)
	st, _ = run(t, nil, 0)
	assert.Positive(t, st.RateLimited, "without the store the two clients overrun the key")
}

// TestQuotaStoreFallbackAndFailClosed: a store that does not answer makes the
// client admit on its own (at its share: see outage_test.go), logging the switch once (Warn) and the return
// once (Info); with WithQuotaStoreFailClosed the call fails with a typed error
// and nothing is sent.
func TestQuotaStoreFallbackAndFailClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemQuotaStore()
		store.fail = true
		var logs bytes.Buffer
		c, srv := sim(t, nil, groq.WithQuotaStore(store), groq.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		for range 3 {
			_, err := c.Chat(context.Background(), hello)
			require.NoError(t, err, "calls go on without the store")
		}
		assert.Equal(t, 1, strings.Count(logs.String(), "the quota store does not answer"), logs.String())
		assert.Contains(t, logs.String(), "level=WARN")
		store.mu.Lock()
		store.fail = false
		store.mu.Unlock()
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, 1, strings.Count(logs.String(), "the quota store answers again"), logs.String())
		assert.Equal(t, 1, store.takes)
		assert.NotContains(t, logs.String(), "gsk_test_key_0")
		assert.Equal(t, 4, srv.Stats().Successes)

		closed := newMemQuotaStore()
		closed.fail = true
		c2, srv2 := sim(t, nil, groq.WithQuotaStore(closed), groq.WithQuotaStoreFailClosed())
		_, err = c2.Chat(context.Background(), hello)
		require.ErrorIs(t, err, groq.ErrQuotaStoreUnavailable)
		var qe *groq.QuotaStoreError
		require.ErrorAs(t, err, &qe)
		assert.Equal(t, "Take", qe.Op)
		assert.ErrorIs(t, err, errStoreDown)
		assert.Zero(t, srv2.Stats().Requests, "nothing was sent")
		_, err = c2.Chat(context.Background(), hello)
		require.ErrorIs(t, err, groq.ErrQuotaStoreUnavailable, "the slot and the reservation were given back: the next call is refused the same way")
	})
}

// TestQuotaStoreSharesA429: a 429 cools the quota down in the store, so other
// processes wait too, and the retry waits for it.
func TestQuotaStoreSharesA429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemQuotaStore()
		c, srv := sim(t, nil, groq.WithQuotaStore(store))
		srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "7"})
		start := time.Now()
		resp, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, 2, resp.Meta.Attempts)
		assert.Equal(t, 7*time.Second, time.Since(start).Round(time.Second))
		require.Len(t, store.cooled, 1)
		assert.Equal(t, 7*time.Second, store.cooled[0].Round(time.Second))
		assert.Equal(t, 0, srv.Stats().Violations)
	})
}

func TestWithQuotaStoreNil(t *testing.T) {
	_, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithQuotaStore(nil))
	var oe *groq.OptionError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "WithQuotaStore", oe.Option)
}

func TestRateLimitsShowTheSharedUsage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &usageStore{memQuotaStore: newMemQuotaStore()}
		c, _ := sim(t, nil, groq.WithQuotaStore(store))
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		snap := c.RateLimits(groq.DefaultModel)
		require.Len(t, snap.Quotas, 1)
		require.NotNil(t, snap.Quotas[0].Shared)
		assert.Equal(t, 42, snap.Quotas[0].Shared.RequestsToday)
		assert.True(t, strings.HasPrefix(store.asked, "key:"), store.asked)

		plain, _ := sim(t, nil)
		assert.Nil(t, plain.RateLimits(groq.DefaultModel).Quotas[0].Shared)
	})
}

type usageStore struct {
	*memQuotaStore
	asked string
}

func (u *usageStore) Usage(_ context.Context, quota, _ string, _ groq.Limits) (groq.QuotaUsage, error) {
	u.asked = quota
	return groq.QuotaUsage{RequestsToday: 42}, nil
}

func TestWithBudgetStoreNeedsABudget(t *testing.T) {
	_, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBudgetStore(nopBudget{}))
	var oe *groq.OptionError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "WithBudgetStore", oe.Option)
	_, err = groq.NewClient(groq.WithAPIKeys("k"), groq.WithBudgetStore(nil))
	require.ErrorAs(t, err, &oe)
}

type nopBudget struct{}

func (nopBudget) Reserve(context.Context, string, int64, int64) (int64, int64, bool, error) {
	return 0, 0, true, nil
}
func (nopBudget) Settle(context.Context, string, int64, int64) error { return nil }
func (nopBudget) Status(context.Context, string) (int64, int64, error) {
	return 0, 0, nil
}

// blockingStore's Take waits for the caller's context.
type blockingStore struct{ *memQuotaStore }

func (blockingStore) Take(ctx context.Context, _ groq.QuotaRequest) (groq.QuotaDecision, error) {
	<-ctx.Done()
	return groq.QuotaDecision{}, ctx.Err()
}

// TestQuotaStoreTakeCancelled: a caller that gives up while the store is being
// asked gets its context's error; nothing is sent and the store is not reported
// down.
func TestQuotaStoreTakeCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		c, srv := sim(t, nil, groq.WithQuotaStore(blockingStore{newMemQuotaStore()}), groq.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := c.Chat(ctx, hello)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Zero(t, srv.Stats().Requests, "nothing was sent")
		assert.NotContains(t, logs.String(), "does not answer")
		assert.Zero(t, c.RateLimits(groq.DefaultModel).InFlight, "the slot was given back")
	})
}

// TestQuotaStoreSharesA429WithoutHeader: a 429 with no retry-after header still
// cools the quota down in the store, for the wait the client chose.
func TestQuotaStoreSharesA429WithoutHeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemQuotaStore()
		c, srv := sim(t, nil, groq.WithQuotaStore(store))
		srv.Script(groqtest.Fault{Kind: groqtest.FaultStatus, Status: 429})
		resp, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, 2, resp.Meta.Attempts)
		require.Len(t, store.cooled, 1, "the backoff's wait is shared once")
		assert.Positive(t, store.cooled[0])
	})
}

// TestQuotaStoreMembersAreNotForeign: two clients share a key through a store
// that counts its members' spending, and another program spends the same key.
// Each client sees the other's requests fall from the day's remaining count,
// but reads only the other program's as foreign. With a store that does not
// count, nothing is read as foreign.
func TestQuotaStoreMembersAreNotForeign(t *testing.T) {
	// run returns each client's estimate as its own last call ends (a client that
	// is done first would see its estimate decay while the other goes on).
	run := func(t *testing.T, count bool) ([]groq.ForeignSpending, groqtest.Stats) {
		var fs []groq.ForeignSpending
		var st groqtest.Stats
		synctest.Test(t, func(t *testing.T) {
			srv := groqtest.NewUnstartedServer(groqtest.WithKeys("gsk_one", "gsk_other"), groqtest.WithOrganization("org", "gsk_one", "gsk_other"),
				groqtest.WithModel("m", groqtest.Limits{RPM: 120, RPD: 14_400}), groqtest.WithLatency(20*time.Millisecond, 0),
				// 30 a minute, on top of the members' 60: the server's 120 has room.
				groqtest.WithOtherProgram(groqtest.OtherProgram{Key: "gsk_other", Model: "m", RequestsPerMinute: 30}))
			store := newMemQuotaStore()
			store.count = count
			fs = make([]groq.ForeignSpending, 2)
			var all sync.WaitGroup
			for k := range 2 {
				c, err := groq.NewClient(groq.WithAPIKeys("gsk_one"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
					groq.WithModelLimits("m", groq.Limits{RPM: 60}), groq.WithMaxConcurrency(4), groq.WithQuotaStore(store))
				require.NoError(t, err)
				defer c.Close()
				all.Go(func() {
					var wg sync.WaitGroup
					for i := range 75 { // each: 150 calls in all, 60 at once, then one a second: 90 s
						wg.Go(func() {
							_, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint("q", k, i))}, groq.WithModel("m"))
							assert.NoError(t, err)
						})
					}
					wg.Wait()
					fs[k] = c.RateLimits("m").Quotas[0].Foreign
				})
			}
			all.Wait()
			st = srv.Stats()
		})
		return fs, st
	}
	fs, st := run(t, true)
	t.Logf("counting store: %+v; other program %d requests, %d refused", fs, st.Other.Requests, st.Other.Refused)
	for i, f := range fs {
		// 30 a minute is the other program; 60 would be the other member taken for
		// one. What a reading shows is credited to the members first, so the
		// estimate errs low, by how the store interleaves the two clients.
		assert.Greater(t, f.RequestsPerMinute, 15.0, "client %d sees the other program", i)
		assert.Less(t, f.RequestsPerMinute, 40.0, "client %d: the other program's 30 a minute, not the other member's 30 too", i)
		assert.Equal(t, 1, f.Reserve.RPM)
	}
	blind, _ := run(t, false)
	for _, f := range blind {
		assert.Zero(t, f.RequestsPerMinute, "a store that does not count: members cannot be told from others")
	}
}
