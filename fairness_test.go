package groq_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// TestCallersTakeTurnsWithinAPriority: with one request in flight at a time, a
// caller queues 2,000 calls at priority 5, then another sends one at priority
// 5: it is admitted within the next few admissions, not after the 2,000.
func TestCallersTakeTurnsWithinAPriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel("m", groqtest.Limits{}), groqtest.WithLatency(10*time.Millisecond, 0)},
			groq.WithModelLimits("m", groq.Limits{RPM: 1_000_000, TPM: 1_000_000_000}), groq.WithMaxConcurrency(1))
		ctx := context.Background()
		var wg sync.WaitGroup
		var done atomic.Int64
		for i := range 2000 {
			wg.Go(func() {
				_, err := c.Chat(ctx, hello, groq.WithModel("m"), groq.WithPriority(5), groq.WithCaller("script"), groq.WithoutCache())
				assert.NoError(t, err)
				done.Add(1)
			})
			if i == 0 {
				synctest.Wait() // the first is in flight: the rest queue behind it in order
			}
		}
		synctest.Wait()
		require.Equal(t, 1999, c.Waiting("m", 5), "the script's backlog is queued")
		_, err := c.Chat(ctx, hello, groq.WithModel("m"), groq.WithPriority(5), groq.WithCaller("person"), groq.WithoutCache())
		require.NoError(t, err)
		before := done.Load()
		wg.Wait()
		assert.LessOrEqual(t, before, int64(3), "the script's calls answered before the person's")
		t.Logf("the person's call was answered after %d of the script's 2,000", before)
	})
}
