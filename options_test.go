package groq_test

import (
	"errors"
	"testing"
	"time"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClientRejectsBadOptions(t *testing.T) {
	t.Setenv("GROQ_API_KEYS", "")
	t.Setenv("GROQ_API_KEY", "")
	tests := []struct {
		name   string
		opts   []groq.Option
		option string // the option the error must name
	}{
		{"empty key", []groq.Option{groq.WithAPIKeys("")}, "WithAPIKeys"},
		{"white space key", []groq.Option{groq.WithAPIKeys("  ")}, "WithAPIKeys"},
		{"padded key", []groq.Option{groq.WithAPIKeys(" gsk_x")}, "WithAPIKeys"},
		{"duplicate key", []groq.Option{groq.WithAPIKeys("a", "a")}, "WithAPIKeys"},
		{"unparsable base URL", []groq.Option{groq.WithAPIKeys("k"), groq.WithBaseURL("://nope")}, "WithBaseURL"},
		{"relative base URL", []groq.Option{groq.WithAPIKeys("k"), groq.WithBaseURL("api.groq.com/openai/v1")}, "WithBaseURL"},
		{"negative retries", []groq.Option{groq.WithAPIKeys("k"), groq.WithMaxRetries(-1)}, "WithMaxRetries"},
		{"negative backoff", []groq.Option{groq.WithAPIKeys("k"), groq.WithBackoff(-time.Second, time.Second)}, "WithBackoff"},
		{"max below base", []groq.Option{groq.WithAPIKeys("k"), groq.WithBackoff(time.Second, time.Millisecond)}, "WithBackoff"},
		{"zero max retry delay", []groq.Option{groq.WithAPIKeys("k"), groq.WithMaxRetryDelay(0)}, "WithMaxRetryDelay"},
		{"nil http client", []groq.Option{groq.WithAPIKeys("k"), groq.WithHTTPClient(nil)}, "WithHTTPClient"},
		{"empty default model", []groq.Option{groq.WithAPIKeys("k"), groq.WithDefaultModel(" ")}, "WithDefaultModel"},
		{"negative limits", []groq.Option{groq.WithAPIKeys("k"), groq.WithModelLimits("m", groq.Limits{TPM: -1})}, "WithModelLimits"},
		{"zero concurrency", []groq.Option{groq.WithAPIKeys("k"), groq.WithMaxConcurrency(0)}, "WithMaxConcurrency"},
		{"key in two organizations", []groq.Option{groq.WithOrganization("a", "k"), groq.WithOrganization("b", "k")}, "WithOrganization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := groq.NewClient(tt.opts...)
			require.Error(t, err)
			assert.Nil(t, c)
			var oe *groq.OptionError
			require.True(t, errors.As(err, &oe), "NewClient(...) = %v; want an *OptionError", err)
			assert.Equal(t, tt.option, oe.Option)
			assert.Contains(t, err.Error(), tt.option)
		})
	}
	_, err := groq.NewClient()
	assert.ErrorIs(t, err, groq.ErrNoAPIKey)
}
