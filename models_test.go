package groq_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

func TestModels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil)
		ms, err := c.Models(context.Background())
		require.NoError(t, err)
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.ID)
			assert.Equal(t, groq.BuiltinLimits()[m.ID].ContextWindow, m.ContextWindow, m.ID)
		}
		assert.Equal(t, srv.Models(), ids, "every model, sorted")

		m, err := c.Model(context.Background(), "openai/gpt-oss-20b")
		require.NoError(t, err)
		assert.Equal(t, "openai/gpt-oss-20b", m.ID)
		assert.True(t, m.Active)
	})
}

func TestUnknownModelNamesCloseMatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, nil)
		_, err := c.Model(context.Background(), "llama-3.1-8b-instnat")
		require.ErrorIs(t, err, groq.ErrModelNotFound)
		var nf *groq.ModelNotFoundError
		require.True(t, errors.As(err, &nf))
		assert.Equal(t, []string{"llama-3.1-8b-instant"}, nf.Suggestions)
		assert.Contains(t, err.Error(), `did you mean "llama-3.1-8b-instant"?`)
		var apiErr *groq.APIError
		require.True(t, errors.As(err, &apiErr))
		assert.Equal(t, 404, apiErr.StatusCode)
		assert.Equal(t, "model_not_found", apiErr.Code)
	})
}

// TestContextWindowFromTheModelsAPI: a model the built-in table lacks gets its
// context window when it is looked up, and later calls are checked against it.
func TestContextWindowFromTheModelsAPI(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel("new-model", groqtest.Limits{ContextWindow: 64})}, groq.WithRPM(0))
		long := []groq.Message{groq.User("a question long enough to need more than sixty-four tokens of context once the answer is counted")}
		_, err := c.Model(context.Background(), "new-model")
		require.NoError(t, err)
		_, err = c.Chat(context.Background(), long, groq.WithModel("new-model"), groq.WithMaxTokens(40))
		require.ErrorIs(t, err, groq.ErrContextWindowExceeded)
		assert.Equal(t, 0, srv.Stats().Requests, "the chat call never reached the server")
	})
}

func TestModelsRetriesAndKeysNeverLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_other")})
		_, err := c.Models(context.Background())
		var apiErr *groq.APIError
		require.True(t, errors.As(err, &apiErr), "Models(...) = %v", err)
		assert.Equal(t, 401, apiErr.StatusCode, "an unknown key is not retried")
		assert.NotContains(t, err.Error(), "gsk_test_key_0")
	})
}

// TestChatWithUnknownModel: a chat call for a model the server does not serve is
// a *ModelNotFoundError with the closest names the client knows, not a bare 404.
func TestChatWithUnknownModel(t *testing.T) {
	c, srv := sim(t, nil)
	_, err := c.Chat(context.Background(), hello, groq.WithModel("llama-3.1-8b-instnt"))
	require.ErrorIs(t, err, groq.ErrModelNotFound)
	var nf *groq.ModelNotFoundError
	require.ErrorAs(t, err, &nf)
	require.NotEmpty(t, nf.Suggestions)
	assert.Equal(t, "llama-3.1-8b-instant", nf.Suggestions[0])
	assert.Contains(t, err.Error(), `did you mean "llama-3.1-8b-instant"`)
	assert.Equal(t, 404, nf.Err.StatusCode)
	assert.Equal(t, 1, srv.Stats().Requests, "not retried")
}
