package groq_test

import (
	"context"
	"errors"
	"testing"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAudioPrecedence: an audio call checks its options first (a bad one
// is returned with no callback), then the context, then the client, then the
// request; every failure after the options reaches WithCallback once.
func TestAudioPrecedence(t *testing.T) {
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_k"))
	require.NoError(t, err)
	var calls int
	cb := groq.WithCallback(func(*groq.ChatResponse, error) { calls++ })
	var nilCtx context.Context

	_, err = c.Speech(nilCtx, nil, groq.WithPriority(0), cb)
	var re *groq.RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "WithPriority", re.Field)
	assert.Equal(t, 0, calls, "no callback for a bad option")

	_, err = c.Speech(nilCtx, nil, cb)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "ctx", re.Field)
	_, err = c.Transcribe(context.Background(), nil, cb)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "request", re.Field)
	_, err = c.SpeechStream(context.Background(), &groq.SpeechRequest{}, cb)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "input", re.Field)
	assert.Equal(t, 3, calls)

	c.Close()
	_, err = c.Translate(context.Background(), nil, cb)
	assert.True(t, errors.Is(err, groq.ErrClientClosed), "closed before a nil request: %v", err)
	_, err = c.Speech(nilCtx, nil, cb)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "ctx", re.Field, "ctx before closed")
	assert.Equal(t, 5, calls)
}
