package groq_test

import (
	"context"
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

// countingServer is a zero-latency chat server on loopback that counts the
// connections it accepts.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
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

// TestConnectionsReusedAtConcurrency: 1,000 calls with 32 in flight through the
// client's own transport open at most 32 connections (http.DefaultTransport's
// idle pool of 2 per host dialled again for most of them).
func TestConnectionsReusedAtConcurrency(t *testing.T) {
	srv, conns := countingServer(t)
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_conns"), groq.WithBaseURL(srv.URL), groq.WithMaxConcurrency(32),
		groq.WithModelLimits("m", groq.Limits{RPM: 10_000_000, TPM: 1_000_000_000}))
	require.NoError(t, err)
	defer c.Close()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < 1000; i += 32 {
				if _, err := c.ChatCompletion(context.Background(), &groq.ChatRequest{Model: "m", Messages: []groq.Message{groq.User("hi")}}); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, failed.Load())
	assert.LessOrEqual(t, conns.Load(), int64(32), "connections accepted for 1,000 calls at 32 in flight")
	t.Logf("1,000 calls at 32 in flight: %d connections", conns.Load())
}
