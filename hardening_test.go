package groq_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

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

// panicky is a Context whose Err panics.
type panicky struct{ context.Context }

func (panicky) Err() error { panic("a context that panics") }

// TestPanicInTheSchedulerLeavesNoLock: a panic while a call is in the scheduler
// (here, a caller's Context) takes the call out of the queue and releases the
// lock: later calls and Close work.
func TestPanicInTheSchedulerLeavesNoLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, nil)
		func() {
			defer func() { assert.NotNil(t, recover(), "the panic reaches the caller") }()
			c.Chat(panicky{context.Background()}, hello)
		}()
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		snap := c.RateLimits("")
		assert.Empty(t, snap.Queued, "nothing left queued")
		assert.Equal(t, 0, snap.InFlight)
		require.NoError(t, c.Close())
	})
}

// TestCloseWakesSleepingRetries: calls sleeping before a retry (a 503 asked for
// ten seconds) return ErrClientClosed as soon as Close is called.
func TestCloseWakesSleepingRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithFaultRate(groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "10"}, 1)},
			groq.WithRPM(0))
		start := time.Now()
		errs := make([]error, 100)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint(i))}) })
		}
		time.Sleep(time.Second)
		require.Positive(t, srv.Stats().Requests)
		require.NoError(t, c.Close())
		wg.Wait()
		assert.Equal(t, time.Second, time.Since(start), "every call returned at Close, none waited out its 10 s")
		for i, err := range errs {
			assert.ErrorIs(t, err, groq.ErrClientClosed, "call %d", i)
		}
	})
}

// TestServerTextNeverCarriesAKey: a server (or proxy) that echoes the Authorization
// header into its error bodies and stream error events has the key masked,
// whether the key came from WithAPIKeys or from a config file.
func TestServerTextNeverCarriesAKey(t *testing.T) {
	const key = "gsk_secret_echoed_0123456789"
	echo := func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		auth := r.Header.Get("Authorization")
		if strings.Contains(string(body), `"stream":true`) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"error\":{\"message\":\"upstream refused %s\",\"type\":\"server_error\"}}\n\n", auth)
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":"bad header %s","type":"invalid_request_error","param":"%s"}}`, auth, auth)
		return true
	}
	cfg, err := groq.ParseConfig([]byte(`{"models":{"llama-3.1-8b-instant":{"api_key":"`+key+`"}}}`), func(string) string { return "" })
	require.NoError(t, err)
	for name, opt := range map[string]groq.Option{"WithAPIKeys": groq.WithAPIKeys(key), "config file": groq.WithConfig(cfg)} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := groqtest.NewUnstartedServer(groqtest.WithHandlerHook(echo))
				c, err := groq.NewClient(opt, groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
				require.NoError(t, err)
				defer c.Close()
				_, err = c.Chat(context.Background(), hello)
				var apiErr *groq.APIError
				require.True(t, errors.As(err, &apiErr), "Chat(...) = %v", err)
				assert.NotContains(t, fmt.Sprintf("%v %+v", err, *apiErr), key)
				assert.Contains(t, apiErr.Message, "[redacted]")

				st, err := c.ChatStream(context.Background(), hello)
				require.NoError(t, err)
				for st.Next() {
				}
				require.Error(t, st.Err())
				assert.NotContains(t, st.Err().Error(), key)
				assert.Contains(t, st.Err().Error(), "[redacted]")
				st.Close()
			})
		})
	}
}

// TestTransportErrorKeepsItsChain: a transport error whose text holds the key is
// masked, and still matches its cause.
func TestTransportErrorKeepsItsChain(t *testing.T) {
	const key = "gsk_in_the_transport_error"
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("proxy said %s: %w", r.Header.Get("Authorization"), context.DeadlineExceeded)
	})
	c, err := groq.NewClient(groq.WithAPIKeys(key), groq.WithHTTPClient(&http.Client{Transport: rt}), groq.WithMaxRetries(0))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Chat(context.Background(), hello)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), key)
	assert.Contains(t, err.Error(), "[redacted]")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the cause is still reachable")
	for e := err; e != nil; e = errors.Unwrap(e) {
		assert.NotContains(t, e.Error(), key, "no error in the chain holds the key")
	}
}

// TestWithConfigKeepsTheConfigError: the *ConfigError behind WithConfig's failure
// is reachable with errors.As.
func TestWithConfigKeepsTheConfigError(t *testing.T) {
	cfg := &groq.Config{Models: map[string]groq.ModelConfig{"m": {APIKey: "k", ReqPerMinute: -1}}}
	_, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithConfig(cfg))
	var oe *groq.OptionError
	require.True(t, errors.As(err, &oe), "NewClient(...) = %v", err)
	var ce *groq.ConfigError
	assert.True(t, errors.As(err, &ce), "NewClient(...) = %v; want a *ConfigError in the chain", err)
}

func TestMemoryCacheBadInput(t *testing.T) {
	m := groq.NewMemoryCache(0, 0)
	err := m.Set(context.Background(), "k", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nil response")
	assert.PanicsWithValue(t, "groq: NewMemoryCache: negative TTL -1s", func() { groq.NewMemoryCache(-time.Second, 0) })
	assert.PanicsWithValue(t, "groq: NewMemoryCache: negative maxEntries -1", func() { groq.NewMemoryCache(time.Hour, -1) })
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

// TestCallbackRule: WithCallback is called exactly once for every call, whatever
// its end; WithProgress on a single call is an error.
func TestCallbackRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, nil, groq.WithCache(groq.NewMemoryCache(time.Hour, 0)))
		var calls []string
		cb := func(tag string) groq.CallOption {
			return groq.WithCallback(func(resp *groq.ChatResponse, err error) {
				calls = append(calls, fmt.Sprintf("%s:%v:%v", tag, resp != nil, err != nil))
			})
		}
		ctx := context.Background()
		c.Chat(ctx, hello, cb("chat"))
		c.Chat(ctx, []groq.Message{}, cb("bad"))
		st, err := c.ChatStream(ctx, []groq.Message{groq.User("stream me")}, cb("stream"))
		require.NoError(t, err)
		for st.Next() {
		}
		st.Close()
		replay, err := c.ChatStream(ctx, []groq.Message{groq.User("stream me")}, cb("replay"))
		require.NoError(t, err)
		for replay.Next() {
		}
		early, err := c.ChatStream(ctx, []groq.Message{groq.User("closed early")}, cb("early"))
		require.NoError(t, err)
		early.Close()
		_, err = c.Chat(ctx, hello, groq.WithProgress(func(int, int) {}))
		assert.ErrorIs(t, err, groq.ErrInvalidRequest, "WithProgress is for ChatBatch")
		rs := c.ChatBatch(ctx, []*groq.ChatRequest{{Messages: hello}}, groq.WithProgress(func(int, int) {}))
		assert.NoError(t, rs[0].Err, "and works there")
		c.Close()
		c.Chat(ctx, hello, cb("closed"))
		_, err = c.ChatStream(ctx, hello, cb("closed-stream"))
		assert.ErrorIs(t, err, groq.ErrClientClosed)
		assert.Equal(t, []string{"chat:true:false", "bad:false:true", "stream:true:false", "replay:true:false",
			"early:false:true", "closed:false:true", "closed-stream:false:true"}, calls)
	})
}

// TestToolCallsAndJSONAgainstTheSimulator: code that calls tools or asks for JSON
// can be tested against groqtest, plain and streamed.
func TestToolCallsAndJSONAgainstTheSimulator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, nil)
		ctx := context.Background()
		tools := []groq.Tool{{Type: "function", Function: groq.ToolFunction{Name: "lookup",
			Parameters: []byte(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`)}}}
		req := &groq.ChatRequest{Messages: []groq.Message{groq.User("find the docs")}, Tools: tools, ToolChoice: "required"}
		resp, err := c.ChatCompletion(ctx, req)
		require.NoError(t, err)
		require.Len(t, resp.Choices[0].Message.ToolCalls, 1)
		assert.Equal(t, "tool_calls", resp.Choices[0].FinishReason)
		assert.Equal(t, "lookup", resp.Choices[0].Message.ToolCalls[0].Function.Name)
		assert.Contains(t, resp.Choices[0].Message.ToolCalls[0].Function.Arguments, `"query"`)

		st, err := c.ChatCompletionStream(ctx, req)
		require.NoError(t, err)
		for st.Next() {
		}
		require.NoError(t, st.Err())
		require.Len(t, st.ToolCalls(), 1)
		assert.Equal(t, "lookup", st.ToolCalls()[0].Function.Name)
		st.Close()

		resp, err = c.ChatCompletion(ctx, &groq.ChatRequest{Messages: hello, ResponseFormat: &groq.ResponseFormat{Type: "json_object"}})
		require.NoError(t, err)
		assert.True(t, json.Valid([]byte(resp.Text())), "JSON mode answers JSON: %s", resp.Text())
	})
}

// TestPoisonedUsageCannotStallTheScheduler: an answer claiming 9,223,372,036,854,775,807
// tokens (a proxy's bug, a hostile upstream) is bounded before it touches a
// bucket: the call returns, a call for another model is not held up, and the next
// call for the same model returns within its context.
func TestPoisonedUsageCannotStallTheScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		poisoned := false
		hook := func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			if poisoned || !strings.Contains(string(body), `"model":"a"`) {
				return false
			}
			poisoned = true
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"x","object":"chat.completion","model":"a","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],`+
				`"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":9223372036854775807,"total_tokens":9223372036854775807}}`)
			return true
		}
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel("a", groqtest.Limits{TPM: 6000}), groqtest.WithModel("b", groqtest.Limits{TPM: 6000}),
			groqtest.WithHandlerHook(hook)},
			groq.WithModelLimits("a", groq.Limits{TPM: 6000}), groq.WithModelLimits("b", groq.Limits{TPM: 6000}), groq.WithDailyTokenBudget(1<<30))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Chat(ctx, hello, groq.WithModel("a"))
		require.NoError(t, err, "the poisoned answer is still an answer")
		start := time.Now()
		_, err = c.Chat(ctx, hello, groq.WithModel("b"))
		require.NoError(t, err)
		assert.Equal(t, time.Duration(0), time.Since(start), "another model is not held up")
		_, err = c.Chat(ctx, hello, groq.WithModel("a"))
		assert.Less(t, time.Since(start), 5*time.Second, "the next call for the model returns within its context: %v", err)
		debt := c.RateLimits("a").Quotas[0].TokensThisMinute
		assert.LessOrEqual(t, debt, 6000+(1<<21), "the debt is bounded by what one request can be")
		assert.LessOrEqual(t, c.Budget().Used, int64(1<<22), "and so is what the budget counts")
	})
}

// TestHugeMaxTokensIsRefusedBeforeTheNetwork: max tokens of math.MaxInt cannot
// wrap the cost negative past the context-window check, the buckets and the
// budget: it is refused with nothing sent and nothing reserved.
func TestHugeMaxTokensIsRefusedBeforeTheNetwork(t *testing.T) {
	for name, model := range map[string]string{"known context window": "llama-3.1-8b-instant", "unknown model": simModel} {
		t.Run(name, func(t *testing.T) {
			c, srv := sim(t, []groqtest.Option{groqtest.WithModel(model, groqtest.Limits{})}, groq.WithDailyTokenBudget(8000), groq.WithRPM(0))
			for _, n := range []int{math.MaxInt, math.MaxInt - 100, 1 << 40} {
				_, err := c.Chat(context.Background(), hello, groq.WithModel(model), groq.WithMaxTokens(n))
				require.Error(t, err, "max tokens %d", n)
				var cw *groq.ContextWindowError
				var re *groq.RequestError
				assert.True(t, errors.As(err, &cw) || errors.As(err, &re), "Chat(max tokens %d) = %v; want a context-window or request error", n, err)
			}
			assert.Zero(t, srv.Stats().Requests, "nothing was sent")
			b := c.Budget()
			assert.Zero(t, b.Reserved, "nothing reserved")
			assert.Zero(t, b.Used)
		})
	}
}

// TestAnswerThatIsNotACompletion: a 200 whose body is {}, null or not JSON is an
// error that matches ErrBadResponse, sent once; a real answer with no choices is not.
func TestAnswerThatIsNotACompletion(t *testing.T) {
	for _, body := range []string{`{}`, `null`, `<html>proxy</html>`, `{"id":`} {
		t.Run(body, func(t *testing.T) {
			var sent int
			c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithHTTPClient(&http.Client{
				Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					sent++
					return &http.Response{StatusCode: 200, Header: http.Header{"X-Request-Id": {"req_1"}}, Body: ioNopCloser(body), Request: r}, nil
				}),
			}))
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Chat(context.Background(), hello)
			require.ErrorIs(t, err, groq.ErrBadResponse, "Chat(...) = %v", err)
			assert.Contains(t, err.Error(), "req_1", "the error names the request")
			assert.Equal(t, "bad_response", groq.ErrorType(err))
			assert.Equal(t, 1, sent, "not retried: the server answered")
		})
	}
	data, err := os.ReadFile("../shared/fixtures/groq/empty-choices.json")
	require.NoError(t, err)
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithHTTPClient(&http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: ioNopCloser(string(data)), Request: r}, nil
		}),
	}))
	require.NoError(t, err)
	defer c.Close()
	resp, err := c.Chat(context.Background(), hello)
	require.NoError(t, err, "a real completion with no choices is a completion")
	assert.Empty(t, resp.Text())
}

// TestRefusedConnectionHoldsNoTokens: an attempt that never reached the server (a
// refused port) gives its reservation back at once: calls against it give up at
// backoff pace, not at the pace of a refill of tokens nothing spent (each attempt
// held about 1,035 of the 6,000 tokens a minute).
func TestRefusedConnectionHoldsNoTokens(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL("http://"+addr+"/openai/v1"),
		groq.WithModelLimits(groq.DefaultModel, groq.Limits{RPM: 30, TPM: 6000}), groq.WithMaxRetries(2),
		groq.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	for i := range 5 {
		_, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint("line ", i))})
		require.Error(t, err)
		assert.NotErrorIs(t, err, groq.ErrRateLimited, "line %d: no local wait for tokens: %v", i, err)
	}
	assert.Less(t, time.Since(start), 5*time.Second, "15 refused attempts at backoff pace")
	q := c.RateLimits(groq.DefaultModel).Quotas[0]
	assert.LessOrEqual(t, q.TokensThisMinute, 1, "no tokens held for requests that never left (a token of rounding)")
}
