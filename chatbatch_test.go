package groq_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChatBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 10}))
		var reqs []*groq.ChatRequest
		for i := range 25 {
			reqs = append(reqs, &groq.ChatRequest{Messages: []groq.Message{groq.User(fmt.Sprintf("q%02d", i))}})
		}
		reqs[3] = nil
		var progress []int
		callbacks := 0
		var mu sync.Mutex
		res := c.ChatBatch(context.Background(), reqs,
			groq.WithProgress(func(done, total int) { progress = append(progress, done); assert.Equal(t, 25, total) }),
			groq.WithCallback(func(*groq.ChatResponse, error) { mu.Lock(); callbacks++; mu.Unlock() }))
		require.Len(t, res, 25)
		for i, r := range res {
			assert.Equal(t, i, r.Index)
			if i == 3 {
				assert.ErrorIs(t, r.Err, groq.ErrInvalidRequest)
				continue
			}
			require.NoError(t, r.Err)
			assert.Contains(t, r.Response.Text(), fmt.Sprintf("q%02d", i), "results in input order")
		}
		assert.Equal(t, 24, callbacks, "the callback runs once per call")
		assert.Len(t, progress, 25)
		assert.Equal(t, 25, progress[24])
		assert.Equal(t, 24, srv.Stats().Requests)
	})
}

func TestChatBatchCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 10}))
		var reqs []*groq.ChatRequest
		for i := range 100 {
			reqs = append(reqs, &groq.ChatRequest{Messages: []groq.Message{groq.User(fmt.Sprint(i))}})
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(33*time.Second, cancel)
		start := time.Now()
		res := c.ChatBatch(ctx, reqs)
		assert.Equal(t, 33*time.Second, time.Since(start), "cancel stops the batch at once")
		ok, cancelled := 0, 0
		for _, r := range res {
			if r.Err == nil {
				ok++
			} else {
				assert.True(t, r.Cancelled, "result %d: %v", r.Index, r.Err)
				assert.ErrorIs(t, r.Err, context.Canceled)
				cancelled++
			}
		}
		assert.Equal(t, 100, ok+cancelled)
		assert.Equal(t, 15, ok, "10 at once, then one every 6s until 33s")
		assert.Equal(t, ok, srv.Stats().Requests)
	})
}
