package exsim

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// TestBaseURLFromTheEnvironment: with a key, the examples go where GROQ_BASE_URL
// says.
func TestBaseURLFromTheEnvironment(t *testing.T) {
	srv := groqtest.NewServer()
	defer srv.Close()
	t.Setenv("GROQ_API_KEYS", "")
	t.Setenv("GROQ_API_KEY", "gsk_example_key")
	t.Setenv("GROQ_BASE_URL", srv.URL())
	c, sim := Client(nil)
	defer c.Close()
	assert.Nil(t, sim, "a key: no simulator")
	_, err := c.Chat(context.Background(), []groq.Message{groq.User("hi")})
	require.NoError(t, err)
	assert.Equal(t, 1, srv.Stats().Requests, "the request went to GROQ_BASE_URL")
}
