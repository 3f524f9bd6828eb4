package groq

import (
	"math"
	"slices"
	"sync"
)

// This file learns what a request really costs the server, per model: how its
// prompt count compares with the local estimate, and how long answers run when a
// call sets no max tokens. The scheduler reserves what it learns.

const (
	// costWindow is how many recent answers the completion reserve is taken from.
	costWindow = 64
	// costMinSamples answers are needed before the reserve leaves its default.
	costMinSamples = 8
	// completionPercentile of the recent answers' completion tokens is reserved.
	completionPercentile = 0.95
	// promptRatioWeight is the weight of a new answer in the prompt ratio's
	// moving average.
	promptRatioWeight = 0.2
)

// costModel holds what is learnt of each model's costs. It is safe for concurrent
// use.
type costModel struct {
	mu             sync.Mutex
	defaultReserve int
	models         map[string]*modelCost
}

type modelCost struct {
	ratio       float64 // server prompt tokens / local estimate; 0 before the first answer
	completions [costWindow]int
	n, next     int
	reserve     int // the percentile of completions; 0 when it must be computed
}

func newCostModel(defaultReserve int) *costModel {
	return &costModel{defaultReserve: defaultReserve, models: map[string]*modelCost{}}
}

func (m *costModel) model(name string) *modelCost {
	mc := m.models[name]
	if mc == nil {
		mc = &modelCost{}
		m.models[name] = mc
	}
	return mc
}

// prompt corrects a local prompt estimate with the model's learnt ratio.
func (m *costModel) prompt(model string, estimate int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc := m.models[model]
	if mc == nil || mc.ratio == 0 {
		return estimate
	}
	return max(1, int(math.Ceil(float64(estimate)*mc.ratio)))
}

// completionReserve is what a call that sets no max tokens reserves for its answer:
// the default until costMinSamples answers have come, then the 95th percentile of
// the last costWindow answers' completion tokens.
func (m *costModel) completionReserve(model string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc := m.models[model]
	if mc == nil || mc.n < costMinSamples {
		return m.defaultReserve
	}
	if mc.reserve == 0 {
		recent := slices.Clone(mc.completions[:mc.n])
		slices.Sort(recent)
		i := int(math.Ceil(completionPercentile*float64(len(recent)))) - 1
		mc.reserve = max(1, recent[max(0, i)])
	}
	return mc.reserve
}

// observe learns from a complete answer: estimate is the local (uncorrected) prompt
// estimate, and openEnded says the call set no max tokens, so that its completion
// shows how long this model's answers run.
func (m *costModel) observe(model string, estimate int, u *Usage, openEnded bool) {
	if u == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mc := m.model(model)
	if estimate > 0 && u.PromptTokens > 0 {
		r := min(5, max(0.2, float64(u.PromptTokens)/float64(estimate)))
		if mc.ratio == 0 {
			mc.ratio = r
		} else {
			mc.ratio += promptRatioWeight * (r - mc.ratio)
		}
	}
	if openEnded && u.CompletionTokens >= 0 {
		mc.completions[mc.next] = min(u.CompletionTokens, maxRequestTokens)
		mc.next = (mc.next + 1) % costWindow
		mc.n = min(mc.n+1, costWindow)
		mc.reserve = 0
	}
}

// learnt returns the model's prompt ratio (0 before the first answer) and
// completion reserve.
func (m *costModel) learnt(model string) (ratio float64, reserve int) {
	reserve = m.completionReserve(model)
	m.mu.Lock()
	defer m.mu.Unlock()
	if mc := m.models[model]; mc != nil {
		ratio = mc.ratio
	}
	return ratio, reserve
}

// usedTokens is what a request that reserved tokens used, by the server's usage
// (the reservation when there is none), bounded as a request can be: a poisoned
// figure (9223372036854775807) must not spend a day's budget or years of a
// bucket. The buckets bound it further by the model's context window.
func usedTokens(u *Usage, reserved int) int {
	if u == nil {
		return reserved
	}
	return min(max(u.TotalTokens, 0), max(reserved, maxRequestTokens))
}

// countedTokens is what a request took from Groq's token limits: its usage less
// the prompt tokens Groq's prompt cache served (prompt_tokens_details.
// cached_tokens), which do not count toward them.
func countedTokens(u *Usage, reserved int) int {
	n := usedTokens(u, reserved)
	if u != nil && u.PromptTokensDetails != nil {
		n -= min(max(u.PromptTokensDetails.CachedTokens, 0), max(u.PromptTokens, 0))
	}
	return max(n, 0)
}

// maxRequestTokens bounds what one request can have cost when its model's context
// window is unknown (the largest context windows are about 2M tokens): a usage
// figure above it is a server's (or a proxy's) error.
const maxRequestTokens = 1 << 21
