package groq_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/stretchr/testify/require"
)

// bucket is the status's bucket called name for model's first quota (fails the
// test when there is none).
func bucket(t *testing.T, st groq.Status, model, name string) groq.BucketStatus {
	t.Helper()
	for _, m := range st.Models {
		if m.Model != model {
			continue
		}
		require.NotEmpty(t, m.Quotas, "model %s has no quota", model)
		for _, b := range m.Quotas[0].Buckets {
			if b.Name == name {
				return b
			}
		}
	}
	t.Fatalf("Status() has no %s bucket for %s: %+v", name, model, st.Models)
	return groq.BucketStatus{}
}

func modelStatus(t *testing.T, st groq.Status, model string) groq.ModelStatus {
	t.Helper()
	for _, m := range st.Models {
		if m.Model == model {
			return m
		}
	}
	t.Fatalf("Status() has no model %s: %+v", model, st.Models)
	return groq.ModelStatus{}
}

func TestStatusBucketsSourcesAndRecentEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil, groq.WithModelLimits("llama-3.1-8b-instant", groq.Limits{RPM: 20, TPM: 6000}), groq.WithDailyTokenBudget(100000))
		st := c.Status()
		rpm := bucket(t, st, "llama-3.1-8b-instant", "RPM")
		require.Equal(t, groq.BucketStatus{Name: "RPM", Limit: 20, Source: groq.SourceConfigured, PeriodSeconds: 60, Depth: 20, Used: 0, Level: 20}, rpm)
		plain, _ := sim(t, nil)
		require.Equal(t, groq.BucketStatus{Name: "RPD", Limit: 14400, Source: groq.SourceTable, PeriodSeconds: 86400, Depth: 14400, Level: 14400},
			bucket(t, plain.Status(), "llama-3.1-8b-instant", "RPD"))
		require.Equal(t, 0, modelStatus(t, st, "llama-3.1-8b-instant").RateLimited)
		require.NotNil(t, st.Budget)
		require.Equal(t, int64(100000), st.Budget.Limit)

		srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "1"})
		for range 3 {
			_, err := c.Chat(context.Background(), []groq.Message{groq.User("hello")})
			require.NoError(t, err)
		}
		st = c.Status()
		m := modelStatus(t, st, "llama-3.1-8b-instant")
		require.Equal(t, 1, m.RateLimited, "429s in the window")
		require.Equal(t, 1, m.Retries, "retries in the window")
		require.Len(t, m.Recent, 1)
		require.Equal(t, 1, m.Recent[0].RateLimited)
		rpm = bucket(t, st, "llama-3.1-8b-instant", "RPM")
		require.Equal(t, 3, rpm.Used, "three calls (a refused attempt is given back)")
		require.Equal(t, 17, rpm.Level)
		require.Greater(t, st.Budget.Used, int64(0))

		time.Sleep(groq.StatusWindow + time.Second)
		m = modelStatus(t, c.Status(), "llama-3.1-8b-instant")
		require.Zero(t, m.RateLimited, "a 429 older than the window is not counted")
		require.Empty(t, m.Recent)
	})
}

func TestStatusQueueByPriorityAndJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, nil, groq.WithModelLimits("llama-3.1-8b-instant", groq.Limits{RPM: 1}))
		_, err := c.Chat(context.Background(), []groq.Message{groq.User("first")}) // empties the bucket
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		for _, p := range []int{1, 5, 5} {
			wg.Go(func() { c.Chat(ctx, []groq.Message{groq.User("queued")}, groq.WithPriority(p)) })
		}
		synctest.Wait()
		st := c.Status()
		require.Equal(t, map[int]int{1: 1, 5: 2}, st.Queued)
		m := modelStatus(t, st, "llama-3.1-8b-instant")
		require.Equal(t, map[int]int{1: 1, 5: 2}, m.Queued)

		data, err := json.Marshal(st)
		require.NoError(t, err)
		var back map[string]any
		require.NoError(t, json.Unmarshal(data, &back))
		models := back["models"].([]any)
		first := models[0].(map[string]any)
		require.Equal(t, map[string]any{"1": 1.0, "5": 2.0}, first["queued"])
		b := first["quotas"].([]any)[0].(map[string]any)["buckets"].([]any)[0].(map[string]any)
		require.Equal(t, "RPM", b["name"])
		require.Equal(t, "configured", b["source"])
		cancel()
		wg.Wait()
	})
}

// TestStatusMultiModelCallCountsInEachQueue: a call that accepts two models
// waits in both queues, and counts once in the client's total.
func TestStatusMultiModelCallCountsInEachQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := "llama-3.1-8b-instant", "llama-3.3-70b-versatile"
		c, _ := sim(t, nil, groq.WithModelLimits(a, groq.Limits{RPM: 1}), groq.WithModelLimits(b, groq.Limits{RPM: 1}))
		for _, m := range []string{a, b} { // empties both buckets
			_, err := c.Chat(context.Background(), []groq.Message{groq.User("first")}, groq.WithModel(m))
			require.NoError(t, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			c.Chat(ctx, []groq.Message{groq.User("either")}, groq.WithModels(a, b), groq.WithPriority(3))
			close(done)
		}()
		synctest.Wait()
		st := c.Status()
		require.Equal(t, map[int]int{3: 1}, st.Queued)
		require.Equal(t, map[int]int{3: 1}, modelStatus(t, st, a).Queued)
		require.Equal(t, map[int]int{3: 1}, modelStatus(t, st, b).Queued)
		cancel()
		<-done
	})
}
