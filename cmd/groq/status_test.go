package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/gateway"
)

// statusGateway is a gateway with cfg in front of the simulator, and its client.
func statusGateway(t *testing.T, cfg gateway.Config) (*httptest.Server, *groq.Client) {
	t.Helper()
	srv := groqtest.NewServer()
	t.Cleanup(srv.Close)
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_upstream"), groq.WithBaseURL(srv.URL()), gateway.ClientOption(),
		groq.WithModelLimits("llama-3.1-8b-instant", groq.Limits{RPM: 2, TPM: 6000}))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	gw, err := gateway.New(c, cfg)
	require.NoError(t, err)
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	return front, c
}

// TestStatusOnceDrawsBucketsQueueAndTokens: groq status URL --once prints the
// gateway's buckets as they are, its queue most urgent first, and its tokens.
func TestStatusOnceDrawsBucketsQueueAndTokens(t *testing.T) {
	front, c := statusGateway(t, gateway.Config{OpenStatus: true, Tokens: []gateway.Token{{Name: "web", Secret: "gw_web", DailyTokens: 5000}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 { // the RPM bucket (2) is empty after these
		_, err := c.Chat(ctx, []groq.Message{groq.User("hi")})
		require.NoError(t, err)
	}
	done := make(chan struct{})
	for _, p := range []int{9, 9, 1} {
		go func() { c.Chat(ctx, []groq.Message{groq.User("waits")}, groq.WithPriority(p)); done <- struct{}{} }()
	}
	require.Eventually(t, func() bool { return c.Waiting("", 10) == 3 }, 5*time.Second, 5*time.Millisecond)

	code, out, stderr := runIn(t, nil, "status", front.URL, "--once")
	require.Equal(t, exitOK, code, stderr)
	t.Logf("groq status --once:\n%s", out)
	assert.NotContains(t, out, clearScreen, "--once does not clear the screen")
	assert.Contains(t, out, "llama-3.1-8b-instant")
	assert.Regexp(t, `RPM \[\.{20}\]\s+2 used\s+0 left of 2\s+configured`, out)
	assert.Contains(t, out, "queue: 3 waiting")
	p1, p9 := strings.Index(out, "p1 "), strings.Index(out, "p9 ")
	require.True(t, p1 >= 0 && p9 >= 0, out)
	assert.Less(t, p1, p9, "the urgent call shows above the backlog:\n%s", out)
	assert.Regexp(t, `web\s+0\s+0\s+5000\s+0`, out)

	code, out, stderr = runIn(t, nil, "status", strings.TrimPrefix(front.URL, "http://")+"/status", "--json")
	require.Equal(t, exitOK, code, stderr)
	var v gateway.StatusView
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	assert.Equal(t, map[int]int{1: 1, 9: 2}, v.Queued)
	cancel()
	for range 3 {
		<-done
	}
}

// TestStatusNeedsTheAdminTokenOffLoopback: without the admin token the command
// says why and exits 1; with it (flag or environment) it prints the status.
func TestStatusNeedsTheAdminTokenOffLoopback(t *testing.T) {
	front, _ := statusGateway(t, gateway.Config{AdminToken: "gw_admin", Tokens: []gateway.Token{{Name: "web", Secret: "gw_web"}}})
	code, out, stderr := runIn(t, nil, "status", front.URL, "--once")
	assert.Equal(t, exitAPI, code)
	assert.Empty(t, out)
	assert.Contains(t, stderr, "answered 401: the status needs the admin token")
	code, _, stderr = runIn(t, nil, "status", front.URL, "--once", "--admin-token", "gw_web")
	assert.Equal(t, exitAPI, code)
	assert.Contains(t, stderr, "answered 403: a caller's token does not open the status")
	code, out, stderr = runIn(t, nil, "status", front.URL, "--once", "--admin-token", "gw_admin")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, out, "tokens (today, UTC)")
	code, out, stderr = runIn(t, map[string]string{"GROQ_GATEWAY_ADMIN_TOKEN": "gw_admin"}, "status", front.URL, "--once")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, out, "web")

	code, _, stderr = runIn(t, nil, "status")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "status takes one gateway URL")
	code, _, stderr = runIn(t, nil, "status", "ftp://x")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "not an http(s) URL")
	code, _, stderr = runIn(t, nil, "statsu", "http://x")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "did you mean groq status?")
	code, out, _ = runIn(t, nil, "help", "status")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "usage: groq status URL")
	assert.Contains(t, out, "-once")
}

// frames is a writer that counts the frames drawn and ends ctx at the n-th.
type frames struct {
	n, seen int
	out     strings.Builder
	stop    context.CancelFunc
}

func (f *frames) Write(p []byte) (int, error) {
	f.out.Write(p)
	if f.seen++; f.seen == f.n {
		f.stop()
	}
	return len(p), nil
}

// TestStatusRedrawsLikeTop: without --once the status is cleared and drawn
// again each interval, and a call made after the first frame shows in the next;
// a gateway that stops answering is said so, and asked again.
func TestStatusRedrawsLikeTop(t *testing.T) {
	front, c := statusGateway(t, gateway.Config{OpenStatus: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &frames{n: 3, stop: cancel}
	calls := 0
	hc := front.Client()
	draw := func(n int) {
		for calls < n {
			_, err := c.Chat(context.Background(), []groq.Message{groq.User("hi")})
			require.NoError(t, err)
			calls++
		}
	}
	draw(1)
	wrapped := &afterFirst{w: f, then: func() { draw(2) }}
	watchStatus(ctx, hc, front.URL+"/status", "", 5*time.Millisecond, wrapped)
	out := f.out.String()
	require.Equal(t, 3, strings.Count(out, clearScreen), out)
	screens := strings.Split(out, clearScreen)[1:]
	assert.Regexp(t, `RPM \[#{10}\.{10}\]\s+1 used`, screens[0])
	assert.Regexp(t, `RPM \[\.{20}\]\s+2 used`, screens[1], "the second screen shows the second call")

	front.Close()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	down := &frames{n: 1, stop: cancel}
	watchStatus(ctx, hc, front.URL+"/status", "", time.Millisecond, down)
	assert.Contains(t, down.out.String(), "asking again every")
}

// afterFirst runs then once, after the first frame is written.
type afterFirst struct {
	w    io.Writer
	done bool
	then func()
}

func (a *afterFirst) Write(p []byte) (int, error) {
	n, err := a.w.Write(p)
	if !a.done {
		a.done = true
		a.then()
	}
	return n, err
}
