package redisstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/redisstore"
	"github.com/groqkit/groq/redisstore/internal/redistest"
)

// replica is one process's client: its own Store on the shared Redis.
func replica(t *testing.T, rs *redistest.Server, srv *groqtest.Server, opts ...groq.Option) *groq.Client {
	t.Helper()
	c, err := groq.NewClient(append([]groq.Option{groq.WithAPIKeys("gsk_replica_key"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client())}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSharedCache(t *testing.T) {
	rs := redistest.Start(t)
	srv := groqtest.NewUnstartedServer()
	a := replica(t, rs, srv, groq.WithCache(redisstore.New(rs.Client()).Cache(time.Hour)))
	b := replica(t, rs, srv, groq.WithCache(redisstore.New(rs.Client()).Cache(time.Hour)))
	ctx := context.Background()
	ra, err := a.Chat(ctx, []groq.Message{groq.User("shared question")})
	require.NoError(t, err)
	assert.False(t, ra.Meta.FromCache)
	rb, err := b.Chat(ctx, []groq.Message{groq.User("shared question")})
	require.NoError(t, err)
	assert.True(t, rb.Meta.FromCache, "the other replica's answer")
	assert.Equal(t, ra.Text(), rb.Text())
	assert.Equal(t, 1, srv.Stats().Requests, "one request for both")

	rdb := rs.Client()
	keys, err := rdb.Keys(ctx, "groq:cache:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	ttl, err := rdb.PTTL(ctx, keys[0]).Result()
	require.NoError(t, err)
	assert.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 5, "the entry expires with the TTL")
	val, err := rdb.Get(ctx, keys[0]).Result()
	require.NoError(t, err)
	assert.NotContains(t, val, "gsk_replica_key")
	assert.NotContains(t, keys[0], "gsk_replica_key")
}

func TestSharedBudget(t *testing.T) {
	rs := redistest.Start(t)
	srv := groqtest.NewUnstartedServer()
	budget := func() groq.Option { return groq.WithBudgetStore(redisstore.New(rs.Client()).Budget()) }
	a := replica(t, rs, srv, groq.WithDailyTokenBudget(200), budget())
	b := replica(t, rs, srv, groq.WithDailyTokenBudget(200), budget())
	ctx := context.Background()
	var spent int64
	for i := 0; ; i++ {
		resp, err := a.Chat(ctx, []groq.Message{groq.User("spend some tokens " + strings.Repeat("x", i))}, groq.WithMaxTokens(20))
		if err != nil {
			require.ErrorIs(t, err, groq.ErrBudgetExceeded)
			break
		}
		spent += int64(resp.Usage.TotalTokens)
		require.Less(t, i, 50)
	}
	sb := b.Budget()
	assert.Equal(t, spent, sb.Used, "the other replica sees what this one spent")
	assert.Zero(t, sb.Reserved)
	_, err := b.Chat(ctx, []groq.Message{groq.User("one more from the other replica, long enough not to fit")}, groq.WithMaxTokens(100))
	require.ErrorIs(t, err, groq.ErrBudgetExceeded, "one budget for both")
}

func TestBudgetStoreDownFallsBack(t *testing.T) {
	rs := redistest.Start(t)
	srv := groqtest.NewUnstartedServer()
	var logs bytes.Buffer
	store := redisstore.New(rs.Client(), redisstore.WithRetryDown(0))
	c := replica(t, rs, srv, groq.WithDailyTokenBudget(10_000), groq.WithBudgetStore(store.Budget()),
		groq.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	rs.Stop()
	_, err := c.Chat(context.Background(), hello)
	require.NoError(t, err, "the budget is held in the process while Redis is down")
	assert.Equal(t, 1, strings.Count(logs.String(), "the budget store does not answer"))
	assert.Positive(t, c.Budget().Used)
}

var hello = []groq.Message{groq.User("hello")}
