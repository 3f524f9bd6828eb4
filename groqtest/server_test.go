package groqtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
)

// forms runs f against the socket form and the in-memory form of a fresh server.
func forms(t *testing.T, opts []Option, f func(t *testing.T, s *Server, hc *http.Client, base string)) {
	t.Run("socket", func(t *testing.T) {
		s := NewServer(opts...)
		defer s.Close()
		f(t, s, &http.Client{}, s.URL())
	})
	t.Run("memory", func(t *testing.T) {
		s := NewUnstartedServer(opts...)
		f(t, s, s.Client(), s.URL())
	})
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func post(t *testing.T, hc *http.Client, base, key, body string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/chat/completions", strings.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func chatBody(model, prompt string, extra string) string {
	b, _ := json.Marshal(prompt)
	return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%s}]%s}`, model, b, extra)
}

func errField(r reply, field string) string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e[field].(string)
	return s
}

func TestStatuses(t *testing.T) {
	opts := []Option{
		WithKeys("k1", "k2"),
		WithModel("small", Limits{RPM: 2, TPM: 100, ContextWindow: 300}),
		WithModel("free", Limits{}),
	}
	tests := []struct {
		name     string
		key      string
		body     string
		status   int
		errType  string
		errCode  string
		contains string
	}{
		{"ok", "k1", chatBody("free", "hi", ""), 200, "", "", ""},
		{"unknown key", "nope", chatBody("free", "hi", ""), 401, "invalid_request_error", "invalid_api_key", "Invalid API Key"},
		{"no key", "", chatBody("free", "hi", ""), 401, "invalid_request_error", "invalid_api_key", ""},
		{"bad JSON", "k1", `{"model":`, 400, "invalid_request_error", "", "JSON"},
		{"no messages", "k1", `{"model":"free","messages":[]}`, 400, "invalid_request_error", "", "messages"},
		{"bad role", "k1", `{"model":"free","messages":[{"role":"robot","content":"x"}]}`, 400, "invalid_request_error", "", "role"},
		{"message name", "k1", `{"model":"free","messages":[{"role":"user","content":"x","name":"bob"}]}`, 400, "invalid_request_error", "", "name"},
		{"n=2", "k1", chatBody("free", "hi", `,"n":2`), 400, "invalid_request_error", "", "'n'"},
		{"logprobs", "k1", chatBody("free", "hi", `,"logprobs":true`), 400, "invalid_request_error", "", "logprobs"},
		{"unknown model", "k1", chatBody("nope", "hi", ""), 404, "invalid_request_error", "model_not_found", "`nope`"},
		{"context window", "k1", chatBody("small", strings.Repeat("x", 1300), ""), 400, "invalid_request_error", "context_length_exceeded", "context window"},
		{"too large for TPM", "k2", chatBody("small", strings.Repeat("x", 500), ""), 413, "tokens", "rate_limit_exceeded", "Request too large"},
	}
	forms(t, opts, func(t *testing.T, s *Server, hc *http.Client, base string) {
		for _, tt := range tests {
			r := post(t, hc, base, tt.key, tt.body)
			assert.Equal(t, tt.status, r.status, "%s: body %s", tt.name, r.raw)
			assert.True(t, strings.HasPrefix(r.header.Get("X-Request-Id"), "req_"), "%s: x-request-id", tt.name)
			if tt.status != 200 {
				assert.Equal(t, tt.errType, errField(r, "type"), tt.name)
				assert.Equal(t, tt.errCode, errField(r, "code"), tt.name)
				assert.Contains(t, errField(r, "message"), tt.contains, tt.name)
			}
		}
		// Rate limit: the third request within the minute on "small" (RPM 2).
		for i := 0; i < 2; i++ {
			require.Equal(t, 200, post(t, hc, base, "k1", chatBody("small", "hi", "")).status)
		}
		r := post(t, hc, base, "k1", chatBody("small", "hi", ""))
		assert.Equal(t, 429, r.status)
		assert.Equal(t, "requests", errField(r, "type"))
		assert.Equal(t, "rate_limit_exceeded", errField(r, "code"))
		assert.Contains(t, errField(r, "message"), "on requests per minute (RPM): Limit 2, Used 2, Requested 1. Please try again in ")
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		require.NoError(t, err, "retry-after is whole seconds")
		assert.InDelta(t, 30, secs, 1)
		// Another key is another organization: it is not limited.
		assert.Equal(t, 200, post(t, hc, base, "k2", chatBody("small", "hi", "")).status)

		st := s.Stats()
		assert.Equal(t, 1, st.RateLimited)
		assert.Equal(t, 1, st.TooLarge)
		assert.Equal(t, 4, st.Successes)
		assert.Equal(t, len(tests)+4, st.Requests)
	})
}

func TestSuccessBodyAndHeaders(t *testing.T) {
	forms(t, []Option{WithModel("m", Limits{RPM: 30, RPD: 1000, TPM: 6000})}, func(t *testing.T, s *Server, hc *http.Client, base string) {
		r := post(t, hc, base, "any", chatBody("m", "What is red teaming?", `,"max_completion_tokens":100`))
		require.Equal(t, 200, r.status)
		assert.Equal(t, "chat.completion", r.body["object"])
		ch := r.body["choices"].([]any)[0].(map[string]any)
		assert.Contains(t, ch["message"].(map[string]any)["content"], "What is red teaming?")
		assert.Equal(t, "stop", ch["finish_reason"])
		u := r.body["usage"].(map[string]any)
		for _, f := range []string{"prompt_tokens", "completion_tokens", "total_tokens", "queue_time", "prompt_time", "completion_time", "total_time"} {
			assert.Contains(t, u, f)
		}
		assert.NotEmpty(t, r.body["x_groq"].(map[string]any)["id"])
		h := r.header
		assert.Equal(t, "1000", h.Get("X-Ratelimit-Limit-Requests"), "requests header is the per-day limit")
		assert.Equal(t, "999", h.Get("X-Ratelimit-Remaining-Requests"))
		assert.Equal(t, "6000", h.Get("X-Ratelimit-Limit-Tokens"), "tokens header is the per-minute limit")
		total := int(u["total_tokens"].(float64))
		assert.Equal(t, strconv.Itoa(6000-total), h.Get("X-Ratelimit-Remaining-Tokens"), "the unused completion is refunded")
		d, err := time.ParseDuration(h.Get("X-Ratelimit-Reset-Requests"))
		require.NoError(t, err, "reset-requests is a Go duration")
		assert.InDelta(t, 86.4, d.Seconds(), 0.5, "one request of 1000 a day refills in 86.4s")
		_, err = time.ParseDuration(h.Get("X-Ratelimit-Reset-Tokens"))
		require.NoError(t, err)

		// Same prompt, same answer; another prompt, another answer.
		r2 := post(t, hc, base, "any", chatBody("m", "What is red teaming?", ""))
		r3 := post(t, hc, base, "any", chatBody("m", "Something else", ""))
		text := func(r reply) string {
			return r.body["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
		}
		assert.Equal(t, text(r), text(r2))
		assert.NotEqual(t, text(r), text(r3))
	})
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2*time.Minute + 59560*time.Millisecond: "2m59.56s",
		7660 * time.Millisecond:                "7.66s",
		150 * time.Millisecond:                 "150ms",
		60360 * time.Millisecond:               "1m0.36s",
		0:                                      "0s",
	} {
		assert.Equal(t, want, FormatDuration(d))
	}
}

func TestFaults(t *testing.T) {
	forms(t, nil, func(t *testing.T, s *Server, hc *http.Client, base string) {
		s.Script(
			Fault{Kind: Fault500}, Fault{Kind: Fault502, RetryAfter: "3"}, Fault{Kind: Fault503},
			Fault{Kind: FaultCapacity}, Fault{Kind: FaultNotJSON}, Fault{Kind: Fault429, RetryAfter: "2"},
			Fault{Kind: FaultStatus, Status: 422, Header: http.Header{"X-Should-Retry": {"false"}}},
		)
		want := []int{500, 502, 503, 498, 200, 429, 422}
		for i, st := range want {
			r := post(t, hc, base, "k", chatBody("llama-3.1-8b-instant", "hi", ""))
			assert.Equal(t, st, r.status, "fault %d", i)
			switch i {
			case 1:
				assert.Equal(t, "3", r.header.Get("Retry-After"))
			case 3:
				assert.Equal(t, "capacity_exceeded", errField(r, "code"))
			case 4:
				assert.False(t, json.Valid([]byte(r.raw)), "not-JSON fault sends no JSON")
			case 5:
				assert.Equal(t, "2", r.header.Get("Retry-After"))
			case 6:
				assert.Equal(t, "false", r.header.Get("X-Should-Retry"))
			}
		}
		// A closed connection.
		s.Script(Fault{Kind: FaultDisconnect})
		req, _ := http.NewRequest(http.MethodPost, base+"/chat/completions", strings.NewReader(chatBody("llama-3.1-8b-instant", "hi", "")))
		req.Header.Set("Authorization", "Bearer k")
		_, err := hc.Do(req)
		assert.Error(t, err, "a disconnect gives a transport error")
		// A body cut mid-way.
		s.Script(Fault{Kind: FaultStreamCut})
		req, _ = http.NewRequest(http.MethodPost, base+"/chat/completions", strings.NewReader(chatBody("llama-3.1-8b-instant", "hi", "")))
		req.Header.Set("Authorization", "Bearer k")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Error(t, err, "a cut body fails to read to the end")

		st := s.Stats()
		assert.Equal(t, 9, st.Faults)
		assert.Equal(t, 0, st.Successes, "faults are not successes")
		// Next request is normal again.
		assert.Equal(t, 200, post(t, hc, base, "k", chatBody("llama-3.1-8b-instant", "hi", "")).status)
	})
}

func TestFaultRate(t *testing.T) {
	s := NewUnstartedServer(WithSeed(7), WithFaultRate(Fault{Kind: Fault503}, 0.3), WithModel("m", Limits{}))
	n503 := 0
	for i := 0; i < 1000; i++ {
		if post(t, s.Client(), s.URL(), "k", chatBody("m", "hi", "")).status == 503 {
			n503++
		}
	}
	assert.InDelta(t, 300, n503, 60)
	assert.Equal(t, n503, s.Stats().Faults)
}

func TestSlowFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithLatency(100*time.Millisecond, 0))
		s.Script(Fault{Kind: FaultSlow, Delay: 5 * time.Second})
		start := time.Now()
		require.Equal(t, 200, post(t, s.Client(), s.URL(), "k", chatBody("llama-3.1-8b-instant", "hi", "")).status)
		assert.Equal(t, 5100*time.Millisecond, time.Since(start))
	})
}

func TestHandlerHook(t *testing.T) {
	s := NewUnstartedServer(WithHandlerHook(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if !bytes.Contains(body, []byte("teapot")) {
			return false
		}
		w.WriteHeader(http.StatusTeapot)
		return true
	}))
	assert.Equal(t, 418, post(t, s.Client(), s.URL(), "k", chatBody("llama-3.1-8b-instant", "teapot", "")).status)
	assert.Equal(t, 200, post(t, s.Client(), s.URL(), "k", chatBody("llama-3.1-8b-instant", "coffee", "")).status)
	assert.Equal(t, 2, s.Stats().Requests)
}

// TestBucketsRefillAtTheConfiguredRate drains a bucket and checks, at exact fake
// times, when the next request is admitted.
func TestBucketsRefillAtTheConfiguredRate(t *testing.T) {
	for _, shape := range []BucketShape{TokenBucket, RollingWindow} {
		t.Run(shape.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := NewUnstartedServer(WithModel("m", Limits{RPM: 30}), WithBucketShape(shape))
				send := func() int { return post(t, s.Client(), s.URL(), "k", chatBody("m", "hi", "")).status }
				for i := 0; i < 30; i++ {
					require.Equal(t, 200, send(), "request %d of the burst", i)
				}
				r := post(t, s.Client(), s.URL(), "k", chatBody("m", "hi", ""))
				require.Equal(t, 429, r.status)
				if shape == TokenBucket {
					// One request every 2s.
					assert.Contains(t, errField(r, "message"), "try again in 2s.")
					time.Sleep(2*time.Second - time.Millisecond)
					assert.Equal(t, 429, send(), "just before the refill")
					time.Sleep(time.Millisecond)
					assert.Equal(t, 200, send(), "at the refill")
					assert.Equal(t, 429, send())
					time.Sleep(20 * time.Second)
					for i := 0; i < 10; i++ {
						assert.Equal(t, 200, send(), "20s refill 10 requests: %d", i)
					}
					assert.Equal(t, 429, send())
				} else {
					// The whole window frees at once, a minute after the burst.
					assert.Contains(t, errField(r, "message"), "try again in 1m0s.")
					time.Sleep(time.Minute - time.Millisecond)
					assert.Equal(t, 429, send())
					time.Sleep(time.Millisecond)
					for i := 0; i < 30; i++ {
						assert.Equal(t, 200, send(), "window reopened: %d", i)
					}
				}
			})
		})
	}
}

// TestBurstIsTheBucketsDepth: a bucket shallower than a minute takes its burst at
// once, then refills at the minute's rate; its headers still give the minute's limit.
func TestBurstIsTheBucketsDepth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithModel("m", Limits{RPM: 600, Burst: 10, TPM: 60000, TokenBurst: 1000}))
		send := func(prompt string) reply { return post(t, s.Client(), s.URL(), "k", chatBody("m", prompt, "")) }
		for i := range 10 {
			require.Equal(t, 200, send("hi").status, "request %d of the burst", i)
		}
		r := send("hi")
		require.Equal(t, 429, r.status)
		assert.Contains(t, errField(r, "message"), "(RPM): Limit 600, Used 600, Requested 1. Please try again in 100ms.")
		time.Sleep(100 * time.Millisecond)
		assert.Equal(t, 200, send("hi").status, "one request refills in 100ms at 600 a minute")
		time.Sleep(time.Hour)
		r = send(strings.Repeat("x", 4000))
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "60000", r.header.Get("X-Ratelimit-Limit-Tokens"), "the header gives the minute's limit")
		assert.Equal(t, "0", r.header.Get("X-Ratelimit-Remaining-Tokens"), "a request larger than the depth empties a full bucket, into debt")
		r = send(strings.Repeat("x", 400))
		assert.Equal(t, 429, r.status)
		assert.Contains(t, errField(r, "message"), "(TPM)")
	})
}

// TestArrivalJitterAndFirstConnectionDelay: requests are counted after their
// delay, which Arrivals shows.
func TestArrivalJitterAndFirstConnectionDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithModel("m", Limits{}), WithFirstConnectionDelay(30*time.Millisecond),
			WithArrivalJitter(5*time.Millisecond), WithSeed(3))
		var sent []time.Time
		for _, key := range []string{"a", "a", "a", "b", "b"} {
			sent = append(sent, time.Now())
			require.Equal(t, 200, post(t, s.Client(), s.URL(), key, chatBody("m", "hi", "")).status)
		}
		arr := s.Arrivals()
		require.Len(t, arr, 5)
		var delays []time.Duration
		for i, a := range arr {
			delays = append(delays, a.At.Sub(sent[i]))
		}
		for i, d := range delays {
			lo, hi := time.Duration(0), 5*time.Millisecond
			if i == 0 || i == 3 { // the first request of each key (in memory)
				lo, hi = 30*time.Millisecond, 35*time.Millisecond
			}
			assert.True(t, d >= lo && d < hi, "request %d arrived %v after it was sent; want [%v, %v)", i, d, lo, hi)
		}
		assert.NotEqual(t, delays[1], delays[2], "the jitter varies")
	})
}

// TestFirstConnectionDelayOverSockets: on the socket server the delay is per
// connection: a kept-alive connection's later requests are not delayed.
func TestFirstConnectionDelayOverSockets(t *testing.T) {
	s := NewServer(WithModel("m", Limits{}), WithFirstConnectionDelay(200*time.Millisecond))
	defer s.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	var took []time.Duration
	for range 3 {
		start := time.Now()
		require.Equal(t, 200, post(t, hc, s.URL(), "k", chatBody("m", "hi", "")).status)
		took = append(took, time.Since(start))
	}
	assert.GreaterOrEqual(t, took[0], 200*time.Millisecond, "the first request of the connection")
	assert.Less(t, took[1], 200*time.Millisecond, "later requests on the same connection")
	assert.Less(t, took[2], 200*time.Millisecond)
	hc2 := &http.Client{Transport: &http.Transport{}}
	defer hc2.CloseIdleConnections()
	start := time.Now()
	require.Equal(t, 200, post(t, hc2, s.URL(), "k", chatBody("m", "hi", "")).status)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "a new connection's first request")
}

func TestTokensPerMinuteAndRefund(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithModel("m", Limits{TPM: 1000}))
		// Asking for 900 completion tokens reserves them up front...
		r := post(t, s.Client(), s.URL(), "k", chatBody("m", "hi", `,"max_completion_tokens":900`))
		require.Equal(t, 200, r.status)
		used := int(r.body["usage"].(map[string]any)["total_tokens"].(float64))
		// ...and refunds what the answer did not use.
		assert.Equal(t, strconv.Itoa(1000-used), r.header.Get("X-Ratelimit-Remaining-Tokens"))
		// A request that cannot fit now gets a tokens 429.
		r = post(t, s.Client(), s.URL(), "k", chatBody("m", "hi", `,"max_completion_tokens":990`))
		require.Equal(t, 429, r.status)
		assert.Equal(t, "tokens", errField(r, "type"))
		assert.Contains(t, errField(r, "message"), "(TPM): Limit 1000")
	})
}

func TestOrganizationsShareQuota(t *testing.T) {
	s := NewUnstartedServer(WithOrganization("acme", "a1", "a2"), WithKeys("solo"), WithModel("m", Limits{RPM: 2}))
	hc := s.Client()
	assert.Equal(t, 200, post(t, hc, s.URL(), "a1", chatBody("m", "hi", "")).status)
	assert.Equal(t, 200, post(t, hc, s.URL(), "a2", chatBody("m", "hi", "")).status)
	assert.Equal(t, 429, post(t, hc, s.URL(), "a1", chatBody("m", "hi", "")).status, "a1 and a2 share acme's quota")
	assert.Equal(t, 200, post(t, hc, s.URL(), "solo", chatBody("m", "hi", "")).status)
	assert.Equal(t, map[string]int{"a1": 2, "a2": 1, "solo": 1}, s.Stats().PerKey)
}

func TestViolations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithModel("m", Limits{RPM: 1}))
		send := func() int { return post(t, s.Client(), s.URL(), "k", chatBody("m", "hi", "")).status }
		require.Equal(t, 200, send())
		r := post(t, s.Client(), s.URL(), "k", chatBody("m", "hi", ""))
		require.Equal(t, 429, r.status)
		require.Equal(t, "60", r.header.Get("Retry-After"))
		time.Sleep(30 * time.Second)
		assert.Equal(t, 429, send(), "too early")
		assert.Equal(t, 1, s.Stats().Violations)
		time.Sleep(30 * time.Second)
		assert.Equal(t, 200, send())
		assert.Equal(t, 1, s.Stats().Violations, "a request after the wait is no violation")
	})
}

func TestMaxInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithLatency(time.Second, 0), WithModel("m", Limits{}))
		var wg sync.WaitGroup
		for i := 0; i < 5; i++ {
			wg.Go(func() { post(t, s.Client(), s.URL(), "k", chatBody("m", "hi", "")) })
		}
		wg.Wait()
		assert.Equal(t, 5, s.Stats().MaxInFlight)
	})
}

func TestModelsEndpoint(t *testing.T) {
	forms(t, []Option{WithModel("b", Limits{ContextWindow: 8192}), WithModel("a", Limits{})}, func(t *testing.T, s *Server, hc *http.Client, base string) {
		req, _ := http.NewRequest(http.MethodGet, base+"/models", nil)
		req.Header.Set("Authorization", "Bearer k")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out struct {
			Object string `json:"object"`
			Data   []struct {
				ID            string `json:"id"`
				ContextWindow int    `json:"context_window"`
			} `json:"data"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		assert.Equal(t, "list", out.Object)
		require.Len(t, out.Data, 2)
		assert.Equal(t, "a", out.Data[0].ID)
		assert.Equal(t, 8192, out.Data[1].ContextWindow)
		assert.Equal(t, []string{"a", "b"}, s.Models())
	})
}

func TestStreamFormat(t *testing.T) {
	forms(t, nil, func(t *testing.T, s *Server, hc *http.Client, base string) {
		for _, includeUsage := range []bool{false, true} {
			extra := `,"stream":true`
			if includeUsage {
				extra += `,"stream_options":{"include_usage":true}`
			}
			req, _ := http.NewRequest(http.MethodPost, base+"/chat/completions", strings.NewReader(chatBody("llama-3.1-8b-instant", "tell me a story", extra)))
			req.Header.Set("Authorization", "Bearer k")
			resp, err := hc.Do(req)
			require.NoError(t, err)
			assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			sc := bufio.NewScanner(resp.Body)
			var chunks []map[string]any
			var text strings.Builder
			done := false
			for sc.Scan() {
				line := sc.Text()
				if line == "" {
					continue
				}
				require.True(t, strings.HasPrefix(line, "data: "), "line %q", line)
				payload := strings.TrimPrefix(line, "data: ")
				if payload == "[DONE]" {
					done = true
					continue
				}
				var c map[string]any
				require.NoError(t, json.Unmarshal([]byte(payload), &c))
				assert.Equal(t, "chat.completion.chunk", c["object"])
				if d, ok := c["choices"].([]any)[0].(map[string]any)["delta"].(map[string]any)["content"].(string); ok {
					text.WriteString(d)
				}
				chunks = append(chunks, c)
			}
			resp.Body.Close()
			require.True(t, done, "stream ends with [DONE]")
			require.GreaterOrEqual(t, len(chunks), 4, "several content deltas")
			assert.Contains(t, text.String(), "tell me a story")
			last := chunks[len(chunks)-1]
			assert.Contains(t, last["x_groq"].(map[string]any), "usage")
			_, top := last["usage"]
			assert.Equal(t, includeUsage, top, "top-level usage only with include_usage")
			assert.Contains(t, chunks[0]["x_groq"].(map[string]any), "id")
		}
		// A cut stream ends without [DONE].
		s.Script(Fault{Kind: FaultStreamCut})
		req, _ := http.NewRequest(http.MethodPost, base+"/chat/completions", strings.NewReader(chatBody("llama-3.1-8b-instant", "story", `,"stream":true`)))
		req.Header.Set("Authorization", "Bearer k")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Error(t, err)
		assert.NotContains(t, string(body), "[DONE]")
		assert.Contains(t, string(body), "data: ")
	})
}

func TestInMemoryBodyCloseEndsHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithStreamChunkDelay(time.Hour))
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/chat/completions", strings.NewReader(chatBody("llama-3.1-8b-instant", "story", `,"stream":true`)))
		req.Header.Set("Authorization", "Bearer k")
		resp, err := s.Client().Do(req)
		require.NoError(t, err)
		buf := make([]byte, 10)
		_, err = resp.Body.Read(buf)
		require.NoError(t, err)
		resp.Body.Close()
		synctest.Wait() // the handler goroutine must have ended; synctest.Test fails otherwise
	})
}

func TestInMemoryCancelledContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer()
		s.Script(Fault{Kind: FaultSlow, Delay: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/chat/completions", strings.NewReader(chatBody("llama-3.1-8b-instant", "x", "")))
		req.Header.Set("Authorization", "Bearer k")
		_, err := s.Client().Do(req)
		assert.True(t, errors.Is(err, context.DeadlineExceeded), "Do(...) = %v", err)
	})
}

func TestBadOptionsPanic(t *testing.T) {
	for name, opt := range map[string]Option{
		"negative limit":  WithModel("m", Limits{RPM: -1}),
		"empty model":     WithModel("", Limits{}),
		"rate above 1":    WithFaultRate(Fault{Kind: Fault500}, 1.5),
		"negative rate":   WithFaultRate(Fault{Kind: Fault500}, -0.1),
		"NaN rate":        WithFaultRate(Fault{Kind: Fault500}, nanValue()),
		"negative delay":  WithLatency(-time.Second, 0),
		"unknown shape":   WithBucketShape(BucketShape(9)),
		"empty key":       WithKeys(""),
		"org without key": WithOrganization("x"),
		"status fault":    WithFaultRate(Fault{Kind: FaultStatus, Status: 200}, 0.1),
		"negative burst":  WithModel("m", Limits{RPM: 10, Burst: -1}),
		"burst, no RPM":   WithModel("m", Limits{Burst: 5}),
		"token burst":     WithModel("m", Limits{TokenBurst: 5}),
		"arrival jitter":  WithArrivalJitter(-time.Millisecond),
		"first conn":      WithFirstConnectionDelay(-time.Millisecond),
	} {
		assert.Panics(t, func() { NewUnstartedServer(opt) }, name)
	}
}

func nanValue() float64 { z := 0.0; return z / z }

func FuzzChatHandler(f *testing.F) {
	f.Add([]byte(chatBody("llama-3.1-8b-instant", "hi", "")))
	f.Add([]byte(`{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"max_tokens":-4}`))
	f.Add([]byte(`{"messages":null,"stream":true,"stream_options":{}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{0xff, 0x00})
	s := NewUnstartedServer(WithModel("llama-3.1-8b-instant", Limits{}))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/chat/completions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatalf("Do(%q) = %v", body, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Fatalf("status %d for %q", resp.StatusCode, body)
		}
	})
}

// TestClientOptions: one call gives a client everything it needs to reach the
// simulator, in memory or over a socket.
func TestClientOptions(t *testing.T) {
	s := NewUnstartedServer(WithKeys("gsk_first", "gsk_second"), WithModel("m", Limits{}))
	c, err := groq.NewClient(s.ClientOptions()...)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Chat(context.Background(), []groq.Message{groq.User("hi")}, groq.WithModel("m"))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"gsk_first": 1}, s.Stats().PerKey)

	started := NewServer(WithModel("m", Limits{}))
	defer started.Close()
	c2, err := groq.NewClient(started.ClientOptions()...)
	require.NoError(t, err)
	defer c2.Close()
	_, err = c2.Chat(context.Background(), []groq.Message{groq.User("hi")}, groq.WithModel("m"))
	require.NoError(t, err, "over loopback")
}

// TestUnstartedURLWithoutItsTransport: the in-memory address without the
// in-memory transport is refused at construction, saying what to add (it used to
// fail at the first call, with a DNS error, retried).
func TestUnstartedURLWithoutItsTransport(t *testing.T) {
	s := NewUnstartedServer()
	_, err := groq.NewClient(groq.WithBaseURL(s.URL()), groq.WithAPIKeys("k"))
	var oe *groq.OptionError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "WithBaseURL", oe.Option)
	assert.Contains(t, err.Error(), "WithHTTPClient(srv.Client())")
	assert.Contains(t, err.Error(), "ClientOptions")
}
