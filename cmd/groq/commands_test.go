package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq/internal/audio"
)

// TestMistypedSubcommandsAreRefused: a first word that looks like a subcommand,
// or a lone word that names one in other letters, is refused with "did you mean"
// instead of being sent (and billed) as a prompt; "groq -- WORD" still sends it.
func TestMistypedSubcommandsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"modles"}, "did you mean groq models?"},
		{[]string{"transcrib", "f.wav"}, "did you mean groq transcribe?"},
		{[]string{"tranlsate", "x.wav"}, "did you mean groq translate?"},
		{[]string{"Models"}, "did you mean groq models?"},
		{[]string{"bacth", "in.jsonl"}, "did you mean groq batch?"},
		{[]string{"verison"}, "did you mean groq version?"},
	} {
		r := cmd(t, nil, "", tc.args...)
		assert.Equal(t, exitUsage, r.code, "%v", tc.args)
		assert.Contains(t, r.stderr, tc.want, "%v", tc.args)
		assert.Contains(t, r.stderr, "groq -- "+strings.Join(tc.args, " "), "%v says how to send it", tc.args)
		assert.Empty(t, r.stdout, "%v: no prompt was sent", tc.args)
	}
	r := cmd(t, nil, "", "-v", "serve")
	assert.Equal(t, exitUsage, r.code, "serve after a flag is not a prompt")
	assert.Contains(t, r.stderr, "serve comes first")
	r = cmd(t, nil, "", "--", "modles")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `Simulated answer to "modles"`)
	for _, prompt := range [][]string{{"hello"}, {"Help", "me", "write"}, {"what", "is", "this"}} {
		r := cmd(t, nil, "", prompt...)
		require.Equal(t, exitOK, r.code, "%v is a prompt: %s", prompt, r.stderr)
		assert.Contains(t, r.stdout, "Simulated answer", "%v", prompt)
	}
}

func TestHelpVersionTranslateAndPipe(t *testing.T) {
	code, stdout, stderr := runIn(t, nil, "help", "batch")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "IN holds one request a line")
	code, _, stderr = runIn(t, nil, "help", "me", "please")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "groq -- help me please")

	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr = runIn(t, nil, args...)
		require.Equal(t, exitOK, code, stderr)
		assert.Regexp(t, `^groq \S+ \(go1\.`, stdout, "%v", args)
	}

	wav := filepath.Join(t.TempDir(), "x.wav")
	require.NoError(t, os.WriteFile(wav, audio.WAV(12, 8000), 0o600))
	code, stdout, stderr = runIn(t, nil, "translate", wav)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "translation")
	assert.NotContains(t, stdout, "transcription")
	code, _, stderr = runIn(t, nil, "translate", wav, "--language", "fr")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--language")

	r := cmd(t, nil, "hi from a pipe\n")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `Simulated answer to "hi from a pipe"`)
}

// TestUnknownModelSaysDidYouMean: the command keeps the library's suggestion.
func TestUnknownModelSaysDidYouMean(t *testing.T) {
	r := cmd(t, nil, "", "--model", "llama-3.1-8b-instan", "hi")
	assert.Equal(t, exitAPI, r.code)
	assert.Contains(t, r.stderr, `did you mean "llama-3.1-8b-instant"`)
}

// TestEmptyKeyVariableIsAnError: GROQ_API_KEY= (set, empty) is a mistake, as a
// blank is, for the command and for groq serve; unset means the simulator.
func TestEmptyKeyVariableIsAnError(t *testing.T) {
	for _, name := range []string{"GROQ_API_KEY", "GROQ_API_KEYS"} {
		r := cmd(t, map[string]string{name: ""}, "", "hi")
		assert.Equal(t, exitUsage, r.code, name)
		assert.Contains(t, r.stderr, name+" is set but holds no key", name)
		assert.Empty(t, r.stdout)
		code, _, stderr := runIn(t, map[string]string{name: ""}, "serve", "--listen", "127.0.0.1:0")
		assert.Equal(t, exitUsage, code, name)
		assert.Contains(t, stderr, name+" is set but holds no key", name)
	}
}

// TestHelpListsEachSubcommandsFlags, and the other help items: errors name
// flags, --format json prints JSON, --limits prints no Go map, batch without -o
// says so.
func TestHelpListsEachSubcommandsFlags(t *testing.T) {
	for sub, want := range map[string][]string{
		"transcribe": {"-language", "-timestamps", "-format"},
		"translate":  {"-timestamps", "-format"},
		"speak":      {"-voice", "-o file"},
		"batch":      {"-dry-run", "-remote", "-completion-window", "-o file"},
		"models":     {"-json"},
	} {
		code, stdout, _ := runIn(t, nil, sub, "--help")
		require.Equal(t, exitOK, code, sub)
		for _, w := range want {
			assert.Contains(t, stdout, "  "+w, "%s --help lists %s", sub, w)
		}
		assert.NotContains(t, stdout, "-stream", "%s --help lists only its flags", sub)
	}
	_, stdout, _ := runIn(t, nil, "help")
	assert.Contains(t, stdout, "groq transcribe FILE")
	assert.Contains(t, stdout, "groq translate FILE")

	_, groq := audioEnv(t)
	wav := filepath.Join(t.TempDir(), "talk.wav")
	require.NoError(t, os.WriteFile(wav, audio.WAV(20, 8000), 0o600))
	code, out, errOut := groq("transcribe", wav, "--format", "json")
	require.Equal(t, exitOK, code, errOut)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v), "--format json prints JSON: %s", out)
	assert.Contains(t, v, "text")
	code, _, errOut = groq("transcribe", wav, "--timestamps", "word", "--format", "text")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "--timestamps needs --format verbose_json")
	assert.NotContains(t, errOut, "timestamp_granularities")

	r := cmd(t, nil, "", "--limits", "hi")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "map[")
	assert.Contains(t, r.stdout, "queued none")

	code, _, stderr := runIn(t, nil, "batch", writeBatch(t, 2))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "-o is missing")
}
