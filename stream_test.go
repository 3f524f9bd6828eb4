package groq_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

func TestStreamAssemblesChunks(t *testing.T) {
	check := func(t *testing.T, c *groq.Client) {
		want, err := c.Chat(context.Background(), []groq.Message{groq.User("tell me a story")})
		require.NoError(t, err)
		st, err := c.ChatStream(context.Background(), []groq.Message{groq.User("tell me a story")})
		require.NoError(t, err)
		defer st.Close()
		var text strings.Builder
		n := 0
		for st.Next() {
			n++
			for _, ch := range st.Current().Choices {
				text.WriteString(ch.Delta.Content)
			}
		}
		require.NoError(t, st.Err())
		assert.GreaterOrEqual(t, n, 4, "several chunks")
		assert.Equal(t, want.Text(), text.String())
		assert.Equal(t, want.Text(), st.Text())
		assert.Equal(t, "stop", st.FinishReason())
		require.NotNil(t, st.Usage())
		assert.Equal(t, want.Usage.TotalTokens, st.Usage().TotalTokens)
		assert.Equal(t, 1, st.Meta.Attempts)
		assert.True(t, strings.HasPrefix(st.Meta.RequestID, "req_"))
		assert.Equal(t, want.Text(), st.Response().Text())
	}
	t.Run("socket", func(t *testing.T) {
		srv := groqtest.NewServer()
		defer srv.Close()
		c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()))
		require.NoError(t, err)
		defer c.Close()
		check(t, c)
	})
	t.Run("memory", func(t *testing.T) {
		c, _ := sim(t, nil)
		check(t, c)
	})
}

func TestStreamRangeOver(t *testing.T) {
	c, _ := sim(t, nil)
	st, err := c.ChatStream(context.Background(), hello)
	require.NoError(t, err)
	n := 0
	for chunk, err := range st.All() {
		require.NoError(t, err)
		require.NotNil(t, chunk)
		n++
	}
	assert.Greater(t, n, 2)
	assert.Equal(t, 0, c.RateLimits("").InFlight, "All closes the stream")
}

func TestStreamToolCallFixture(t *testing.T) {
	srv := fixtureServer(t)
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	defer c.Close()
	st, err := c.ChatStream(context.Background(), hello, groq.WithModel("llama-3.3-70b-versatile"))
	require.NoError(t, err)
	assert.Equal(t, 3, drain(t, st))
	require.NoError(t, st.Err())
	calls := st.ToolCalls()
	require.Len(t, calls, 1)
	assert.Equal(t, groq.ToolCall{ID: "tk85n1k4m", Type: "function", Function: groq.FunctionCall{Name: "weather", Arguments: "{}"}}, calls[0])
	assert.Equal(t, "tool_calls", st.FinishReason())
	assert.Equal(t, 225, st.Usage().TotalTokens)
	assert.Equal(t, "req_01kh52nj5yfcat8hrmvrk2j2hj", st.Response().XGroq.ID)
}

func TestStreamToolCallDeltasAcrossChunks(t *testing.T) {
	srv := groqtest.NewUnstartedServer(groqtest.WithHandlerHook(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		for _, ev := range []string{
			`{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant"}}]}`,
			`{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_","arguments":"{\"ci"}}]}}]}`,
			`{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"time","arguments":"{}"}}]}}]}`,
			`{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"weather","arguments":"ty\":\"Oslo\"}"}}]}}]}`,
			`{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"x_groq":{"id":"req_x","usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}}`,
		} {
			w.Write([]byte("data: " + ev + "\n\n"))
		}
		w.Write([]byte("data: [DONE]\n\n"))
		return true
	}))
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	defer c.Close()
	st, err := c.ChatStream(context.Background(), hello)
	require.NoError(t, err)
	drain(t, st)
	require.NoError(t, st.Err())
	assert.Equal(t, []groq.ToolCall{
		{ID: "call_a", Type: "function", Function: groq.FunctionCall{Name: "get_weather", Arguments: `{"city":"Oslo"}`}},
		{ID: "call_b", Type: "function", Function: groq.FunctionCall{Name: "time", Arguments: "{}"}},
	}, st.ToolCalls())
}

func TestStreamReconcilesUsage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{TPM: 10000}))
		st, err := c.ChatStream(context.Background(), hello, groq.WithMaxTokens(3000))
		require.NoError(t, err)
		assert.Equal(t, 1, c.RateLimits(simModel).InFlight, "the slot is held while the stream is open")
		assert.GreaterOrEqual(t, c.RateLimits(simModel).Quotas[0].TokensThisMinute, 3000, "reserved while streaming")
		drain(t, st)
		require.NoError(t, st.Err())
		assert.Equal(t, st.Usage().TotalTokens, c.RateLimits(simModel).Quotas[0].TokensThisMinute, "settled to the final usage")
		assert.Equal(t, 0, c.RateLimits(simModel).InFlight)
	})
}

func TestStreamRetriesBeforeFirstEvent(t *testing.T) {
	for name, f := range map[string]groqtest.Fault{
		"503":        {Kind: groqtest.Fault503, RetryAfter: "2"},
		"429":        {Kind: groqtest.Fault429, RetryAfter: "3"},
		"disconnect": {Kind: groqtest.FaultDisconnect},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, srv := sim(t, nil)
				srv.Script(f)
				st, err := c.ChatStream(context.Background(), hello)
				require.NoError(t, err)
				defer st.Close()
				drain(t, st)
				require.NoError(t, st.Err())
				assert.Equal(t, 2, st.Meta.Attempts)
				assert.Equal(t, 2, srv.Stats().Requests)
				assert.Equal(t, 0, srv.Stats().Violations)
			})
		})
	}
}

func TestStreamCutMidwayIsNotReplayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil)
		srv.Script(groqtest.Fault{Kind: groqtest.FaultStreamCut})
		st, err := c.ChatStream(context.Background(), []groq.Message{groq.User("a long story please")})
		require.NoError(t, err)
		n := drain(t, st)
		assert.Greater(t, n, 0)
		var se *groq.StreamError
		require.True(t, errors.As(st.Err(), &se), "Err() = %v; want *StreamError", st.Err())
		assert.Equal(t, st.Text(), se.Text)
		assert.NotEmpty(t, se.Text, "the text received is kept")
		assert.Equal(t, 1, srv.Stats().Requests, "a broken stream is never replayed")
		assert.Equal(t, 0, c.RateLimits("").InFlight)
	})
}

func TestStreamErrorEvent(t *testing.T) {
	srv := groqtest.NewUnstartedServer(groqtest.WithHandlerHook(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		w.Write([]byte(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"}}],"x_groq":{"id":"req_e"}}` + "\n\n"))
		w.Write([]byte(`data: {"error":{"message":"model overloaded","type":"server_error","code":"overloaded"}}` + "\n\n"))
		return true
	}))
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	defer c.Close()
	st, err := c.ChatStream(context.Background(), hello)
	require.NoError(t, err)
	assert.Equal(t, 1, drain(t, st))
	var se *groq.StreamError
	require.True(t, errors.As(st.Err(), &se))
	assert.Equal(t, "Hel", se.Text)
	var apiErr *groq.APIError
	require.True(t, errors.As(st.Err(), &apiErr))
	assert.Equal(t, "overloaded", apiErr.Code)
	assert.Equal(t, "model overloaded", apiErr.Message)

	// x_groq.error ends a stream too.
	srv2 := groqtest.NewUnstartedServer(groqtest.WithHandlerHook(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		w.Write([]byte(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}` + "\n\n"))
		w.Write([]byte(`data: {"id":"c","object":"chat.completion.chunk","choices":[],"x_groq":{"id":"req_e","error":{"message":"stopped","type":"internal"}}}` + "\n\n"))
		return true
	}))
	c2, _ := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv2.URL()), groq.WithHTTPClient(srv2.Client()))
	defer c2.Close()
	st, err = c2.ChatStream(context.Background(), hello)
	require.NoError(t, err)
	drain(t, st)
	require.True(t, errors.As(st.Err(), &apiErr))
	assert.Equal(t, "stopped", apiErr.Message)
	assert.Equal(t, "Hi", st.Text())
}

func TestStreamEarlyCloseLeaksNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithStreamChunkDelay(time.Hour)}, groq.WithMaxConcurrency(1))
		st, err := c.ChatStream(context.Background(), hello)
		require.NoError(t, err)
		require.True(t, st.Next())
		assert.Equal(t, 1, c.RateLimits("").InFlight)
		require.NoError(t, st.Close())
		require.NoError(t, st.Close(), "Close twice is fine")
		assert.False(t, st.Next())
		assert.NoError(t, st.Err(), "an early Close is not an error")
		assert.Equal(t, 0, c.RateLimits("").InFlight, "the slot is released")
		// The handler's goroutine ends too: synctest.Test fails if any goroutine is left.
	})
}

func TestStreamContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithStreamChunkDelay(time.Second)})
		ctx, cancel := context.WithCancel(context.Background())
		st, err := c.ChatStream(ctx, hello)
		require.NoError(t, err)
		require.True(t, st.Next())
		time.AfterFunc(1500*time.Millisecond, cancel)
		drain(t, st)
		assert.ErrorIs(t, st.Err(), context.Canceled)
		assert.Equal(t, 0, c.RateLimits("").InFlight)
	})
}

func TestStreamHoldsItsSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithStreamChunkDelay(time.Minute)}, groq.WithMaxConcurrency(1), groq.WithRPM(0))
		st, err := c.ChatStream(context.Background(), hello)
		require.NoError(t, err)
		done := make(chan error)
		go func() { _, err := c.Chat(context.Background(), hello); done <- err }()
		synctest.Wait()
		assert.Equal(t, 1, srv.Stats().Requests, "the chat waits for the stream's slot")
		time.Sleep(10 * time.Minute)
		select {
		case err := <-done:
			t.Fatalf("Chat returned (%v) while the stream held the only slot", err)
		default:
		}
		st.Close()
		require.NoError(t, <-done)
		assert.Equal(t, 2, srv.Stats().Requests)
	})
}

// endless is a reader of n bytes of 'x', made as they are read.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	k := min(len(p), e.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	e.n -= k
	return k, nil
}

// TestStreamEventTooLarge: an event longer than the bound (here 256 MiB, on the
// first event and after one) is a *StreamError, sent once, and the heap does not
// grow with it.
func TestStreamEventTooLarge(t *testing.T) {
	for name, first := range map[string]string{
		"first event": "",
		"after one":   `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}` + "\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			sent := 0
			c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithHTTPClient(&http.Client{
				Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					sent++
					body := io.MultiReader(strings.NewReader(first+"data: "), &endless{n: 256 << 20})
					return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(body), Request: r}, nil
				}),
			}))
			require.NoError(t, err)
			defer c.Close()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			st, err := c.ChatStream(context.Background(), hello)
			if err == nil {
				for st.Next() {
				}
				err = st.Err()
				st.Close()
			}
			runtime.ReadMemStats(&after)
			var se *groq.StreamError
			require.ErrorAs(t, err, &se, "Chat(...) = %v", err)
			assert.Contains(t, err.Error(), "longer than")
			assert.Equal(t, 1, sent, "not retried: the server answered")
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "the event was not read whole (256 MiB)")
		})
	}
}

// TestStreamEndingOnItsFirstEventSettlesTheBudget: a stream whose first event is
// its last ([DONE], or an error event) gives back its budget hold.
func TestStreamEndingOnItsFirstEventSettlesTheBudget(t *testing.T) {
	for name, event := range map[string]string{
		"done":  "data: [DONE]\n\n",
		"error": `data: {"error":{"message":"overloaded","type":"server_error"}}` + "\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hook := func(w http.ResponseWriter, r *http.Request, body []byte) bool {
					w.Header().Set("Content-Type", "text/event-stream")
					fmt.Fprint(w, event)
					return true
				}
				c, _ := sim(t, []groqtest.Option{groqtest.WithHandlerHook(hook)}, groq.WithDailyTokenBudget(100_000))
				st, err := c.ChatStream(context.Background(), hello)
				require.NoError(t, err)
				for st.Next() {
				}
				st.Close()
				assert.Equal(t, int64(0), c.Budget().Reserved, "nothing stays reserved")
			})
		})
	}
}
