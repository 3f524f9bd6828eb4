package groq_test

import (
	"context"
	"testing"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenizerIsPluggable(t *testing.T) {
	calls := 0
	tok := groq.TokenizerFunc(func(model string, msgs []groq.Message) int { calls++; return 5000 })
	c, srv := sim(t, nil, groq.WithTokenizer(tok), groq.WithModelLimits("m", groq.Limits{TPM: 4000}))
	assert.Equal(t, 5000, c.CountTokens("m", hello))
	_, err := c.Chat(context.Background(), hello, groq.WithModel("m"))
	require.ErrorIs(t, err, groq.ErrRequestTooLarge, "the plugged tokenizer's count is what is reserved")
	assert.Equal(t, 2, calls)
	assert.Equal(t, 0, srv.Stats().Requests)

	d, _ := sim(t, nil)
	assert.Greater(t, d.CountTokens("", []groq.Message{groq.User("What is red teaming?")}), 8)
}
