package redisstore_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/gateway"
	"github.com/groqkit/groq/redisstore"
	"github.com/groqkit/groq/redisstore/internal/redistest"
)

// twoGateways sends calls at once through each of two gateways in front of one
// key (RPM 120, a minute's bucket: Groq's shape) and returns the server's 429s. With shared,
// the gateways' clients share a quota store on one Redis.
func twoGateways(t *testing.T, calls int, shared bool) (int, time.Duration) {
	srv := groqtest.NewServer(groqtest.WithModel(sharedModel, groqtest.Limits{RPM: 120}), groqtest.WithLatency(10*time.Millisecond, 10*time.Millisecond))
	defer srv.Close()
	var rs *redistest.Server
	if shared {
		rs = redistest.Start(t)
	}
	var fronts []*httptest.Server
	for range 2 {
		opts := []groq.Option{groq.WithAPIKeys("gsk_shared"), groq.WithBaseURL(srv.URL()), groq.WithModelLimits(sharedModel, groq.Limits{RPM: 120}),
			groq.WithMaxQueue(10000), groq.WithMaxRetryDelay(time.Minute)} // the default concurrency (8)
		if shared {
			opts = append(opts, groq.WithQuotaStore(redisstore.New(rs.Client(), redisstore.WithTimeout(2*time.Second)))) // the race detector slows Redis calls past the default; a timed-out Take falls back to the local buckets
		}
		c, err := groq.NewClient(opts...)
		require.NoError(t, err)
		defer c.Close()
		gw, err := gateway.New(c, gateway.Config{})
		require.NoError(t, err)
		f := httptest.NewServer(gw)
		defer f.Close()
		fronts = append(fronts, f)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for _, f := range fronts {
		hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		for range calls {
			wg.Go(func() {
				resp, err := hc.Post(f.URL+"/v1/chat/completions", "application/json",
					strings.NewReader(`{"model":"`+sharedModel+`","messages":[{"role":"user","content":"hi"}]}`))
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if !ok {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	assert.Zero(t, failed, "every call succeeds")
	return srv.Stats().RateLimited, time.Since(start)
}

// TestTwoGatewaysShareOneQuota: two gateway replicas on one Redis, 68 calls at
// once through each on a key that takes 120 a minute, draw no 429 where, each
// alone, they draw them (each believes it has the whole bucket).
func TestTwoGatewaysShareOneQuota(t *testing.T) {
	alone, _ := twoGateways(t, 68, false)
	assert.Positive(t, alone, "without the store the replicas overrun the key")
	shared, took := twoGateways(t, 68, true)
	assert.Zero(t, shared, "with the store: no 429")
	assert.Less(t, took, 15*time.Second)
	t.Logf("136 calls through two gateways: %d 429s alone, %d shared (%s; the key allows 8 s)", alone, shared, took.Round(time.Millisecond))
}
