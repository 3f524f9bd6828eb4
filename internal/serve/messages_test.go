package serve

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunWithoutATokenSaysWhoMayCall: with no token the gateway says that none
// is required and that any program on this machine may call it, not "for 1
// token(s)".
func TestRunWithoutATokenSaysWhoMayCall(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	stderr := &lockedBuffer{b: new(bytes.Buffer)}
	done := make(chan int, 1)
	go func() {
		done <- Run([]string{"--listen", "127.0.0.1:0"}, Env{Stdout: io.Discard, Stderr: stderr,
			Getenv: func(string) string { return "" }, Signals: sigs, Ready: func(a string) { ready <- a }}, Hooks{})
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("exited %d: %s", code, stderr.String())
	}
	// A caller's own mistake (an unknown model) is no warning about the gateway,
	// and a gateway without a cache shows no cache counters.
	resp, err := http.Post("http://"+addr+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, err = http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(scrape), "groq_gateway_requests_total", "the call was counted")
	assert.NotContains(t, string(scrape), "cache")

	sigs <- syscall.SIGTERM
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("still serving after the signal")
	}
	assert.NotContains(t, stderr.String(), `"level":"WARN"`, "a caller's 404 is logged at Info (with -v)")
	assert.Contains(t, stderr.String(), "no token required: any program on this machine may call it")
	assert.NotContains(t, stderr.String(), "token(s)")
	assert.Contains(t, whoMayCall(2), "holders of its 2 token(s)")
}

// TestRunConfigErrorHasOnePrefix: a configuration mistake reads "groq serve:
// config ...", not "groq serve: groq: config ...", and names the model and the
// field it most likely meant.
func TestRunConfigErrorHasOnePrefix(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "groq.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"models":{"m":{"api_key":"k","rpm":30}}}`), 0o600))
	var stderr bytes.Buffer
	code := Run([]string{"--listen", "127.0.0.1:0", "--config", cfg}, Env{Stdout: io.Discard, Stderr: &stderr,
		Getenv: func(string) string { return "" }, Ready: func(string) { t.Error("it listened") }}, Hooks{})
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "groq serve: config "+cfg+`: model "m": rpm: unknown field; did you mean "req_per_minute"?`)
	assert.NotContains(t, stderr.String(), "groq serve: groq:")
}
