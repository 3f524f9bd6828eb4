package groq_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

var hello = []groq.Message{groq.User("hello")}

func TestChatOverSocket(t *testing.T) {
	srv := groqtest.NewServer()
	defer srv.Close()
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_socket"), groq.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	defer c.Close()

	resp, err := c.Chat(context.Background(), []groq.Message{groq.System("be brief"), groq.User("What is red teaming?")})
	require.NoError(t, err)
	assert.Contains(t, resp.Text(), "What is red teaming?")
	assert.Equal(t, 1, resp.Meta.Attempts)
	assert.Equal(t, 0, resp.Meta.KeyIndex)
	assert.True(t, strings.HasPrefix(resp.Meta.RequestID, "req_"), "request id %q", resp.Meta.RequestID)
	assert.True(t, resp.Meta.RateLimit.Present)
	assert.Equal(t, 14400, resp.Meta.RateLimit.RequestsPerDay, "x-ratelimit-limit-requests is per day")
	assert.Equal(t, 6000, resp.Meta.RateLimit.TokensPerMinute, "x-ratelimit-limit-tokens is per minute")
	assert.Equal(t, 14399, resp.Meta.RateLimit.RequestsLeftToday)
	require.NotNil(t, resp.Usage)
	assert.Greater(t, resp.Usage.TotalTokens, 0)
	assert.Equal(t, "llama-3.1-8b-instant", resp.Model)
}

func TestKeysFromEnvironment(t *testing.T) {
	srv := groqtest.NewUnstartedServer(groqtest.WithKeys("env_a", "env_b", "env_single"))
	for _, tt := range []struct {
		keys, key string
		want      int
	}{{"env_a, env_b", "", 2}, {"", "env_single", 1}, {"env_a", "env_single", 1}} {
		t.Setenv("GROQ_API_KEYS", tt.keys)
		t.Setenv("GROQ_API_KEY", tt.key)
		c, err := groq.NewClient(groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
		require.NoError(t, err)
		snap := c.RateLimits("")
		assert.Len(t, snap.Quotas, tt.want, "GROQ_API_KEYS=%q GROQ_API_KEY=%q", tt.keys, tt.key)
		_, err = c.Chat(context.Background(), hello)
		assert.NoError(t, err)
		c.Close()
	}
}

func TestBadRequestsNeverReachTheNetwork(t *testing.T) {
	c, srv := sim(t, nil)
	ctx := context.Background()
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"no messages", func() error { _, err := c.Chat(ctx, nil); return err }, "messages"},
		{"empty model option", func() error { _, err := c.Chat(ctx, hello, groq.WithModel("")); return err }, "WithModel"},
		{"unknown role", func() error {
			_, err := c.Chat(ctx, []groq.Message{{Role: "wizard", Content: "hi"}})
			return err
		}, "messages[0].role"},
		{"empty role", func() error { _, err := c.Chat(ctx, []groq.Message{{Content: "hi"}}); return err }, "messages[0].role"},
		{"temperature", func() error { _, err := c.Chat(ctx, hello, groq.WithTemperature(3)); return err }, "WithTemperature"},
		{"max tokens", func() error { _, err := c.Chat(ctx, hello, groq.WithMaxTokens(0)); return err }, "WithMaxTokens"},
		{"priority", func() error { _, err := c.Chat(ctx, hello, groq.WithPriority(11)); return err }, "WithPriority"},
		{"nil request", func() error { _, err := c.ChatCompletion(ctx, nil); return err }, "request"},
		{"stream flag", func() error {
			_, err := c.ChatCompletion(ctx, &groq.ChatRequest{Messages: hello, Stream: true})
			return err
		}, "stream"},
		{"empty user message", func() error { _, err := c.Chat(ctx, []groq.Message{groq.User("  ")}); return err }, "messages[0].content"},
		{"nil context", func() error {
			//lint:ignore SA1012 a nil context is the bad input here
			_, err := c.Chat(nil, hello) //nolint:staticcheck
			return err
		}, "ctx"},
		{"tool message without id", func() error {
			_, err := c.Chat(ctx, []groq.Message{{Role: groq.RoleTool, Content: "42"}})
			return err
		}, "messages[0].tool_call_id"},
		{"invalid UTF-8", func() error { _, err := c.Chat(ctx, []groq.Message{groq.User("caf\xe9")}); return err }, "messages[0].content"},
		{"invalid UTF-8 in a part", func() error {
			_, err := c.Chat(ctx, []groq.Message{{Role: groq.RoleUser, Parts: []groq.ContentPart{{Type: "text", Text: "ok"}, {Type: "text", Text: "\xff"}}}})
			return err
		}, "messages[0].content[1].text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			require.ErrorIs(t, err, groq.ErrInvalidRequest)
			var re *groq.RequestError
			require.True(t, errors.As(err, &re))
			assert.Equal(t, tt.field, re.Field)
		})
	}
	assert.Equal(t, 0, srv.Stats().Requests, "no bad request may reach the server")
}

func TestCallAfterClose(t *testing.T) {
	c, srv := sim(t, nil)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close is idempotent")
	_, err := c.Chat(context.Background(), hello)
	assert.ErrorIs(t, err, groq.ErrClientClosed)
	assert.Equal(t, 0, srv.Stats().Requests)
}

func TestContextEndsTheCall(t *testing.T) {
	t.Run("cancelled during backoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, srv := sim(t, []groqtest.Option{groqtest.WithFaultRate(groqtest.Fault{Kind: groqtest.Fault500}, 1)},
				groq.WithBackoff(10*time.Second, 20*time.Second))
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(5*time.Second, cancel)
			_, err := c.Chat(ctx, hello)
			assert.ErrorIs(t, err, context.Canceled)
			assert.Contains(t, err.Error(), "500", "the error tells the last failure")
			assert.Equal(t, 1, srv.Stats().Requests)
		})
	})
	t.Run("deadline during a slow response", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, srv := sim(t, nil)
			srv.Script(groqtest.Fault{Kind: groqtest.FaultSlow, Delay: time.Minute})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, err := c.Chat(ctx, hello)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, 1, srv.Stats().Requests, "an expired context is not retried")
		})
	})
	t.Run("already cancelled", func(t *testing.T) {
		c, srv := sim(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Chat(ctx, hello)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 0, srv.Stats().Requests)
	})
}

func TestHTTPClientIsNotMutated(t *testing.T) {
	hc := &http.Client{Timeout: 7 * time.Second}
	_, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithHTTPClient(hc))
	require.NoError(t, err)
	assert.Equal(t, 7*time.Second, hc.Timeout)
	assert.Nil(t, hc.Transport)
}

func TestChatCompletionDoesNotModifyTheRequest(t *testing.T) {
	c, _ := sim(t, nil)
	req := &groq.ChatRequest{Messages: hello}
	_, err := c.ChatCompletion(context.Background(), req, groq.WithMaxTokens(50), groq.WithTemperature(0.2))
	require.NoError(t, err)
	assert.Equal(t, &groq.ChatRequest{Messages: hello}, req)
	st, err := c.ChatCompletionStream(context.Background(), req)
	require.NoError(t, err)
	st.Close()
	assert.False(t, req.Stream, "ChatCompletionStream sets Stream on a copy")
	assert.Equal(t, "", req.Model)
}

func TestToolResultMessage(t *testing.T) {
	b, err := json.Marshal(groq.ToolResult("call_1", `{"temp":21}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{"role":"tool","content":"{\"temp\":21}","tool_call_id":"call_1"}`, string(b))
	c, srv := sim(t, nil)
	_, err = c.Chat(context.Background(), []groq.Message{
		groq.User("weather?"),
		{Role: groq.RoleAssistant, ToolCalls: []groq.ToolCall{{ID: "call_1", Type: "function", Function: groq.FunctionCall{Name: "weather", Arguments: "{}"}}}},
		groq.ToolResult("call_1", `{"temp":21}`),
	})
	require.NoError(t, err)
	assert.Equal(t, 1, srv.Stats().Successes)
}

// TestNilContextIsAnError: a nil context is refused with a clear error before any
// lock is taken, and the client keeps working.
func TestNilContextIsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil, groq.WithCache(groq.NewMemoryCache(time.Hour, 0)))
		//lint:ignore SA1012 a nil context is what this test is about
		_, err := c.Chat(nil, hello) //nolint:staticcheck
		require.ErrorIs(t, err, groq.ErrInvalidRequest)
		assert.Contains(t, err.Error(), "ctx")
		//lint:ignore SA1012 likewise
		_, err = c.ChatStream(nil, hello) //nolint:staticcheck
		require.ErrorIs(t, err, groq.ErrInvalidRequest)
		//lint:ignore SA1012 likewise
		rs := c.ChatBatch(nil, []*groq.ChatRequest{{Messages: hello}}) //nolint:staticcheck
		require.ErrorIs(t, rs[0].Err, groq.ErrInvalidRequest)
		assert.Equal(t, 0, srv.Stats().Requests)

		_, err = c.Chat(context.Background(), hello)
		require.NoError(t, err, "the client still works")
		require.NoError(t, c.Close())
	})
}

// TestCloseClosesItsOwnIdleConnections: the connections of the transport the
// client made are closed by Close (real sockets).
func TestCloseClosesItsOwnIdleConnections(t *testing.T) {
	var opened, closed atomic.Int64
	ts := httptest.NewUnstartedServer(groqtest.NewUnstartedServer())
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(ts.URL+"/openai/v1"))
	require.NoError(t, err)
	_, err = c.Chat(context.Background(), hello)
	require.NoError(t, err)
	require.Equal(t, int64(1), opened.Load())
	require.Equal(t, int64(0), closed.Load(), "kept alive while the client is open")
	require.NoError(t, c.Close())
	assert.Eventually(t, func() bool { return closed.Load() == 1 }, 5*time.Second, 5*time.Millisecond, "Close closed the idle connection")
}
