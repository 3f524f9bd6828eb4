package redisstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/redisstore"
	"github.com/groqkit/groq/redisstore/internal/redistest"
)

// TestCluster: on a three-node Redis Cluster every script touches one slot (the
// quota and model's hash tag), quotas spread over the nodes, and the cache and
// budget work through the cluster client.
func TestCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	rdb := cl.Client(t)
	s := redisstore.New(rdb, redisstore.WithTimeout(time.Second))
	ctx := context.Background()
	for q := range 20 {
		r := req(fmt.Sprintf("key:%016x", q), 3, 100_000, 10, 5)
		for range 3 {
			require.True(t, take(t, s, r).OK)
		}
		require.False(t, take(t, s, r).OK, "quota %d: the fourth request waits", q)
		require.NoError(t, s.Settle(ctx, r, groq.QuotaSettlement{Reserved: 10, Used: 5, Counted: true}))
		require.NoError(t, s.CoolDown(ctx, r.Quota, r.Model, time.Second))
		require.NoError(t, s.Learn(ctx, r.Quota, r.Model, "RPM", 2))
	}
	var nodes atomic.Int32 // ForEachMaster runs the nodes concurrently
	err := rdb.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		n, err := node.DBSize(ctx).Result()
		if n > 0 {
			nodes.Add(1)
		}
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, int32(3), nodes.Load(), "the quotas are spread over every node")

	srv := groqtest.NewUnstartedServer()
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_cluster"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithQuotaStore(s), groq.WithCache(s.Cache(time.Minute)), groq.WithDailyTokenBudget(10_000), groq.WithBudgetStore(s.Budget()))
	require.NoError(t, err)
	defer c.Close()
	for range 2 {
		_, err := c.Chat(ctx, hello)
		require.NoError(t, err)
	}
	assert.Equal(t, 1, srv.Stats().Requests, "the second answer came from the cache on the cluster")
	assert.Positive(t, c.Budget().Used, "the budget is on the cluster")
	snap := c.RateLimits(groq.DefaultModel)
	require.NotNil(t, snap.Quotas[0].Shared)
	assert.Equal(t, 1, snap.Quotas[0].Shared.RequestsToday)
}
