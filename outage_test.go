package groq_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// setFail makes the store answer (false) or fail (true).
func (m *memQuotaStore) setFail(fail bool) {
	m.mu.Lock()
	m.fail = fail
	m.mu.Unlock()
}

// outageClient is one of three processes sharing a store (the store counts 3
// members) on model "m" at 60 requests a minute; the server allows far more.
func outageClient(t *testing.T, store *memQuotaStore) (*groq.Client, *groqtest.Server) {
	store.members = 3
	return sim(t, []groqtest.Option{groqtest.WithModel("m", groqtest.Limits{RPM: 6000})},
		groq.WithQuotaStore(store), groq.WithModelLimits("m", groq.Limits{RPM: 60}), groq.WithMaxConcurrency(8))
}

// TestQuotaStoreDownPacesAtTheShare: while the store does not answer, a process
// that the store last counted as one of 3 sends at most a third of the limit (20
// a minute, from an empty bucket: no burst), and every call succeeds. Without the
// share it sends its whole local bucket (60) at once.
func TestQuotaStoreDownPacesAtTheShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemQuotaStore()
		c, srv := outageClient(t, store)
		m := groq.WithModel("m")
		_, err := c.Chat(context.Background(), hello, m)
		require.NoError(t, err, "the store answers: it counts 3 members")
		store.setFail(true)
		start := time.Now()
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				_, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint("q", i))}, m)
				assert.NoError(t, err, "a call does not fail while the store is down")
			})
		}
		wg.Wait()
		var inFirstMinute int
		for _, a := range srv.Arrivals()[1:] {
			if a.At.Sub(start) < time.Minute {
				inFirstMinute++
			}
		}
		assert.LessOrEqual(t, inFirstMinute, 20, "a third of 60 a minute")
		assert.GreaterOrEqual(t, inFirstMinute, 18, "paced at the share, not slower")
		assert.Equal(t, 31, srv.Stats().Successes)
		assert.Zero(t, srv.Stats().RateLimited)
	})
}

// TestQuotaStoreChargedBackAfterAnOutage: what a process sent while the store
// did not answer (requests and the tokens the server counted) and a cooldown a
// 429 asked for meanwhile reach the store as soon as it answers, before it is
// asked to admit anything; the 429's wait held this process back meanwhile.
func TestQuotaStoreChargedBackAfterAnOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemQuotaStore()
		store.members = 3
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel("m", groqtest.Limits{RPM: 6000}), groqtest.WithModel("m2", groqtest.Limits{RPM: 6000})},
			groq.WithQuotaStore(store), groq.WithModelLimits("m", groq.Limits{RPM: 60}), groq.WithMaxConcurrency(8))
		m := groq.WithModel("m")
		ctx := context.Background()
		_, err := c.Chat(ctx, hello, m)
		require.NoError(t, err)
		before := srv.Stats()
		store.setFail(true)
		for i := range 3 {
			_, err := c.Chat(ctx, []groq.Message{groq.User(fmt.Sprint("outage ", i))}, m)
			require.NoError(t, err)
		}
		during := srv.Stats()
		srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "30"})
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := c.Chat(ctx, []groq.Message{groq.User("cooled")}, m)
			assert.NoError(t, err)
		})
		time.Sleep(10 * time.Second) // its 429 came; its retry waits 30 s
		require.Equal(t, 1, srv.Stats().Faults, "the 429 came")
		store.mu.Lock()
		store.ops = nil
		store.mu.Unlock()
		store.setFail(false)
		_, err = c.Chat(ctx, hello, groq.WithModel("m2")) // the first call after the store returns
		require.NoError(t, err)
		wg.Wait()
		assert.Zero(t, srv.Stats().Violations, "nothing was sent inside the Retry-After")

		store.mu.Lock()
		defer store.mu.Unlock()
		require.GreaterOrEqual(t, len(store.ops), 3)
		assert.Equal(t, []string{"Charge", "CoolDown", "Take"}, store.ops[:3], "the charge and the cooldown come before the next admission")
		require.Len(t, store.charged, 1)
		assert.Equal(t, groq.QuotaSpent{Requests: 3, Tokens: int64(during.Tokens - before.Tokens)}, store.charged[0],
			"what the server counted during the outage")
		require.NotEmpty(t, store.cooled)
		assert.InDelta(t, 20, store.cooled[0].Seconds(), 3, "the rest of the 429's cooldown is shared")
	})
}
