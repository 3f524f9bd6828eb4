package groq_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzChatResponseBody: whatever a 200's body is, Chat returns an answer or an
// error that matches ErrBadResponse (or says the body could not be read), never
// panics, and the next call on the same client is not stalled by it (a poisoned
// usage must not hold the scheduler).
func FuzzChatResponseBody(f *testing.F) {
	for _, s := range []string{
		`{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`,
		`{}`, `null`, `[]`, `"x"`, `{"id":`, `<html>`,
		`{"id":"c","choices":[],"usage":{"total_tokens":9223372036854775807,"prompt_tokens":-1}}`,
		`{"id":"c","choices":[],"usage":{"total_tokens":1e400}}`,
		`{"id":"c","choices":[{"message":{"content":"\ud800"}}],"usage":{"completion_tokens":-9223372036854775808}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		next := body
		c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithMaxRetries(0), groq.WithRPM(0),
			groq.WithModelLimits("m", groq.Limits{TPM: 6000, ContextWindow: 8192}), groq.WithDefaultModel("m"),
			groq.WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				b := next
				next = []byte(`{"id":"ok","object":"chat.completion","choices":[],"usage":{"total_tokens":2}}`)
				return &http.Response{StatusCode: 200, Header: http.Header{}, Body: ioNopCloser(string(b)), Request: r}, nil
			})}))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := c.Chat(ctx, hello)
		if err != nil && !errors.Is(err, groq.ErrBadResponse) {
			t.Fatalf("Chat(%q) = %v; want an answer or ErrBadResponse", body, err)
		}
		if err == nil && resp == nil {
			t.Fatalf("Chat(%q): no answer and no error", body)
		}
		start := time.Now()
		_, err = c.Chat(ctx, []groq.Message{groq.User("again")})
		if time.Since(start) > time.Second {
			t.Fatalf("after %q the next call took %v (%v)", body, time.Since(start), err)
		}
	})
}

// TestRetryReservesTheServersCost: a TPM 429 that says "Requested 120" is retried
// once 120 tokens have refilled (about a second), not a 1,024-token guess (ten).
func TestRetryReservesTheServersCost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := false
		hook := func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			if refused {
				return false
			}
			refused = true
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"message":"Rate limit reached for model `+"`sim-model`"+` in organization `+"`org_x`"+` service tier `+"`on_demand`"+` on tokens per minute (TPM): Limit 6000, Used 5990, Requested 120. Please try again in 1.1s.","type":"tokens","code":"rate_limit_exceeded"}}`)
			return true
		}
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{TPM: 6000}), groqtest.WithHandlerHook(hook)},
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{TPM: 6000}))
		resp, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, 2, resp.Meta.Attempts)
		arr := srv.Arrivals()
		require.Len(t, arr, 2)
		gap := arr[1].At.Sub(arr[0].At)
		assert.GreaterOrEqual(t, gap, 1100*time.Millisecond, "the server's wait is obeyed")
		assert.Less(t, gap, 1500*time.Millisecond, "120 tokens refill in 1.2 s at 100 a second; 1,024 would take 10 s")
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
	data, err := os.ReadFile("testdata/empty-choices.json")
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

func TestCallback(t *testing.T) {
	c, _ := sim(t, nil)
	var got *groq.ChatResponse
	resp, err := c.Chat(context.Background(), hello, groq.WithCallback(func(r *groq.ChatResponse, err error) { got = r }))
	require.NoError(t, err)
	assert.Same(t, resp, got)
	var gotErr error
	_, err = c.Chat(context.Background(), nil, groq.WithCallback(func(r *groq.ChatResponse, err error) { gotErr = err }))
	assert.Equal(t, err, gotErr)
}

func TestContextWindow(t *testing.T) {
	c, srv := sim(t, nil, groq.WithModelLimits("small", groq.Limits{ContextWindow: 100}))
	_, err := c.Chat(context.Background(), []groq.Message{groq.User(strings.Repeat("word ", 200))}, groq.WithModel("small"))
	require.ErrorIs(t, err, groq.ErrContextWindowExceeded)
	var cw *groq.ContextWindowError
	require.True(t, errors.As(err, &cw))
	assert.Equal(t, 100, cw.ContextWindow)
	assert.Greater(t, cw.PromptTokens, 100)
	assert.Contains(t, err.Error(), "context window of 100")
	_, err = c.Chat(context.Background(), hello, groq.WithModel("small"), groq.WithMaxTokens(99))
	require.ErrorIs(t, err, groq.ErrContextWindowExceeded, "the requested completion counts")
	assert.Equal(t, 0, srv.Stats().Requests)
}

func TestChatOverSocketRetriesDisconnect(t *testing.T) {
	srv := groqtest.NewServer()
	defer srv.Close()
	srv.Script(groqtest.Fault{Kind: groqtest.FaultDisconnect}, groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "0"})
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_socket"), groq.WithBaseURL(srv.URL()), groq.WithBackoff(time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	defer c.Close()
	resp, err := c.Chat(context.Background(), hello)
	require.NoError(t, err)
	assert.Equal(t, 3, resp.Meta.Attempts)
	assert.Equal(t, 2, srv.Stats().Faults)
}

func TestRetriedStatuses(t *testing.T) {
	faults := map[string]groqtest.Fault{
		"408":        {Kind: groqtest.FaultStatus, Status: 408},
		"409":        {Kind: groqtest.FaultStatus, Status: 409},
		"429":        {Kind: groqtest.Fault429, RetryAfter: "1"},
		"498":        {Kind: groqtest.FaultCapacity},
		"500":        {Kind: groqtest.Fault500},
		"502":        {Kind: groqtest.Fault502},
		"503":        {Kind: groqtest.Fault503},
		"504":        {Kind: groqtest.FaultStatus, Status: 504},
		"disconnect": {Kind: groqtest.FaultDisconnect},
		"not JSON":   {Kind: groqtest.FaultStatus, Status: 502},
		"400 marked": {Kind: groqtest.FaultStatus, Status: 400, Header: http.Header{"X-Should-Retry": {"true"}}},
	}
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, srv := sim(t, nil)
				srv.Script(f)
				resp, err := c.Chat(context.Background(), hello)
				require.NoError(t, err)
				assert.Equal(t, 2, resp.Meta.Attempts)
				assert.Equal(t, 2, srv.Stats().Requests)
			})
		})
	}
}

func TestNotRetriedStatuses(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 413, 422, 424} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, srv := sim(t, nil)
				srv.Script(groqtest.Fault{Kind: groqtest.FaultStatus, Status: status})
				_, err := c.Chat(context.Background(), hello)
				var apiErr *groq.APIError
				require.True(t, errors.As(err, &apiErr), "Chat(...) = %v; want an *APIError", err)
				assert.Equal(t, status, apiErr.StatusCode)
				assert.True(t, strings.HasPrefix(apiErr.RequestID, "req_"))
				assert.Equal(t, 1, srv.Stats().Requests, "status %d must not be retried", status)
				assert.Equal(t, status == 413, errors.Is(err, groq.ErrRequestTooLarge))
			})
		})
	}
	t.Run("500 with x-should-retry false", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, srv := sim(t, nil)
			srv.Script(groqtest.Fault{Kind: groqtest.Fault500, Header: http.Header{"X-Should-Retry": {"false"}}})
			_, err := c.Chat(context.Background(), hello)
			require.Error(t, err)
			assert.Equal(t, 1, srv.Stats().Requests)
		})
	})
}

func TestUnknownKeyIsNotRetried(t *testing.T) {
	srv := groqtest.NewUnstartedServer(groqtest.WithKeys("gsk_good"))
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_bad_secret"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	_, err = c.Chat(context.Background(), hello)
	var apiErr *groq.APIError
	require.True(t, errors.As(err, &apiErr))
	assert.Equal(t, 401, apiErr.StatusCode)
	assert.Equal(t, "invalid_api_key", apiErr.Code)
	assert.Equal(t, "Invalid API Key", apiErr.Message)
	assert.NotContains(t, err.Error(), "gsk_bad_secret")
	assert.Equal(t, 1, srv.Stats().Requests)
}

func TestServerWaitIsObeyedExactly(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    groqtest.Fault
		want time.Duration
	}{
		{"503 retry-after seconds", groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "7"}, 7 * time.Second},
		{"503 retry-after decimal", groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "2.5"}, 2500 * time.Millisecond},
		{"429 retry-after", groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "20"}, 20 * time.Second},
		{"498 retry-after", groqtest.Fault{Kind: groqtest.FaultCapacity, RetryAfter: "3"}, 3 * time.Second},
		{"503 retry-after-ms", groqtest.Fault{Kind: groqtest.Fault503, Header: http.Header{"Retry-After-Ms": {"1500"}}}, 1500 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, srv := sim(t, nil)
				srv.Script(tt.f)
				start := time.Now()
				resp, err := c.Chat(context.Background(), hello)
				require.NoError(t, err)
				assert.Equal(t, 2, resp.Meta.Attempts)
				arr := srv.Arrivals()
				require.Len(t, arr, 2)
				assert.Equal(t, tt.want, arr[1].At.Sub(arr[0].At), "the retry must go out exactly when the server's wait ends")
				assert.Equal(t, tt.want, time.Since(start))
			})
		})
	}
}

func TestHTTPDateRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil)
		srv.Script(groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: time.Now().Add(9 * time.Second).UTC().Format(http.TimeFormat)})
		start := time.Now()
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, 9*time.Second, time.Since(start))
	})
}

func TestLongServerWaitReturnsAtOnce(t *testing.T) {
	t.Run("longer than the max retry delay", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, srv := sim(t, nil, groq.WithMaxRetryDelay(60*time.Second))
			srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "61"})
			start := time.Now()
			_, err := c.Chat(context.Background(), hello)
			assert.Equal(t, time.Duration(0), time.Since(start), "a wait past the cap must not be slept")
			var rl *groq.RateLimitError
			require.True(t, errors.As(err, &rl), "Chat(...) = %v; want *RateLimitError", err)
			assert.ErrorIs(t, err, groq.ErrRateLimited)
			assert.Equal(t, 61*time.Second, rl.RetryAfter)
			assert.Equal(t, 429, rl.StatusCode)
			var apiErr *groq.APIError
			assert.True(t, errors.As(err, &apiErr), "errors.As reaches the API error")
			assert.Equal(t, 1, srv.Stats().Requests)
		})
	})
	t.Run("past the context deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, srv := sim(t, nil)
			srv.Script(groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "30"})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			_, err := c.Chat(ctx, hello)
			assert.Equal(t, time.Duration(0), time.Since(start))
			var rl *groq.RateLimitError
			require.True(t, errors.As(err, &rl), "Chat(...) = %v; want *RateLimitError", err)
			assert.Equal(t, 30*time.Second, rl.RetryAfter)
			assert.Equal(t, 503, rl.StatusCode)
			assert.Equal(t, 1, srv.Stats().Requests)
		})
	})
	// A longer wait is never retried sooner: ten years, +Inf, a 35-digit number or a
	// date ten years ahead are the longest wait, past any maximum delay.
	for _, ra := range []string{"315360000", "+Inf", "12345678901234567890123456789012345", "1e400",
		time.Date(2036, 12, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)} {
		for _, kind := range []groqtest.FaultKind{groqtest.Fault429, groqtest.Fault503} {
			t.Run(fmt.Sprintf("%s %v", ra, kind), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					c, srv := sim(t, nil)
					srv.Script(groqtest.Fault{Kind: kind, RetryAfter: ra})
					start := time.Now()
					_, err := c.Chat(context.Background(), hello)
					assert.Equal(t, time.Duration(0), time.Since(start), "not slept, not retried at backoff pace")
					var rl *groq.RateLimitError
					require.True(t, errors.As(err, &rl), "Chat(...) = %v; want *RateLimitError", err)
					assert.GreaterOrEqual(t, rl.RetryAfter, 30*24*time.Hour)
					assert.Equal(t, 1, srv.Stats().Requests)
				})
			})
		}
	}
	t.Run("a negative value is no wait: backoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, srv := sim(t, nil, groq.WithBackoff(time.Second, 10*time.Second))
			srv.Script(groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "-1"})
			start := time.Now()
			_, err := c.Chat(context.Background(), hello)
			require.NoError(t, err)
			waited := time.Since(start)
			assert.GreaterOrEqual(t, waited, time.Second)
			assert.Less(t, waited, 3*time.Second)
			assert.Equal(t, 2, srv.Stats().Requests)
		})
	})
}

func TestBackoffWithoutServerWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil, groq.WithBackoff(500*time.Millisecond, 4*time.Second), groq.WithMaxRetries(4))
		srv.Script(groqtest.Fault{Kind: groqtest.Fault500}, groqtest.Fault{Kind: groqtest.Fault500}, groqtest.Fault{Kind: groqtest.Fault500})
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		arr := srv.Arrivals()
		require.Len(t, arr, 4)
		prev := time.Duration(0)
		for i := 1; i < len(arr); i++ {
			gap := arr[i].At.Sub(arr[i-1].At)
			hi := min(4*time.Second, 3*max(prev, 500*time.Millisecond))
			assert.GreaterOrEqual(t, gap, 500*time.Millisecond, "retry %d", i)
			assert.LessOrEqual(t, gap, hi, "retry %d", i)
			prev = gap
		}
	})
}

func TestRetriesExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithFaultRate(groqtest.Fault{Kind: groqtest.Fault502}, 1)}, groq.WithMaxRetries(3))
		_, err := c.Chat(context.Background(), hello)
		require.ErrorIs(t, err, groq.ErrRetriesExhausted)
		var re *groq.RetryError
		require.True(t, errors.As(err, &re))
		assert.Equal(t, 4, re.Attempts)
		var apiErr *groq.APIError
		require.True(t, errors.As(err, &apiErr), "the last failure is reachable")
		assert.Equal(t, 502, apiErr.StatusCode)
		assert.Equal(t, 4, srv.Stats().Requests)
	})
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil, groq.WithAttemptTimeout(2*time.Second), groq.WithBackoff(100*time.Millisecond, time.Second))
		srv.Script(groqtest.Fault{Kind: groqtest.FaultSlow, Delay: time.Minute})
		resp, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, 2, resp.Meta.Attempts)
	})
}

func TestNonJSONBodies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil, groq.WithMaxRetries(0))
		srv.Script(groqtest.Fault{Kind: groqtest.FaultNotJSON})
		_, err := c.Chat(context.Background(), hello)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "decoding the response")

		srv.Script(groqtest.Fault{Kind: groqtest.FaultStatus, Status: 400})
		c2, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(&http.Client{
			Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 502, Header: http.Header{}, Body: ioNopCloser("<html>bad gateway</html>"), Request: r}, nil
			}),
		}), groq.WithMaxRetries(0))
		require.NoError(t, err)
		_, err = c2.Chat(context.Background(), hello)
		var apiErr *groq.APIError
		require.True(t, errors.As(err, &apiErr))
		assert.Equal(t, 502, apiErr.StatusCode)
		assert.Contains(t, apiErr.Message, "<html>bad gateway</html>")
	})
}
