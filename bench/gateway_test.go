package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
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

// gatewayFor starts a Groq-shaped key (RPM 120, a minute's bucket, RPD and TPM in
// its headers, 20 ms to answer) on loopback, a client on it, and the gateway in
// front, guarded by a token.
func gatewayFor(t *testing.T) (*groqtest.Server, string) {
	srv := groqtest.NewServer(groqtest.WithModel("m", groqtest.Limits{RPM: 120, RPD: 14_400, TPM: 100_000}),
		groqtest.WithLatency(20*time.Millisecond, 0))
	t.Cleanup(srv.Close)
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_upstream"), groq.WithBaseURL(srv.URL()), groq.WithModelLimits("m", groq.Limits{RPM: 120}),
		groq.WithMaxConcurrency(64), groq.WithMaxQueue(1000), groq.WithMaxRetryDelay(time.Minute))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	gw, err := gateway.New(c, gateway.Config{Tokens: []gateway.Token{{Name: "svc", Secret: "gw_token"}}})
	require.NoError(t, err)
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	return srv, front.URL + "/openai/v1/"
}

// TestOpenAIGoThroughTheGateway: three services, each with its own openai-go
// client and no limiter (no retries either), send 135 calls at once through one
// gateway on RPM 120: every call succeeds, no 429 reaches Groq (one at most on a
// loaded machine: see below), within 11 s (the key allows 7.5 s).
func TestOpenAIGoThroughTheGateway(t *testing.T) {
	srv, url := gatewayFor(t)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range 3 {
		c := openaigo.NewClient(option.WithAPIKey("gw_token"), option.WithBaseURL(url), option.WithMaxRetries(0),
			option.WithHTTPClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}))
		for range 45 {
			wg.Go(func() {
				_, err := c.Chat.Completions.New(context.Background(), openaigo.ChatCompletionNewParams{
					Model: "m", Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")}})
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Len(t, errs, 135)
	// The server's bucket starts draining when its handler first runs. With both
	// cores taken (CI under -race, or busy processes), that can be later after the
	// first request left than the pacing margin (50 ms): 58 ms or more in a traced
	// run, where the first request of the refill drew one 429 (the client then
	// widens its margin). Seen in 1 of 14 such runs on the session's base commit
	// too; quiet runs draw none.
	limited := srv.Stats().RateLimited
	assert.LessOrEqual(t, limited, 1, "at most the refill's first request, on a loaded machine")
	assert.Less(t, took, 11*time.Second)
	t.Logf("135 openai-go calls through the gateway in %s, %d 429s", took.Round(time.Millisecond), limited)
}

// TestOpenAIGoStreamAndErrors: openai-go streams through the gateway (usage
// included) and reads the gateway's 401 as an *openai.Error.
func TestOpenAIGoStreamAndErrors(t *testing.T) {
	_, url := gatewayFor(t)
	c := openaigo.NewClient(option.WithAPIKey("gw_token"), option.WithBaseURL(url))
	st := c.Chat.Completions.NewStreaming(context.Background(), openaigo.ChatCompletionNewParams{
		Model: "m", Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("a story")},
		StreamOptions: openaigo.ChatCompletionStreamOptionsParam{IncludeUsage: openaigo.Bool(true)}})
	var acc openaigo.ChatCompletionAccumulator
	chunks := 0
	for st.Next() {
		acc.AddChunk(st.Current())
		chunks++
	}
	require.NoError(t, st.Err())
	assert.Greater(t, chunks, 2)
	assert.Contains(t, acc.Choices[0].Message.Content, "Simulated answer")
	assert.Positive(t, acc.Usage.TotalTokens, "usage came through")

	bad := openaigo.NewClient(option.WithAPIKey("wrong"), option.WithBaseURL(url), option.WithMaxRetries(0))
	_, err := bad.Chat.Completions.New(context.Background(), openaigo.ChatCompletionNewParams{
		Model: "m", Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")}})
	var oe *openaigo.Error
	require.True(t, errors.As(err, &oe), "%v", err)
	assert.Equal(t, 401, oe.StatusCode)
	assert.Equal(t, "invalid_api_key", oe.Code)
}
