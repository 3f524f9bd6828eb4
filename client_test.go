package groq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// sim builds an in-memory simulator and a client wired to it. Call it inside a
// synctest bubble for time-dependent tests.
func sim(t *testing.T, sopts []groqtest.Option, copts ...groq.Option) (*groq.Client, *groqtest.Server) {
	t.Helper()
	srv := groqtest.NewUnstartedServer(sopts...)
	opts := append([]groq.Option{
		groq.WithAPIKeys("gsk_test_key_0"),
		groq.WithBaseURL(srv.URL()),
		groq.WithHTTPClient(srv.Client()),
	}, copts...)
	c, err := groq.NewClient(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, srv
}

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

func TestNewClientRejectsBadOptions(t *testing.T) {
	t.Setenv("GROQ_API_KEYS", "")
	t.Setenv("GROQ_API_KEY", "")
	tests := []struct {
		name   string
		opts   []groq.Option
		option string // the option the error must name
	}{
		{"empty key", []groq.Option{groq.WithAPIKeys("")}, "WithAPIKeys"},
		{"white space key", []groq.Option{groq.WithAPIKeys("  ")}, "WithAPIKeys"},
		{"padded key", []groq.Option{groq.WithAPIKeys(" gsk_x")}, "WithAPIKeys"},
		{"duplicate key", []groq.Option{groq.WithAPIKeys("a", "a")}, "WithAPIKeys"},
		{"unparsable base URL", []groq.Option{groq.WithAPIKeys("k"), groq.WithBaseURL("://nope")}, "WithBaseURL"},
		{"relative base URL", []groq.Option{groq.WithAPIKeys("k"), groq.WithBaseURL("api.groq.com/openai/v1")}, "WithBaseURL"},
		{"negative retries", []groq.Option{groq.WithAPIKeys("k"), groq.WithMaxRetries(-1)}, "WithMaxRetries"},
		{"negative backoff", []groq.Option{groq.WithAPIKeys("k"), groq.WithBackoff(-time.Second, time.Second)}, "WithBackoff"},
		{"max below base", []groq.Option{groq.WithAPIKeys("k"), groq.WithBackoff(time.Second, time.Millisecond)}, "WithBackoff"},
		{"zero max retry delay", []groq.Option{groq.WithAPIKeys("k"), groq.WithMaxRetryDelay(0)}, "WithMaxRetryDelay"},
		{"nil http client", []groq.Option{groq.WithAPIKeys("k"), groq.WithHTTPClient(nil)}, "WithHTTPClient"},
		{"empty default model", []groq.Option{groq.WithAPIKeys("k"), groq.WithDefaultModel(" ")}, "WithDefaultModel"},
		{"negative limits", []groq.Option{groq.WithAPIKeys("k"), groq.WithModelLimits("m", groq.Limits{TPM: -1})}, "WithModelLimits"},
		{"zero concurrency", []groq.Option{groq.WithAPIKeys("k"), groq.WithMaxConcurrency(0)}, "WithMaxConcurrency"},
		{"key in two organizations", []groq.Option{groq.WithOrganization("a", "k"), groq.WithOrganization("b", "k")}, "WithOrganization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := groq.NewClient(tt.opts...)
			require.Error(t, err)
			assert.Nil(t, c)
			var oe *groq.OptionError
			require.True(t, errors.As(err, &oe), "NewClient(...) = %v; want an *OptionError", err)
			assert.Equal(t, tt.option, oe.Option)
			assert.Contains(t, err.Error(), tt.option)
		})
	}
	_, err := groq.NewClient()
	assert.ErrorIs(t, err, groq.ErrNoAPIKey)
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

func TestHTTPClientIsNotMutated(t *testing.T) {
	hc := &http.Client{Timeout: 7 * time.Second}
	_, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithHTTPClient(hc))
	require.NoError(t, err)
	assert.Equal(t, 7*time.Second, hc.Timeout)
	assert.Nil(t, hc.Transport)
}

// TestKeysNeverLeak drives every error path with a recognisable key and looks for
// it in errors and logs.
func TestKeysNeverLeak(t *testing.T) {
	const secret = "gsk_SECRET_never_print_me"
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	check := func(err error) {
		t.Helper()
		if err == nil {
			return
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			assert.NotContains(t, s, secret)
		}
	}
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer()
		c, err := groq.NewClient(groq.WithAPIKeys(secret), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithLogger(logger), groq.WithMaxRetries(1), groq.WithBackoff(time.Millisecond, time.Millisecond))
		require.NoError(t, err)
		for _, f := range []groqtest.Fault{
			{Kind: groqtest.Fault500}, {Kind: groqtest.Fault500}, {Kind: groqtest.FaultDisconnect}, {Kind: groqtest.FaultDisconnect},
			{Kind: groqtest.FaultStatus, Status: 401}, {Kind: groqtest.FaultNotJSON}, {Kind: groqtest.Fault429, RetryAfter: "600"},
		} {
			srv.Script(f)
			_, err := c.Chat(context.Background(), hello)
			check(err)
		}
		time.Sleep(10 * time.Minute) // the injected 429's cooldown
		_, err = c.Chat(context.Background(), hello)
		require.NoError(t, err)
	})
	// A transport that puts the Authorization header into its error.
	leaky := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("proxy refused request with header %q", r.Header.Get("Authorization"))
	})}
	c, err := groq.NewClient(groq.WithAPIKeys(secret), groq.WithHTTPClient(leaky), groq.WithLogger(logger), groq.WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.Chat(context.Background(), hello)
	require.Error(t, err)
	check(err)
	assert.Contains(t, err.Error(), "[redacted]")
	assert.NotContains(t, logs.String(), secret)
	assert.Contains(t, logs.String(), "attempt failed", "the logs were written (the check is not vacuous)")
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

func TestBuiltinLimitsIsACopy(t *testing.T) {
	l := groq.BuiltinLimits()
	assert.Equal(t, groq.Limits{RPM: 30, RPD: 1000, TPM: 12000, TPD: 100000, ContextWindow: 131072}, l["llama-3.3-70b-versatile"])
	l["llama-3.3-70b-versatile"] = groq.Limits{RPM: 1}
	assert.Equal(t, 30, groq.BuiltinLimits()["llama-3.3-70b-versatile"].RPM, "changing the copy changes nothing")
	c, _ := sim(t, nil)
	assert.Equal(t, 6000, c.RateLimits("llama-3.1-8b-instant").Quotas[0].Limits.TPM, "the table is the default")
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
