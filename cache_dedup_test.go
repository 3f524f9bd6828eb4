package groq_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInflightDedup(t *testing.T) {
	for name, opt := range map[string]groq.Option{
		"with a cache":    groq.WithCache(groq.NewMemoryCache(time.Hour, 0)),
		"dedup, no cache": groq.WithInflightDedup(),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, srv := sim(t, []groqtest.Option{groqtest.WithLatency(time.Second, 0)}, opt)
				var wg sync.WaitGroup
				texts := make([]string, 50)
				shared := 0
				var mu sync.Mutex
				for i := range 50 {
					wg.Go(func() {
						resp, err := c.Chat(context.Background(), hello)
						require.NoError(t, err)
						texts[i] = resp.Text()
						mu.Lock()
						if resp.Meta.Shared {
							shared++
						}
						mu.Unlock()
					})
				}
				wg.Wait()
				assert.Equal(t, 1, srv.Stats().Requests, "50 identical calls share one request")
				assert.Equal(t, 49, shared)
				for _, s := range texts {
					assert.Equal(t, texts[0], s)
				}
			})
		})
	}
}
