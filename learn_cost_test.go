package groq_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRequestCostIsLearnt: the prompt ratio and the completion reserve follow what
// the server counted.
func TestRequestCostIsLearnt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{})},
			groq.WithDefaultModel(simModel), groq.WithRPM(0))
		snap := c.RateLimits(simModel)
		assert.Equal(t, 0.0, snap.PromptRatio, "nothing learnt yet")
		assert.Equal(t, groq.DefaultCompletionReserve, snap.CompletionReserve)

		msgs := []groq.Message{groq.User("What does a token bucket do, in one sentence?")}
		estimate := groq.EstimateTokens(simModel, msgs)
		var completions []int
		for range 8 {
			resp, err := c.Chat(context.Background(), msgs, groq.WithoutCache())
			require.NoError(t, err)
			completions = append(completions, resp.Usage.CompletionTokens)
			snap = c.RateLimits(simModel)
			assert.InDelta(t, float64(resp.Usage.PromptTokens)/float64(estimate), snap.PromptRatio, 1e-9,
				"the same prompt every time: the ratio is the server's count over the estimate")
		}
		assert.Less(t, snap.PromptRatio, 1.0, "the local estimate is generous")
		assert.Equal(t, completions[0], snap.CompletionReserve, "eight equal answers: the 95th percentile is their length")
		assert.Less(t, snap.CompletionReserve, 100)
	})
}

// TestCachedPromptTokensDoNotCount: a long system prompt that Groq's prompt cache
// serves does not count toward TPM, and the client gives its tokens back as soon
// as the answer says so: ten calls of a 4,000-token cached prompt on TPM 6,000 go
// in seconds, with no 429, where counting them would take minutes.
func TestCachedPromptTokensDoNotCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groqtest.Limits{RPM: 600, TPM: 6000}
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel("cached-model", l), groqtest.WithPromptCaching()},
			groq.WithModelLimits("cached-model", groq.Limits{RPM: 600, TPM: 6000}), groq.WithMaxRetryDelay(time.Hour))
		system := groq.System(strings.Repeat("You are a careful assistant. ", 570)) // about 4,000 tokens
		start := time.Now()
		for i := range 10 {
			resp, err := c.ChatCompletion(context.Background(), &groq.ChatRequest{Model: "cached-model",
				Messages: []groq.Message{system, groq.User(fmt.Sprintf("question %d", i))}, MaxCompletionTokens: ptr(20)})
			require.NoError(t, err, "call %d", i)
			if i > 0 {
				require.NotNil(t, resp.Usage.PromptTokensDetails, "call %d", i)
				assert.Greater(t, resp.Usage.PromptTokensDetails.CachedTokens, 3500, "call %d", i)
			}
		}
		assert.Less(t, time.Since(start), 60*time.Second, "the cached tokens were given back")
		assert.Zero(t, srv.Stats().RateLimited)
		snap := c.RateLimits("cached-model").Quotas[0]
		assert.Less(t, snap.TokensThisMinute, 6000)
	})
}
