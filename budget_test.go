package groq_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// TestBudgetFileSharedByClients: clients (processes, as far as the file knows) on
// one budget file count every token any of them spent: each adds its own
// spending to what the file holds, under the file's lock.
func TestBudgetFileSharedByClients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "budget.json")
		srv := groqtest.NewUnstartedServer()
		mk := func() *groq.Client {
			c, err := groq.NewClient(append(srv.ClientOptions(), groq.WithDailyTokenBudget(1_000_000), groq.WithBudgetFile(path))...)
			require.NoError(t, err)
			return c
		}
		a, b := mk(), mk()
		var spent int64
		for i := range 8 {
			c := a
			if i%2 == 1 {
				c = b
			}
			resp, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint("question ", i))})
			require.NoError(t, err)
			spent += int64(resp.Usage.TotalTokens)
		}
		a.Close()
		b.Close()
		c := mk()
		defer c.Close()
		assert.Equal(t, spent, c.Budget().Used, "every token of both clients is in the file")
	})
}

// TestBudgetFileRemovesDeadTemps: a temporary file a killed writer left beside
// the budget file is removed when the file is opened.
func TestBudgetFileRemovesDeadTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "budget.json")
	dead := filepath.Join(dir, ".budget.json.tmp-12345")
	require.NoError(t, os.WriteFile(dead, make([]byte, 1<<20), 0o600))
	srv := groqtest.NewUnstartedServer()
	c, err := groq.NewClient(append(srv.ClientOptions(), groq.WithDailyTokenBudget(1000), groq.WithBudgetFile(path))...)
	require.NoError(t, err)
	defer c.Close()
	_, err = os.Stat(dead)
	assert.True(t, os.IsNotExist(err), "the dead writer's temporary file is gone: %v", err)
}

func TestBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The bubble starts at midnight UTC, 2000-01-01.
		c, srv := sim(t, nil, groq.WithDailyTokenBudget(200), groq.WithCompletionReserve(20))
		ctx := context.Background()
		calls := 0
		var err error
		for ; calls < 100; calls++ {
			if _, err = c.Chat(ctx, hello); err != nil {
				break
			}
		}
		require.ErrorIs(t, err, groq.ErrBudgetExceeded)
		var be *groq.BudgetError
		require.True(t, errors.As(err, &be))
		assert.Equal(t, int64(200), be.Limit)
		assert.Greater(t, be.Used+be.Requested, int64(200))
		assert.True(t, be.ResetAt.Equal(time.Now().Add(24*time.Hour).Truncate(24*time.Hour)), "reset at %v", be.ResetAt)
		assert.Equal(t, calls, srv.Stats().Requests, "refused before any network call")

		b := c.Budget()
		assert.Equal(t, be.Used, b.Used)
		assert.Equal(t, int64(200)-b.Used, b.Remaining)
		assert.Equal(t, int64(0), b.Reserved)

		time.Sleep(time.Until(b.ResetAt))
		_, err = c.Chat(ctx, hello)
		require.NoError(t, err, "the budget resets at midnight UTC")
		assert.Less(t, c.Budget().Used, b.Used)
	})
}

func TestBudgetZoneAndPersistence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "budget.json")
		zone := time.FixedZone("UTC+10", 10*3600)
		srv := groqtest.NewUnstartedServer()
		mk := func() *groq.Client {
			c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
				groq.WithDailyTokenBudget(10000), groq.WithBudgetZone(zone), groq.WithBudgetFile(path))
			require.NoError(t, err)
			return c
		}
		c := mk()
		resp, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, int64(resp.Usage.TotalTokens), c.Budget().Used)
		reset := c.Budget().ResetAt
		assert.Equal(t, 0, reset.In(zone).Hour(), "midnight in the budget's zone")
		assert.Equal(t, 14*time.Hour, time.Until(reset), "the bubble's midnight UTC is 10:00 in UTC+10")
		c.Close()

		c = mk()
		assert.Equal(t, int64(resp.Usage.TotalTokens), c.Budget().Used, "the budget survives a restart")
		c.Close()
	})
}

func TestBudgetBesideTheCacheFile(t *testing.T) {
	dir := t.TempDir()
	srv := groqtest.NewUnstartedServer()
	mk := func() *groq.Client {
		c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDailyTokenBudget(10000), groq.WithCacheFile(filepath.Join(dir, "c.json"), time.Hour))
		require.NoError(t, err)
		return c
	}
	c := mk()
	_, err := c.Chat(context.Background(), hello)
	require.NoError(t, err)
	used := c.Budget().Used
	require.Greater(t, used, int64(0))
	c.Close()
	_, err = os.Stat(filepath.Join(dir, "c.json.budget"))
	require.NoError(t, err)
	c = mk()
	defer c.Close()
	assert.Equal(t, used, c.Budget().Used)
}
