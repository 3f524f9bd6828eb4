package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/serve"
)

func TestModelsMinimum(t *testing.T) {
	ms := modelsScenario{Models: []modelQuota{{Name: "a", RPM: 60, RPD: 100, SpentToday: 90}, {Name: "b", RPM: 60}},
		Requests: 70, Concurrency: 100, Latency: 20 * time.Millisecond}
	assert.Equal(t, 20*time.Millisecond, ms.Minimum(), "10 left of a's day and b's 60 at once: one answer's time")
	ms.Requests = 130
	assert.InDelta(t, (60*time.Second + 20*time.Millisecond).Seconds(), ms.Minimum().Seconds(), 0.01, "the 60 past the buckets at b's 1 a second")
	ms.Models[0].SpentToday = 0
	assert.InDelta(t, (5*time.Second + 20*time.Millisecond).Seconds(), ms.Minimum().Seconds(), 0.01, "120 at once, then 10 at 2 a second")
	ms.Concurrency, ms.Requests = 1, 70
	assert.Equal(t, 70*20*time.Millisecond, ms.Minimum(), "one caller: one answer after the other")
}

// TestModelsPreset runs -preset models small (100 calls: the first model's 50
// left today, then the second's bucket). The reactive fallback spends a 429 on
// the first model for every call past its day; this client serves them from
// the second model without one. The groqkit half needs the client's
// multi-model admission (issue 28's core): until then its calls wait for the
// first model's day and fail at the deadline.
func TestModelsPreset(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, mainErr([]string{"-preset", "models", "-n", "100", "-deadline", "10s", "-json", filepath.Join(dir, "r.json")}, &out))
	t.Log("\n" + out.String())
	data, err := os.ReadFile(filepath.Join(dir, "r.json"))
	require.NoError(t, err)
	var rs []modelsResult
	require.NoError(t, json.Unmarshal(data, &rs))
	require.Len(t, rs, 2)
	g, r := rs[0], rs[1]
	assert.Equal(t, "reactive fallback", r.Client)
	assert.Equal(t, 100, r.OK, r.FirstErr)
	assert.GreaterOrEqual(t, r.Limited, 50, "every call past the first model's day drew its 429 first")
	assert.Equal(t, 50, r.Served["bench-large"])

	assert.Equal(t, "groqkit (WithModels)", g.Client)
	assert.Equal(t, 100, g.OK, g.FirstErr)
	assert.Zero(t, g.Limited)
	assert.Equal(t, map[string]int{"bench-large": 50, "bench-medium": 50}, g.Served, "the first model while its day lasts, then the second")
}

// TestOpenAIGoModelsThroughGroqServe: groq serve (serve.Run, as the command
// runs it, with a --config file that names a route) in front of groqtest; an
// openai-go client sends "models": [a, b] (option.WithJSONSet): answers come
// from a until its day (3 requests) is spent, then from b, and X-Groq-Model
// names the model that served; a is sent nothing it must refuse. A call for the
// route "fast" (a, b) is served by b then too. It needs the client's
// multi-model admission (issue 28's core).
func TestOpenAIGoModelsThroughGroqServe(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithModel("a", groqtest.Limits{RPM: 600, RPD: 3, TPM: 100_000}),
		groqtest.WithModel("b", groqtest.Limits{RPM: 600, RPD: 1000, TPM: 100_000}))
	t.Cleanup(srv.Close)
	url := groqServe(t, srv.URL(), `{"models":{"a":{"api_key":"$GROQ_API_KEY"},"b":{"api_key":"$GROQ_API_KEY"}},"routes":{"fast":["a","b"]}}`)
	oc := openaigo.NewClient(option.WithAPIKey("gw_token"), option.WithBaseURL(url), option.WithMaxRetries(0),
		option.WithHeader("X-Groq-Timeout", "10s"))
	var bodies, headers []string
	ask := func(model string, opts ...option.RequestOption) (body, header string) {
		t.Helper()
		var resp *http.Response
		ans, err := oc.Chat.Completions.New(context.Background(), openaigo.ChatCompletionNewParams{Model: model,
			Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")}}, append(opts, option.WithResponseInto(&resp))...)
		require.NoError(t, err, "model %q, after answers from %v", model, bodies)
		return ans.Model, resp.Header.Get("X-Groq-Model")
	}
	for range 6 {
		b, h := ask("", option.WithJSONSet("models", []string{"a", "b"}))
		bodies, headers = append(bodies, b), append(headers, h)
	}
	assert.Equal(t, []string{"a", "a", "a", "b", "b", "b"}, bodies)
	assert.Equal(t, bodies, headers)
	b, h := ask("fast")
	assert.Equal(t, "b", b, "the route's a is spent")
	assert.Equal(t, "b", h)
	assert.Zero(t, srv.Stats().RateLimited)
}

// groqServe runs groq serve (serve.Run) on loopback in front of the API at
// upstream, with the config file config and a token gw_token, until the test
// ends; it returns the gateway's API root for openai-go.
func groqServe(t *testing.T, upstream, config string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "groq.json")
	require.NoError(t, os.WriteFile(cfg, []byte(config), 0o600))
	vars := map[string]string{"GROQ_API_KEY": "gsk_upstream", "GROQ_BASE_URL": upstream, "GROQ_GATEWAY_TOKEN": "gw_token"}
	sigs, ready, done := make(chan os.Signal, 1), make(chan string, 1), make(chan int, 1)
	var logs bytes.Buffer
	go func() {
		done <- serve.Run([]string{"--listen", "127.0.0.1:0", "--config", cfg}, serve.Env{Stdout: io.Discard, Stderr: &logs,
			Getenv: func(k string) string { return vars[k] }, Signals: sigs, Ready: func(a string) { ready <- a }}, serve.Hooks{})
	}()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			sigs <- syscall.SIGTERM
			<-done
		})
		return "http://" + addr + "/openai/v1/"
	case code := <-done:
		t.Fatalf("groq serve exited %d: %s", code, logs.String())
	}
	return ""
}
