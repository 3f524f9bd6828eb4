package serve

import (
	"bytes"
	"encoding/json"
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

	"github.com/groqkit/groq/groqtest"
)

// TestRunServesConfigRoutes: the config file's routes work through --config: a
// chat for the model "fast" (a name Groq does not list) goes through the gate
// and is served by the route's first model, which the answer and X-Groq-Model
// name; a reload that changes the routes applies them: "fast" is then served by
// b, and the new route "slow" passes the gate.
func TestRunServesConfigRoutes(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "groq.json")
	write := func(routes string) {
		require.NoError(t, os.WriteFile(cfg, []byte(`{"models":{"a":{"api_key":"gsk_cfg","req_per_minute":600},"b":{"api_key":"gsk_cfg","req_per_minute":600}},"routes":`+routes+`}`), 0o600))
	}
	write(`{"fast":["a","b"]}`)
	up := groqtest.NewServer(groqtest.WithModel("a", groqtest.Limits{RPM: 600}), groqtest.WithModel("b", groqtest.Limits{RPM: 600}))
	defer up.Close()
	sigs := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	logs := &lockedBuffer{b: new(bytes.Buffer)}
	done := make(chan int, 1)
	vars := map[string]string{"GROQ_BASE_URL": up.URL()}
	go func() {
		done <- Run([]string{"--listen", "127.0.0.1:0", "--config", cfg, "--reload-every", "20ms"},
			Env{Stdout: io.Discard, Stderr: logs, Getenv: func(k string) string { return vars[k] }, Signals: sigs,
				Ready: func(a string) { ready <- a }}, Hooks{})
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("exited %d: %s", code, logs.String())
	}
	callModel := func(model string) string {
		t.Helper()
		resp, err := http.Post("http://"+addr+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
		require.NoError(t, err)
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", data)
		var body struct{ Model string }
		require.NoError(t, json.Unmarshal(data, &body))
		assert.Equal(t, body.Model, resp.Header.Get("X-Groq-Model"))
		return body.Model
	}
	call := func() string { t.Helper(); return callModel("fast") }
	assert.Equal(t, "a", call())

	time.Sleep(30 * time.Millisecond) // a new modification time
	write(`{"fast":["b"],"slow":["a"]}`)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "config file reloaded") }, 5*time.Second, 10*time.Millisecond, "the file is reloaded")
	assert.Equal(t, "b", call(), "the reloaded route")
	assert.Equal(t, "a", callModel("slow"), "a new route passes the gate")
	assert.Equal(t, 2, up.Stats().PerModel["a"])
	assert.Equal(t, 1, up.Stats().PerModel["b"])

	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		assert.Equal(t, 0, code, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("still serving after the signal")
	}
}
