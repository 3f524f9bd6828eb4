package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/audio"
)

func audioEnv(t *testing.T) (*groqtest.Server, func(args ...string) (int, string, string)) {
	srv := groqtest.NewServer()
	t.Cleanup(srv.Close)
	vars := map[string]string{"GROQ_API_KEY": "gsk_audio", "GROQ_BASE_URL": srv.URL()}
	return srv, func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(args, strings.NewReader(""), &stdout, &stderr, lookupIn(vars))
		return code, stdout.String(), stderr.String()
	}
}

func TestTranscribeCommand(t *testing.T) {
	srv, groq := audioEnv(t)
	wav := filepath.Join(t.TempDir(), "talk.wav")
	require.NoError(t, os.WriteFile(wav, audio.WAV(20, 8000), 0o600))

	code, out, errOut := groq("transcribe", wav, "--language", "en")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "simulated transcription of 20.0 seconds")

	code, out, errOut = groq("transcribe", wav, "--timestamps", "word,segment")
	require.Equal(t, 0, code, errOut)
	var v struct {
		Duration float64
		Words    []json.RawMessage
		Segments []json.RawMessage
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	assert.InDelta(t, 20, v.Duration, 1e-9)
	assert.NotEmpty(t, v.Words)
	assert.Len(t, v.Segments, 2)
	assert.Equal(t, 40, srv.Stats().AudioSecs)

	code, _, errOut = groq("transcribe", wav, "--format", "srt")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `--format "srt"`)
	code, _, errOut = groq("transcribe")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "one file")
}

func TestSpeakCommand(t *testing.T) {
	_, groq := audioEnv(t)
	out := filepath.Join(t.TempDir(), "out.wav")
	code, stdout, errOut := groq("speak", "Hello there, world", "-o", out)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, stdout, "audio/wav")
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	secs, format, ok := audio.Duration(data)
	require.True(t, ok)
	assert.Equal(t, "wav", format)
	assert.InDelta(t, 1.2, secs, 0.01)

	code, _, errOut = groq("speak", "no output file")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "-o")
	code, _, errOut = groq("speak", "into a directory", "-o", t.TempDir())
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "not a regular file")
}

func TestBatchAudioLines(t *testing.T) {
	srv, groq := audioEnv(t)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	lines := `{"custom_id":"a1","method":"POST","url":"/v1/audio/transcriptions","body":{"model":"whisper-large-v3","url":"https://example.com/a.mp3","response_format":"verbose_json"}}
{"custom_id":"a2","url":"/v1/audio/translations","body":{"url":"https://example.com/b.mp3"}}
{"custom_id":"c1","body":{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"hi"}]}}
`
	require.NoError(t, os.WriteFile(in, []byte(lines), 0o600))
	outPath := filepath.Join(t.TempDir(), "out.jsonl")
	code, _, errOut := groq("batch", in, "-o", outPath)
	require.Equal(t, 0, code, errOut)
	data, err := os.ReadFile(outPath)
	require.NoError(t, err)
	got := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var o struct {
			CustomID string `json:"custom_id"`
			Response struct {
				StatusCode int            `json:"status_code"`
				Body       map[string]any `json:"body"`
			} `json:"response"`
		}
		require.NoError(t, json.Unmarshal([]byte(l), &o))
		assert.Equal(t, 200, o.Response.StatusCode, l)
		got[o.CustomID] = o.Response.Body
	}
	require.Len(t, got, 3)
	assert.Contains(t, got["a1"]["text"], "simulated transcription")
	assert.Equal(t, "transcribe", got["a1"]["task"])
	assert.Contains(t, got["a2"]["text"], "simulated translation", "a2 is a translation")
	assert.NotNil(t, got["c1"]["choices"])
	assert.Equal(t, 3, srv.Stats().Requests)

	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte(`{"custom_id":"x","url":"/v1/audio/transcriptions","body":{"file":"a.wav"}}`+"\n"), 0o600))
	code, _, errOut = groq("batch", bad, "-o", filepath.Join(t.TempDir(), "o.jsonl"))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "bad.jsonl:1")
}
