package groq

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSchedulerAlwaysHoldsAQuotaSync: a client without a QuotaStore holds
// noStore, one with a store holds the storeSync over it; there is no nil to check.
func TestSchedulerAlwaysHoldsAQuotaSync(t *testing.T) {
	alone, err := NewClient(WithAPIKeys("k"))
	require.NoError(t, err)
	defer alone.Close()
	assert.IsType(t, noStore{}, alone.sched.store)

	type idleStore struct{ QuotaStore } // never called: NewClient asks a store nothing
	store := idleStore{}
	withStore, err := NewClient(WithAPIKeys("k"), WithQuotaStore(store))
	require.NoError(t, err)
	defer withStore.Close()
	ss, ok := withStore.sched.store.(*storeSync)
	require.True(t, ok, "a client with a QuotaStore holds a *storeSync, not %T", withStore.sched.store)
	assert.Equal(t, store, ss.store)
}

// TestNoStoreCostsNothing: without a QuotaStore, each step of a call's way
// through the quotaSync (its request, admission, settling, a shared cooldown,
// the snapshot's names and usage) allocates nothing, and admission always lets
// the call go. The grant is a local of each run: were it handed to the interface
// by pointer, it would move to the heap every time.
func TestNoStoreCostsNothing(t *testing.T) {
	s := listScheduler(60)
	c := &Client{sched: s}
	ctx := context.Background()
	w := newWaiter(1, "a", 1)
	gp, err := s.acquire(ctx, w)
	require.NoError(t, err)
	g := *gp
	defer s.finish(g, outcome{})
	q := s.quotas[g.quota]
	b := q.buckets.of(time.Now(), g.model)
	allocs := testing.AllocsPerRun(100, func() {
		h := g
		h.storeReq = s.store.request(s, q, b, w)
		if f := c.storeAdmit(ctx, &h); f != nil {
			t.Fatalf("noStore refused a call: %+v", f)
		}
		s.store.settle(h, outcome{counted: true}, lesson{burst: 1, kind: kindRPM})
		s.store.coolDown(h, time.Now())
		names := s.store.appendName(nil, s, q)
		s.store.usage(h.model, names, nil)
		if h.storeAdmitted || h.owed != nil || names != nil {
			t.Fatalf("noStore changed the grant or named a quota: %+v %v", h, names)
		}
	})
	assert.Zero(t, allocs, "allocations per call through noStore")
}
