package gateway

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJavaScriptSDKs runs the official openai and groq-sdk packages (installed
// from the npm registry into a temporary directory) against the gateway. It is
// skipped, saying why, when node or npm is missing or the registry unreachable.
func TestJavaScriptSDKs(t *testing.T) {
	node, nerr := exec.LookPath("node")
	npm, perr := exec.LookPath("npm")
	if nerr != nil || perr != nil {
		t.Skip("skipped: node or npm is not installed (the official JavaScript SDKs cannot be tried)")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--silent", "openai", "groq-sdk")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Skipf("skipped: the npm registry is unreachable (npm install openai groq-sdk: %v)\n%s", err, out)
	}
	script, err := os.ReadFile("testdata/sdks.mjs")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sdks.mjs"), script, 0o600))

	srv, front, _ := setup(t, nil, []Token{{Name: "node", Secret: "gw_node"}})
	run := exec.CommandContext(ctx, node, "sdks.mjs")
	run.Dir = dir
	run.Env = append(os.Environ(), "GW_URL="+front.URL, "GW_TOKEN=gw_node")
	out, err := run.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var got struct {
		OpenAI, Groq string
		Stream       struct {
			Chunks int
			Text   string
			Usage  int
		}
		Wrong int
	}
	require.NoError(t, json.Unmarshal(out, &got), "%s", out)
	assert.Contains(t, got.OpenAI, "Simulated answer")
	assert.Contains(t, got.Groq, "Simulated answer")
	assert.Greater(t, got.Stream.Chunks, 2)
	assert.Contains(t, got.Stream.Text, "Simulated answer")
	assert.Positive(t, got.Stream.Usage, "usage came through the stream")
	assert.Equal(t, 401, got.Wrong)
	assert.Equal(t, 3, srv.Stats().Requests, "the wrong token sent nothing")
}
