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

// TestModelsDoNotBlockEachOther: a call for a model with capacity is admitted at
// once while a call for another model waits for its empty bucket.
func TestModelsDoNotBlockEachOther(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{
			groqtest.WithModel("slow", groqtest.Limits{RPM: 1}),
			groqtest.WithModel("fast", groqtest.Limits{RPM: 600}),
		}, groq.WithModelLimits("slow", groq.Limits{RPM: 1}), groq.WithModelLimits("fast", groq.Limits{RPM: 600}))
		ctx := context.Background()
		_, err := c.Chat(ctx, hello, groq.WithModel("slow"))
		require.NoError(t, err)

		queued := make(chan error, 1)
		go func() {
			_, err := c.Chat(ctx, hello, groq.WithModel("slow"), groq.WithPriority(1))
			queued <- err
		}()
		synctest.Wait()
		require.Equal(t, map[int]int{1: 1}, c.RateLimits("slow").Queued, "the second slow call waits for refill")

		start := time.Now()
		_, err = c.Chat(ctx, hello, groq.WithModel("fast"), groq.WithPriority(10))
		require.NoError(t, err)
		assert.Equal(t, time.Duration(0), time.Since(start), "the fast model's call did not wait for the slow model's")

		require.NoError(t, <-queued)
		// A bucket one request deep has no room for the margin's fraction.
		assert.Equal(t, time.Minute, time.Since(start), "the slow call waited for its own refill")
		assert.Equal(t, 0, srv.Stats().RateLimited)
	})
}

// TestFreeSlotGoesToTheMostUrgentReadyCall: with one concurrency slot, the slot
// goes to the most urgent waiter across models, not to the earliest.
func TestFreeSlotGoesToTheMostUrgentReadyCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{
			groqtest.WithModel("a", groqtest.Limits{}), groqtest.WithModel("b", groqtest.Limits{}),
			groqtest.WithLatency(time.Second, 0),
		}, groq.WithMaxConcurrency(1), groq.WithRPM(0))
		ctx := context.Background()
		var wg sync.WaitGroup
		wg.Go(func() { c.Chat(ctx, []groq.Message{groq.User("holder")}, groq.WithModel("a")) })
		synctest.Wait()
		wg.Go(func() { c.Chat(ctx, []groq.Message{groq.User("low")}, groq.WithModel("a"), groq.WithPriority(9)) })
		synctest.Wait()
		wg.Go(func() { c.Chat(ctx, []groq.Message{groq.User("urgent")}, groq.WithModel("b"), groq.WithPriority(2)) })
		wg.Wait()
		var order []string
		for _, a := range srv.Arrivals() {
			order = append(order, a.Prompt)
		}
		assert.Equal(t, []string{"holder", "urgent", "low"}, order)
	})
}

func TestUrgentCallOvertakesBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(groqtest.WithModel(simModel, groqtest.Limits{RPM: 1}))
		c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 1}))
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Chat(context.Background(), []groq.Message{groq.User("first")}) // empties the bucket
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := range 500 {
			wg.Go(func() {
				c.Chat(ctx, []groq.Message{groq.User(fmt.Sprintf("backlog %d", i))}, groq.WithPriority(10))
			})
		}
		synctest.Wait()
		assert.Equal(t, map[int]int{10: 500}, c.RateLimits(simModel).Queued)
		resp, err := c.Chat(context.Background(), []groq.Message{groq.User("urgent")}, groq.WithPriority(1))
		require.NoError(t, err)
		assert.Contains(t, resp.Text(), "urgent")
		cancel()
		wg.Wait()
		arr := srv.Arrivals()
		require.Len(t, arr, 2, "the urgent call is the next one sent; the backlog left on cancel")
		assert.Equal(t, "urgent", arr[1].Prompt)
		assert.Equal(t, time.Minute, arr[1].At.Sub(arr[0].At))
		assert.Empty(t, c.RateLimits(simModel).Queued, "cancelled waiters left the queue")
	})
}

func TestFirstComeFirstServedWithinPriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 6}))
		_, errs := load(c, 6) // the burst
		noErrors(t, errs)
		var wg sync.WaitGroup
		for i := range 12 {
			p := 5
			if i%3 == 0 {
				p = 2
			}
			wg.Go(func() {
				_, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprintf("p%d-%02d", p, i))}, groq.WithPriority(p))
				assert.NoError(t, err)
			})
			synctest.Wait() // arrival order is i's order
		}
		wg.Wait()
		var got []string
		for _, a := range srv.Arrivals()[6:] {
			got = append(got, a.Prompt)
		}
		assert.Equal(t, []string{"p2-00", "p2-03", "p2-06", "p2-09",
			"p5-01", "p5-02", "p5-04", "p5-05", "p5-07", "p5-08", "p5-10", "p5-11"}, got)
	})
}

func TestPriorityAging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 6}),
			groq.WithPriorityAging(10*time.Second))
		_, errs := load(c, 6) // the burst
		noErrors(t, errs)
		var wg sync.WaitGroup
		// One priority-10 call, then a steady stream of urgent calls arriving twice as
		// fast as the limit serves them: without aging the old call would wait forever.
		done := make(chan struct{})
		wg.Go(func() {
			c.Chat(context.Background(), []groq.Message{groq.User("starving")}, groq.WithPriority(10))
			close(done)
		})
		synctest.Wait()
		stop := make(chan struct{})
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				go c.Chat(context.Background(), []groq.Message{groq.User("urgent")}, groq.WithPriority(1))
				time.Sleep(5 * time.Second)
			}
		})
		select {
		case <-done:
		case <-time.After(10 * time.Minute):
			t.Error("a priority-10 call starved behind a steady urgent stream despite aging")
		}
		close(stop)
		c.Close()
		wg.Wait()
	})
}

func TestMaxQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 1}), groq.WithMaxQueue(3))
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { c.Chat(ctx, hello) })
		}
		synctest.Wait()
		_, err = c.Chat(context.Background(), hello)
		assert.ErrorIs(t, err, groq.ErrQueueFull)
		cancel()
		wg.Wait()
		assert.Equal(t, 1, srv.Stats().Requests)
	})
}
