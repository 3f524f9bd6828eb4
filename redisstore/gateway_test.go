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
// key (RPM 120, a minute's bucket: Groq's shape) and returns the server's 429s,
// the calls that did not succeed (status, Retry-After and body) and how long it
// took. With shared, the gateways' clients share a quota store on one Redis.
func twoGateways(t *testing.T, calls int, shared bool) (int, []string, time.Duration) {
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
	var failures []string
	for _, f := range fronts {
		hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		for range calls {
			wg.Go(func() {
				resp, err := hc.Post(f.URL+"/v1/chat/completions", "application/json",
					strings.NewReader(`{"model":"`+sharedModel+`","messages":[{"role":"user","content":"hi"}]}`))
				why := ""
				if err != nil {
					why = err.Error()
				} else {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						why = resp.Status + " retry-after=" + resp.Header.Get("Retry-After") + ": " + string(body)
					}
				}
				if why != "" {
					mu.Lock()
					failures = append(failures, why)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return srv.Stats().RateLimited, failures, time.Since(start)
}

// TestTwoGatewaysShareOneQuota: two gateway replicas on one Redis, 68 calls at
// once through each on a key that takes 120 a minute, draw no 429 where, each
// alone, they draw them (each believes it has the whole bucket) and every call
// succeeds.
//
// Alone, each replica is the other's invisible spender: the call that retries
// can lose the freed slot to the other replica on every attempt and give up
// after its retries. That is the problem the store solves, so the alone run
// does not require every call to succeed; it requires a call that fails to fail
// as an SDK expects (a 429 with Retry-After, which openai-python, openai-node
// and openai-go retry by themselves).
func TestTwoGatewaysShareOneQuota(t *testing.T) {
	alone, aloneFailed, _ := twoGateways(t, 68, false)
	assert.Positive(t, alone, "without the store the replicas overrun the key")
	for _, f := range aloneFailed {
		assert.Regexp(t, `^429 Too Many Requests retry-after=[1-9][0-9]*: .*rate_limit_exceeded`, f, "a call that gives up alone is a 429 with Retry-After")
	}
	shared, sharedFailed, took := twoGateways(t, 68, true)
	assert.Zero(t, shared, "with the store: no 429")
	assert.Empty(t, sharedFailed, "with the store every call succeeds")
	assert.Less(t, took, 15*time.Second)
	t.Logf("136 calls through two gateways: alone %d 429s and %d calls given up, shared %d 429s and %d given up (%s; the key allows 8 s)",
		alone, len(aloneFailed), shared, len(sharedFailed), took.Round(time.Millisecond))
}
