package groq_test

import (
	"context"
	"testing"
	"testing/synctest"

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
