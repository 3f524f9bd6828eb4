package serve

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq/groqtest"
)

func TestParseToken(t *testing.T) {
	tok, err := parseToken("gw_plain", 0)
	require.NoError(t, err)
	assert.Equal(t, "token-1", tok.Name)
	tok, err = parseToken("name=web,secret=s,priority=3,max-priority=2,daily-tokens=100,max-in-flight=4", 1)
	require.NoError(t, err)
	assert.Equal(t, 4, tok.MaxInFlight)
	assert.Equal(t, "web", tok.Name)
	assert.Equal(t, 3, tok.Priority)
	assert.Equal(t, 2, tok.MaxPriority)
	assert.Equal(t, int64(100), tok.DailyTokens)
	for _, bad := range []string{"name=a", "name=a,secret=s,colour=red", "name=a,secret=s,priority=x", "name=a,secret=s,max-in-flight=x", "a b", "name=a,,secret=s"} {
		_, err := parseToken(bad, 0)
		assert.Error(t, err, bad)
	}
}

func TestCheckListen(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8080", "[::1]:0", "localhost:9"} {
		assert.NoError(t, checkListen(ok, false), ok)
	}
	for _, open := range []string{"0.0.0.0:8080", ":8080", "192.168.1.2:80"} {
		assert.Error(t, checkListen(open, false), open)
		assert.NoError(t, checkListen(open, true), "with a token: %s", open)
	}
	assert.Error(t, checkListen("no-port", true))
}

// TestRunServesReloadsAndStops: Run serves a call, reloads its config file when
// it changes, and on a signal drains and returns 0.
func TestRunServesReloadsAndStops(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "groq.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"models":{"llama-3.1-8b-instant":{"api_key":"gsk_cfg","req_per_minute":30}}}`), 0o600))
	sigs := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	logs := &lockedBuffer{b: new(bytes.Buffer)}
	stderr := logs
	done := make(chan int, 1)
	up := groqtest.NewServer()
	defer up.Close()
	vars := map[string]string{"GROQ_BASE_URL": up.URL(), "GROQ_GATEWAY_TOKEN": "gw_a;name=b,secret=gw_b"}
	go func() {
		done <- Run([]string{"--listen", "127.0.0.1:0", "--config", cfg, "--reload-every", "20ms"},
			Env{Stdout: io.Discard, Stderr: logs, Getenv: func(k string) string { return vars[k] }, Signals: sigs,
				Ready: func(a string) { ready <- a }}, Hooks{})
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("exited %d: %s", code, stderr.String())
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/chat/completions", strings.NewReader(`{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer gw_b")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	time.Sleep(30 * time.Millisecond) // a new modification time
	require.NoError(t, os.WriteFile(cfg, []byte(`{"models":{"llama-3.1-8b-instant":{"api_key":"gsk_cfg","req_per_minute":29}}}`), 0o600))
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "reloaded") }, 5*time.Second, 10*time.Millisecond, "config reloaded")

	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		assert.Equal(t, 0, code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("still serving after the signal")
	}
	assert.Contains(t, stderr.String(), "stopped")
	assert.NotContains(t, stderr.String(), "gw_b", "no token in the logs")
}

// TestRunRefusesABlankKey: GROQ_API_KEY set to nothing is a mistake, not a
// request for the simulator: the gateway says which variable and does not
// listen, as the command does.
func TestRunRefusesABlankKey(t *testing.T) {
	for _, name := range []string{"GROQ_API_KEY", "GROQ_API_KEYS"} {
		var stderr bytes.Buffer
		vars := map[string]string{name: " , "}
		code := Run([]string{"--listen", "127.0.0.1:0"}, Env{Stdout: io.Discard, Stderr: &stderr,
			Getenv: func(k string) string { return vars[k] }, Ready: func(string) { t.Error("it listened") }}, Hooks{})
		assert.Equal(t, exitUsage, code, name)
		assert.Contains(t, stderr.String(), name+" is set but holds no key", name)
		assert.NotContains(t, stderr.String(), "simulator (groqtest)", name)
	}
}

// lockedBuffer is a bytes.Buffer written by the server and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
