package groq_test

import (
	"testing"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
)

func TestBuiltinLimitsIsACopy(t *testing.T) {
	l := groq.BuiltinLimits()
	assert.Equal(t, groq.Limits{RPM: 30, RPD: 1000, TPM: 12000, TPD: 100000, ContextWindow: 131072}, l["llama-3.3-70b-versatile"])
	l["llama-3.3-70b-versatile"] = groq.Limits{RPM: 1}
	assert.Equal(t, 30, groq.BuiltinLimits()["llama-3.3-70b-versatile"].RPM, "changing the copy changes nothing")
	c, _ := sim(t, nil)
	assert.Equal(t, 6000, c.RateLimits("llama-3.1-8b-instant").Quotas[0].Limits.TPM, "the table is the default")
}
