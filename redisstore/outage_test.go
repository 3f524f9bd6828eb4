package redisstore_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/redisstore"
	"github.com/groqkit/groq/redisstore/internal/redistest"
)

// coolWatch is one replica's transport: it notes every Retry-After the replica
// is given and counts the requests it sends before that wait has passed.
type coolWatch struct {
	next       http.RoundTripper
	mu         sync.Mutex
	until      time.Time
	violations int
}

func (c *coolWatch) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if time.Now().Before(c.until) {
		c.violations++
	}
	c.mu.Unlock()
	resp, err := c.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		wait := time.Duration(0)
		if ms, err := strconv.Atoi(resp.Header.Get("Retry-After-Ms")); err == nil {
			wait = time.Duration(ms) * time.Millisecond
		} else if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			wait = time.Duration(s) * time.Second
		}
		c.mu.Lock()
		if u := time.Now().Add(wait); u.After(c.until) {
			c.until = u
		}
		c.mu.Unlock()
	}
	return resp, err
}

// TestRedisDownFiveSeconds is the audit's run (issue 32): three replicas, each a
// Client with its own Store, share one key of 120 requests a minute on a
// Groq-shaped server, two callers each, in a closed loop. Three seconds in, Redis
// stops answering (SIGSTOP: it accepts connections and answers nothing) for five
// seconds. Every call succeeds, and calls go on meanwhile (paced at a third of
// the key each); the server sees few 429s; no replica sends inside a Retry-After
// it was given; and two seconds after Redis returns the 429s have stopped (what
// was sent during the outage was charged to Redis). It runs with go-redis's
// defaults (reads bounded by a 3 s ReadTimeout, which the store's own timeout
// must cut short) and with ContextTimeoutEnabled. Without the share each replica
// sends its own whole bucket meanwhile, and without the charge-back Redis admits
// a burst the server no longer has.
func TestRedisDownFiveSeconds(t *testing.T) {
	for _, ctxTimeouts := range []bool{false, true} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", ctxTimeouts), func(t *testing.T) {
			t.Parallel()
			redisDownFiveSeconds(t, ctxTimeouts)
		})
	}
}

func redisDownFiveSeconds(t *testing.T, ctxTimeouts bool) {
	rs := redistest.Start(t)
	const rpm = 120
	srv := groqShaped(t, rpm)
	var watches []*coolWatch
	var clients []*groq.Client
	for range 3 {
		rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: ctxTimeouts})
		t.Cleanup(func() { rdb.Close() })
		w := &coolWatch{next: srv.Client().Transport}
		watches = append(watches, w)
		c, err := groq.NewClient(groq.WithAPIKeys("gsk_outage_key"), groq.WithBaseURL(srv.URL()),
			groq.WithHTTPClient(&http.Client{Transport: w}), groq.WithModelLimits(sharedModel, groq.Limits{RPM: rpm}),
			groq.WithMaxConcurrency(4), groq.WithMaxRetries(8), groq.WithQuotaStore(redisstore.New(rdb)))
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		clients = append(clients, c)
	}
	start := time.Now()
	pausedAt, resumedAt, stopAt := start.Add(3*time.Second), start.Add(8*time.Second), start.Add(12*time.Second)
	var calls, failed atomic.Int64
	var wg sync.WaitGroup
	for i, c := range clients {
		for j := range 2 {
			wg.Go(func() {
				for n := 0; time.Now().Before(stopAt); n++ {
					_, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprintf("replica %d caller %d call %d", i, j, n))},
						groq.WithModel(sharedModel), groq.WithMaxTokens(10))
					calls.Add(1)
					if err != nil {
						failed.Add(1)
						t.Logf("replica %d: %v", i, err)
					}
				}
			})
		}
	}
	time.Sleep(time.Until(pausedAt))
	rs.Pause()
	time.Sleep(time.Until(resumedAt))
	rs.Resume()
	wg.Wait()

	var limited, late, during int
	var lastLimited time.Time
	perSecond := map[int]int{}
	for _, a := range srv.Arrivals() {
		perSecond[int(a.At.Sub(start)/time.Second)]++
		if a.At.After(pausedAt) && a.At.Before(resumedAt) {
			during++
		}
		if a.Status == http.StatusTooManyRequests {
			limited++
			lastLimited = a.At
			if a.At.After(resumedAt.Add(2 * time.Second)) {
				late++
			}
		}
	}
	st := srv.Stats()
	var own []int
	for _, w := range watches {
		w.mu.Lock()
		own = append(own, w.violations)
		w.mu.Unlock()
	}
	t.Logf("%d calls, %d failed; server: %d requests (%d while Redis was paused), %d 429s (the last %v after Redis returned); sent inside a Retry-After: %v by replica, %d by the key (groqtest); arrivals per second: %v",
		calls.Load(), failed.Load(), st.Requests, during, limited, lastLimited.Sub(resumedAt).Round(time.Millisecond), own, st.Violations, perSecond)
	assert.Positive(t, calls.Load())
	assert.Zero(t, failed.Load(), "every call succeeds")
	assert.GreaterOrEqual(t, during, 5, "calls go on while Redis is paused (the key allows 10 in 5 s)")
	assert.LessOrEqual(t, limited, 6, "the server sees few 429s")
	assert.Zero(t, late, "no 429 later than 2 s after Redis returned")
	for i, n := range own {
		assert.Zero(t, n, "replica %d sent inside a Retry-After it was given", i)
	}
}
