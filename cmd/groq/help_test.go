package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHelpAndArguments: the help lists the subcommands, each subcommand has its
// own, unknown arguments are errors, --json works for models, and a config
// mistake names the file, line and column.
func TestHelpAndArguments(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		code, stdout, _ := runIn(t, nil, args...)
		assert.Equal(t, exitOK, code, "%v", args)
		for _, sub := range []string{"groq models", "groq batch [flags] IN.jsonl", "groq batch status ID", "groq batch results ID"} {
			assert.Contains(t, stdout, sub, "%v lists %s", args, sub)
		}
	}
	code, stdout, _ := runIn(t, nil, "batch", "--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "IN holds one request a line")
	code, stdout, _ = runIn(t, nil, "models", "-h")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "usage: groq models [--json]")

	code, stdout, stderr := runIn(t, nil, "models", "extra")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "models takes no arguments")
	assert.Empty(t, stdout, "no prompt was sent")

	code, stdout, stderr = runIn(t, nil, "models", "--json")
	require.Equal(t, exitOK, code, stderr)
	var models []map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &models), "--json prints JSON: %s", stdout)
	assert.NotEmpty(t, models)

	code, _, stderr = runIn(t, nil, "batch", "--json", writeBatch(t, 2), "-o", filepath.Join(t.TempDir(), "o.jsonl"))
	assert.Equal(t, exitUsage, code, "--json is not silently ignored")
	assert.Contains(t, stderr, "--json is for a prompt, groq models and groq batch status")

	cfg := filepath.Join(t.TempDir(), "groq.json")
	require.NoError(t, os.WriteFile(cfg, []byte("{\"models\": {\n  \"m\": {\"rpm\": 30,},\n}}\n"), 0o600))
	code, _, stderr = runIn(t, nil, "--config", cfg, "hi")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, cfg+":2:19:")
}
