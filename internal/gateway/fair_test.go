package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
)

// gatedUpstream answers chat calls once gate is closed, recording the order of
// their first message's content.
func gatedUpstream(t *testing.T, gate chan struct{}) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var order []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/models" {
			io.WriteString(w, `{"object":"list","data":[{"id":"m","object":"model"}]}`)
			return
		}
		var req struct {
			Messages []struct{ Content string }
		}
		json.NewDecoder(r.Body).Decode(&req)
		<-gate
		mu.Lock()
		order = append(order, req.Messages[0].Content)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	}))
	t.Cleanup(up.Close)
	return up, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), order...) }
}

// TestTokensTakeTurnsWithinAPriority: through the gateway with one request to
// Groq at a time, token "script" queues 2,000 calls at priority 5, then token
// "person" sends one at priority 5: Groq sees it within the next few calls,
// not after the 2,000.
func TestTokensTakeTurnsWithinAPriority(t *testing.T) {
	gate := make(chan struct{})
	up, order := gatedUpstream(t, gate)
	gw, front := setupGW(t, up.URL, []Token{{Name: "script", Secret: "ts"}, {Name: "person", Secret: "tp"}},
		groq.WithMaxConcurrency(1), groq.WithMaxQueue(5000), groq.WithModelLimits("m", groq.Limits{RPM: 10_000_000, TPM: 1_000_000_000}))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2100}}
	defer hc.CloseIdleConnections()
	var wg sync.WaitGroup
	var bad atomic.Int64
	send := func(tok, content string) {
		resp, data := post(t, hc, front.URL, tok, fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":%q}]}`, content), "X-Groq-Priority", "5")
		if resp.StatusCode != 200 {
			bad.Add(1)
			t.Log(string(data))
		}
	}
	for i := range 2000 {
		wg.Go(func() { send("ts", fmt.Sprint("script-", i)) })
	}
	require.Eventually(t, func() bool { return gw.c.Waiting("m", 5) == 1999 }, 30*time.Second, 10*time.Millisecond, "the script's backlog is queued")
	wg.Go(func() { send("tp", "person") })
	require.Eventually(t, func() bool { return gw.c.Waiting("m", 5) == 2000 }, 10*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	require.Zero(t, bad.Load())
	o := order()
	require.Len(t, o, 2001)
	at := -1
	for i, c := range o {
		if c == "person" {
			at = i
		}
	}
	assert.LessOrEqual(t, at, 3, "Groq saw the person's call after %d of the script's", at)
	t.Logf("Groq saw the person's call after %d of the script's 2,000", at)
}

// TestMaxInFlightBoundsAToken: a token with max-in-flight=2 has at most 2 calls
// at Groq at once; another token is not held back by its backlog.
func TestMaxInFlightBoundsAToken(t *testing.T) {
	gate := make(chan struct{})
	up, order := gatedUpstream(t, gate)
	gw, front := setupGW(t, up.URL, []Token{{Name: "script", Secret: "ts", MaxInFlight: 2}, {Name: "person", Secret: "tp"}},
		groq.WithMaxConcurrency(8), groq.WithModelLimits("m", groq.Limits{RPM: 10_000_000, TPM: 1_000_000_000}))
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			post(t, http.DefaultClient, front.URL, "ts", fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":"s%d"}]}`, i))
		})
	}
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 2, gw.c.RateLimits("m").InFlight, "the script's calls at Groq")
	assert.Zero(t, gw.c.Waiting("m", 10), "the rest wait in the gateway, not in the client's queue")
	wg.Go(func() {
		post(t, http.DefaultClient, front.URL, "tp", `{"model":"m","messages":[{"role":"user","content":"person"}]}`)
	})
	require.Eventually(t, func() bool { return gw.c.RateLimits("m").InFlight == 3 }, 5*time.Second, 10*time.Millisecond, "the person's call goes at once")
	close(gate)
	wg.Wait()
	assert.Len(t, order(), 11)
}
