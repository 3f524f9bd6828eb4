package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	goopenai "github.com/sashabaranov/go-openai"
	"golang.org/x/time/rate"

	"github.com/groqkit/groq"
)

// clients are the contenders, in table order.
var clients = []client{
	{"groqkit", buildGroq},
	{"openai-go", buildOpenAIGo},
	{"go-openai", buildGoOpenAI},
	{"net/http", buildNetHTTP},
	{"x/time/rate", buildRateLoop},
}

// buildGroq is this module's client, with its defaults but for the callers'
// concurrency; with limits known it is given the RPM (and TPM), with limits
// unknown no limit at all (WithRPM(0)), and with the table nothing: what a new
// user configures, its built-in table for a known model (else DefaultRPM).
func buildGroq(sc Scenario, url string, keys []string, hc *http.Client) (instance, error) {
	opts := []groq.Option{groq.WithAPIKeys(keys...), groq.WithBaseURL(url), groq.WithDefaultModel(sc.model()), groq.WithHTTPClient(hc),
		groq.WithMaxConcurrency(sc.Concurrency)}
	if sc.Margin >= 0 {
		opts = append(opts, groq.WithPacingMargin(sc.Margin))
	}
	switch {
	case sc.Table:
	case sc.LimitsKnown:
		opts = append(opts, groq.WithModelLimits(sc.model(), groq.Limits{RPM: sc.RPM, TPM: sc.TPM}))
	default:
		opts = append(opts, groq.WithRPM(0))
	}
	c, err := groq.NewClient(opts...)
	if err != nil {
		return instance{}, err
	}
	call := func(ctx context.Context, i int) error {
		_, err := c.Chat(ctx, []groq.Message{groq.User(sc.prompt(i))})
		return err
	}
	foreign := func() (rpm, tpm float64) {
		for _, q := range c.RateLimits(sc.model()).Quotas {
			rpm, tpm = max(rpm, q.Foreign.RequestsPerMinute), max(tpm, q.Foreign.TokensPerMinute)
		}
		return rpm, tpm
	}
	return instance{call: call, done: func() { c.Close() }, foreign: foreign}, nil
}

// buildOpenAIGo is openai-go with its default retries; the calls take the keys in
// turn, one client per key.
func buildOpenAIGo(sc Scenario, url string, keys []string, hc *http.Client) (instance, error) {
	cs := make([]openaigo.Client, len(keys))
	for i, k := range keys {
		cs[i] = openaigo.NewClient(option.WithAPIKey(k), option.WithBaseURL(url+"/"), option.WithHTTPClient(hc))
	}
	call := func(ctx context.Context, i int) error {
		_, err := cs[i%len(cs)].Chat.Completions.New(ctx, openaigo.ChatCompletionNewParams{
			Model:    sc.model(),
			Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage(sc.prompt(i))},
		})
		return err
	}
	return instance{call: call, done: func() {}}, nil
}

// buildGoOpenAI is go-openai, which does not retry; the calls take the keys in turn.
func buildGoOpenAI(sc Scenario, url string, keys []string, hc *http.Client) (instance, error) {
	cs := make([]*goopenai.Client, len(keys))
	for i, k := range keys {
		cfg := goopenai.DefaultConfig(k)
		cfg.BaseURL, cfg.HTTPClient = url, hc
		cs[i] = goopenai.NewClientWithConfig(cfg)
	}
	call := func(ctx context.Context, i int) error {
		_, err := cs[i%len(cs)].CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{
			Model:    sc.model(),
			Messages: []goopenai.ChatCompletionMessage{{Role: goopenai.ChatMessageRoleUser, Content: sc.prompt(i)}},
		})
		return err
	}
	return instance{call: call, done: func() {}}, nil
}

// post sends one chat request and returns the status and the Retry-After header.
func post(ctx context.Context, hc *http.Client, url, key, model, prompt string) (int, string, error) {
	body, _ := json.Marshal(map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": prompt}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		Choices []json.RawMessage `json:"choices"`
	}
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(data, &out)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), err
}

// buildNetHTTP is a plain net/http loop: one POST a call, no limiter, no retry.
func buildNetHTTP(sc Scenario, url string, keys []string, hc *http.Client) (instance, error) {
	call := func(ctx context.Context, i int) error {
		status, _, err := post(ctx, hc, url, keys[i%len(keys)], sc.model(), sc.prompt(i))
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("status %d", status)
		}
		return err
	}
	return instance{call: call, done: func() {}}, nil
}

// buildRateLoop is what people write by hand: an x/time/rate limiter per key at
// the RPM with a burst of 1, and a retry loop that obeys Retry-After on a 429 and
// backs off exponentially (from 0.5 s) on other failures, ten attempts at most.
func buildRateLoop(sc Scenario, url string, keys []string, hc *http.Client) (instance, error) {
	lims := make([]*rate.Limiter, len(keys))
	for i := range lims {
		lims[i] = rate.NewLimiter(rate.Limit(float64(sc.RPM)/60), 1)
	}
	call := func(ctx context.Context, i int) error {
		k := i % len(keys)
		backoff := 500 * time.Millisecond
		var last error
		for range 10 {
			if err := lims[k].Wait(ctx); err != nil {
				return err
			}
			status, ra, err := post(ctx, hc, url, keys[k], sc.model(), sc.prompt(i))
			switch {
			case err == nil && status == http.StatusOK:
				return nil
			case err == nil && status == http.StatusTooManyRequests:
				secs, _ := strconv.ParseFloat(ra, 64)
				last = fmt.Errorf("status 429")
				time.Sleep(time.Duration(secs * float64(time.Second)))
				continue
			case err == nil && status < 500 && status != 498:
				return fmt.Errorf("status %d", status)
			case err == nil:
				last = fmt.Errorf("status %d", status)
			default:
				last = err
			}
			time.Sleep(backoff)
			backoff *= 2
		}
		return last
	}
	return instance{call: call, done: func() {}}, nil
}
