package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
)

// countingUpstream is a zero-latency OpenAI-compatible chat server on loopback
// that counts the connections it accepts.
func countingUpstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// TestGatewayReusesUpstreamConnections: 1,000 calls at 32 in flight through a
// gateway whose client has 32 slots open at most 32 connections to the upstream.
func TestGatewayReusesUpstreamConnections(t *testing.T) {
	up, conns := countingUpstream(t)
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_upstream"), groq.WithBaseURL(up.URL), groq.WithMaxConcurrency(32),
		groq.WithModelLimits("m", groq.Limits{RPM: 10_000_000, TPM: 1_000_000_000}))
	require.NoError(t, err)
	defer c.Close()
	gw, err := New(c, Config{})
	require.NoError(t, err)
	front := httptest.NewServer(gw)
	defer front.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, MaxConnsPerHost: 32}}
	defer hc.CloseIdleConnections()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < 1000; i += 32 {
				if resp, _ := post(t, hc, front.URL, "", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, bad.Load(), "calls that were not a 200")
	assert.LessOrEqual(t, conns.Load(), int64(32), "upstream connections for 1,000 calls at 32 in flight")
	t.Logf("1,000 calls at 32 in flight through the gateway: %d upstream connections", conns.Load())
}
