package groq

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCompletionReserveFollowsRecentAnswers(t *testing.T) {
	m := newCostModel(1024)
	for i := range costMinSamples - 1 {
		m.observe("m", 100, &Usage{PromptTokens: 50, CompletionTokens: 20 + i}, true)
	}
	assert.Equal(t, 1024, m.completionReserve("m"), "the default until enough answers have come")
	m.observe("m", 100, &Usage{PromptTokens: 50, CompletionTokens: 27}, true)
	assert.Equal(t, 27, m.completionReserve("m"), "eight answers of 20 to 27 tokens: the 95th percentile is the longest")

	for range 100 {
		m.observe("m", 100, &Usage{PromptTokens: 50, CompletionTokens: 30}, true)
	}
	assert.Equal(t, 30, m.completionReserve("m"))

	// Answers suddenly get longer: the reserve follows once they are more than 5 %
	// of the window, and until then reconciliation charges the difference.
	for i := range 3 {
		m.observe("m", 100, &Usage{PromptTokens: 50, CompletionTokens: 900}, true)
		assert.Equal(t, 30, m.completionReserve("m"), "after %d long answers", i+1)
	}
	m.observe("m", 100, &Usage{PromptTokens: 50, CompletionTokens: 900}, true)
	assert.Equal(t, 900, m.completionReserve("m"), "four of 64 is past the 95th percentile")

	m.observe("m", 100, &Usage{PromptTokens: 50, CompletionTokens: 5000}, false)
	assert.Equal(t, 900, m.completionReserve("m"), "a call with max tokens says nothing of open-ended answers")
	assert.Equal(t, 1024, m.completionReserve("other"), "per model")
}

func TestPromptRatioIsAMovingAverage(t *testing.T) {
	m := newCostModel(1024)
	assert.Equal(t, 200, m.prompt("m", 200), "no correction before the first answer")
	m.observe("m", 200, &Usage{PromptTokens: 100}, false)
	assert.Equal(t, 100, m.prompt("m", 200))
	m.observe("m", 200, &Usage{PromptTokens: 200}, false)
	ratio, _ := m.learnt("m")
	assert.InDelta(t, 0.5+promptRatioWeight*0.5, ratio, 1e-9)
	m.observe("m", 10, &Usage{PromptTokens: 10_000}, false)
	ratio, _ = m.learnt("m")
	assert.LessOrEqual(t, ratio, 5.0, "one odd answer moves it, within bounds")
	m.observe("m", 0, nil, true)
	assert.Equal(t, ratio, func() float64 { r, _ := m.learnt("m"); return r }(), "no usage: nothing learnt")
}
