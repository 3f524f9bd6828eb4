package gateway

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// twoModels is a simulator of two models, "a" with a day of 3 requests and "b"
// with a day of 1000; upstream records the bodies the client sent Groq.
func twoModels(upstream *[]map[string]any, mu *sync.Mutex, more ...groqtest.Option) []groqtest.Option {
	hook := groqtest.WithHandlerHook(func(_ http.ResponseWriter, _ *http.Request, body []byte) bool {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		mu.Lock()
		*upstream = append(*upstream, m)
		mu.Unlock()
		return false
	})
	return append([]groqtest.Option{groqtest.WithModel("a", groqtest.Limits{RPM: 600, RPD: 3, TPM: 100_000}),
		groqtest.WithModel("b", groqtest.Limits{RPM: 600, RPD: 1000, TPM: 100_000}), hook}, more...)
}

// servedBy is the model an answer names, in its body and in X-Groq-Model.
func servedBy(t *testing.T, resp *http.Response, data []byte) string {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", data)
	var body struct{ Model string }
	require.NoError(t, json.Unmarshal(data, &body), "%s", data)
	assert.Equal(t, body.Model, resp.Header.Get("X-Groq-Model"), "the header names the model the body names")
	return body.Model
}

// TestModelsHeaderAndGate: X-Groq-Model names the model that served a call of
// one model and one with OpenRouter's "models"; the list is not sent to Groq
// (one model is); a list naming a model Groq does not list, an empty name or
// more than groq.MaxModels is refused before anything is sent.
func TestModelsHeaderAndGate(t *testing.T) {
	var upstream []map[string]any
	var mu sync.Mutex
	srv, front, _ := setup(t, twoModels(&upstream, &mu), nil)
	resp, data := post(t, http.DefaultClient, front.URL, "", `{"model":"b","messages":[{"role":"user","content":"one"}]}`)
	assert.Equal(t, "b", servedBy(t, resp, data))
	resp, data = post(t, http.DefaultClient, front.URL, "", `{"models":["a","b"],"messages":[{"role":"user","content":"list"}]}`)
	assert.Equal(t, "a", servedBy(t, resp, data), "a can serve now: the first of the list")
	mu.Lock()
	require.Len(t, upstream, 2)
	assert.NotContains(t, upstream[1], "models", "Groq is sent one model, not the list")
	assert.Equal(t, "a", upstream[1]["model"])
	mu.Unlock()

	for body, want := range map[string]int{
		`{"models":["a","nope"],"messages":[{"role":"user","content":"x"}]}`:                          http.StatusNotFound,
		`{"models":["a",""],"messages":[{"role":"user","content":"x"}]}`:                              http.StatusBadRequest,
		`{"models":["a","b","a","b","a","b","a","b","a"],"messages":[{"role":"user","content":"x"}]}`: http.StatusBadRequest,
		`{"models":["a","a"],"messages":[{"role":"user","content":"x"}]}`:                             http.StatusBadRequest,
	} {
		resp, data := post(t, http.DefaultClient, front.URL, "", body)
		assert.Equal(t, want, resp.StatusCode, "%s: %s", body, data)
		assert.Contains(t, string(data), "models", "the error names the field: %s", data)
	}
	assert.Equal(t, 2, srv.Stats().Requests, "nothing refused was sent")
}

// TestModelsStreamNamesTheModel: a streamed call with "models" has X-Groq-Model
// in its headers, and every chunk names the same model.
func TestModelsStreamNamesTheModel(t *testing.T) {
	var upstream []map[string]any
	var mu sync.Mutex
	_, front, _ := setup(t, twoModels(&upstream, &mu), nil)
	req, err := http.NewRequest(http.MethodPost, front.URL+"/v1/chat/completions",
		strings.NewReader(`{"models":["b","a"],"stream":true,"messages":[{"role":"user","content":"stream me"}]}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "b", resp.Header.Get("X-Groq-Model"))
	chunks, done := 0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			done = true
			break
		}
		var ch struct{ Model string }
		require.NoError(t, json.Unmarshal([]byte(line), &ch), line)
		assert.Equal(t, "b", ch.Model)
		chunks++
	}
	assert.True(t, done, "the stream ended with [DONE]")
	assert.Greater(t, chunks, 2, "every chunk came through, the first too")
}

// TestModelsMoveOnWhenTheDayIsSpent: calls with "models": ["a", "b"] are served
// by a until its day (3 requests) is spent (its last answer says 0 left), then
// by b; a is sent nothing it must refuse. It needs the client's multi-model
// admission (issue 28's core): with a call served by the first model only, the
// fourth call draws a's 429 for a day.
func TestModelsMoveOnWhenTheDayIsSpent(t *testing.T) {
	var upstream []map[string]any
	var mu sync.Mutex
	srv, front, _ := setup(t, twoModels(&upstream, &mu), nil)
	var got []string
	for range 6 {
		resp, data := post(t, http.DefaultClient, front.URL, "", `{"models":["a","b"],"messages":[{"role":"user","content":"hi"}]}`,
			"X-Groq-Timeout", "10s") // a call that waits for a's day fails in 10 s, not 8 h
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d: %d %s (served so far: %v)", len(got)+1, resp.StatusCode, data, got)
		}
		got = append(got, servedBy(t, resp, data))
	}
	assert.Equal(t, []string{"a", "a", "a", "b", "b", "b"}, got)
	st := srv.Stats()
	assert.Equal(t, 0, st.RateLimited, "a's spent day was read from its headers, not learnt from a 429")
	assert.Equal(t, map[string]int{"a": 3, "b": 3}, st.PerModel)
}

// TestModelsRouteNameAndSpentDay: the model field names a route of the client
// (WithRoute); the first model's day was spent before the gateway started, so
// the first call learns it from a's 429 on RPD and is served by b, and every
// later call goes to b without a's refusal. It needs the client's move-on
// after a 429 (issue 28's core).
func TestModelsRouteNameAndSpentDay(t *testing.T) {
	var upstream []map[string]any
	var mu sync.Mutex
	srv := groqtest.NewServer(twoModels(&upstream, &mu, groqtest.WithSpentToday("a", 3, 0))...)
	t.Cleanup(srv.Close)
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_upstream"), groq.WithBaseURL(srv.URL()), groq.WithRoute("fast", "a", "b"), ClientOption())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	gw, err := New(c, Config{Configured: func(m string) bool { return m == "fast" }}) // as groq serve names its config's routes
	require.NoError(t, err)
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	for i := range 3 {
		resp, data := post(t, http.DefaultClient, front.URL, "", `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`, "X-Groq-Timeout", "10s")
		assert.Equal(t, "b", servedBy(t, resp, data), "call %d", i)
	}
	assert.Equal(t, 1, srv.Stats().RateLimited, "a's spent day refused one request, the first")
}
