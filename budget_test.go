package groq_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"

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
