package main

import (
	"log/slog"
	"os"
	"context"
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

// gatewayFor starts a Groq-shaped key (RPM 120, a minute's bucket) on loopback,
// a client on it, and the gateway in front, guarded by a token.
var dbgClient *groq.Client

func gatewayForDbg(t *testing.T, sopts ...groqtest.Option) (*groqtest.Server, string) {
	srv := groqtest.NewServer(sopts...)
	t.Cleanup(srv.Close)
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_upstream"), groq.WithBaseURL(srv.URL()), groq.WithModelLimits("m", groq.Limits{RPM: 120}),
		groq.WithMaxQueue(1000), groq.WithMaxRetryDelay(time.Minute), groq.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	dbgClient = c
	gw, err := gateway.New(c, gateway.Config{Tokens: []gateway.Token{{Name: "svc", Secret: "gw_token"}}})
	require.NoError(t, err)
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	return srv, front.URL + "/openai/v1/"
}

// TestOpenAIGoThroughTheGateway: three services, each with its own openai-go
// client and no limiter (no retries either), send 135 calls at once through one
// gateway on RPM 120: every call succeeds, no 429 reaches Groq, within 11 s (the
// key allows 7.5 s).
func TestDbgGateway(t *testing.T) {
	srv, url := gatewayForDbg(t, groqtest.WithModel("m", groqtest.Limits{RPM: 120, RPD: 14400, TPM: 100000}), groqtest.WithLatency(20*time.Millisecond, 0))
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
	assert.Zero(t, srv.Stats().RateLimited)
	assert.Less(t, took, 11*time.Second)
	t.Logf("135 openai-go calls through the gateway in %s, 0 429s", took.Round(time.Millisecond))
	snap := dbgClient.RateLimits("m")
	t.Logf("%+v", snap)
	arr := srv.Arrivals()
	prev := arr[0].At
	for i, a := range arr {
		if a.At.Sub(prev) > 300*time.Millisecond || i%20 == 0 {
			t.Logf("%d %v gap %v", i, a.At.Sub(arr[0].At), a.At.Sub(prev))
		}
		prev = a.At
	}
}


