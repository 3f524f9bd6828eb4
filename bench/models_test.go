package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/gateway"
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

// TestOpenAIGoModelsThroughTheGateway: an openai-go client sends "models": [a,
// b] through groq serve's gateway (option.WithJSONSet): answers come from a
// until its day (3 requests) is spent, then from b, and X-Groq-Model names the
// model that served; a is sent nothing it must refuse. It needs the client's
// multi-model admission (issue 28's core).
func TestOpenAIGoModelsThroughTheGateway(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithModel("a", groqtest.Limits{RPM: 600, RPD: 3, TPM: 100_000}),
		groqtest.WithModel("b", groqtest.Limits{RPM: 600, RPD: 1000, TPM: 100_000}))
	t.Cleanup(srv.Close)
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_upstream"), groq.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	gw, err := gateway.New(c, gateway.Config{Tokens: []gateway.Token{{Name: "svc", Secret: "gw_token"}}})
	require.NoError(t, err)
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	oc := openaigo.NewClient(option.WithAPIKey("gw_token"), option.WithBaseURL(front.URL+"/openai/v1/"), option.WithMaxRetries(0),
		option.WithHeader("X-Groq-Timeout", "10s"))
	var body, header []string
	for range 6 {
		var resp *http.Response
		ans, err := oc.Chat.Completions.New(context.Background(), openaigo.ChatCompletionNewParams{
			Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")}},
			option.WithJSONSet("models", []string{"a", "b"}), option.WithResponseInto(&resp))
		require.NoError(t, err, "after %v", body)
		body, header = append(body, ans.Model), append(header, resp.Header.Get("X-Groq-Model"))
	}
	assert.Equal(t, []string{"a", "a", "a", "b", "b", "b"}, body)
	assert.Equal(t, body, header)
	assert.Zero(t, srv.Stats().RateLimited)
}
