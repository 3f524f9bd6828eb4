package serve

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq/groqtest"
)

// served runs the server on the upstream up with args, and returns its
// address, its signal channel, its exit code's channel and its log.
func served(t *testing.T, up *groqtest.Server, args ...string) (string, chan os.Signal, chan int, *lockedBuffer) {
	t.Helper()
	sigs := make(chan os.Signal, 2)
	ready := make(chan string, 1)
	logs := &lockedBuffer{b: new(bytes.Buffer)}
	done := make(chan int, 1)
	vars := map[string]string{"GROQ_BASE_URL": up.URL(), "GROQ_API_KEY": "gsk_test"}
	go func() {
		done <- Run(append([]string{"--listen", "127.0.0.1:0"}, args...),
			Env{Stdout: io.Discard, Stderr: logs, Getenv: func(k string) string { return vars[k] }, Signals: sigs,
				Ready: func(a string) { ready <- a }}, Hooks{})
	}()
	select {
	case addr := <-ready:
		return addr, sigs, done, logs
	case code := <-done:
		t.Fatalf("exited %d: %s", code, logs.String())
	}
	return "", nil, nil, nil
}

// call sends one chat call and returns its status and body (status 0: no
// answer, as a cut connection).
func call(addr string) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/chat/completions", strings.NewReader(`{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func readyz(addr string) int {
	resp, err := (&http.Client{Transport: &http.Transport{}, Timeout: time.Second}).Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

type answer struct {
	status int
	body   string
}

// TestDrainAnswers503OnReadyzAndFinishesCalls (audit 9): after SIGTERM, the
// listener stays open while a call is in flight: /readyz answers 503 (a probe
// is not refused), and the call finishes with a 200.
func TestDrainAnswers503OnReadyzAndFinishesCalls(t *testing.T) {
	up := groqtest.NewServer(groqtest.WithLatency(1500*time.Millisecond, 0))
	defer up.Close()
	addr, sigs, done, logs := served(t, up)
	got := make(chan answer, 1)
	go func() { s, b := call(addr); got <- answer{s, b} }()
	time.Sleep(300 * time.Millisecond)
	sigs <- syscall.SIGTERM
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, http.StatusServiceUnavailable, readyz(addr), "a probe during the drain")
	a := <-got
	assert.Equal(t, 200, a.status, a.body)
	select {
	case code := <-done:
		assert.Equal(t, 0, code, logs.String())
	case <-time.After(5 * time.Second):
		t.Fatal("still serving after the drain")
	}
}

// TestSecondSignalEndsTheDrain (audit 9): a second SIGTERM ends the drain at
// once; the call still running gets a 503 "shutting_down", not a bare EOF.
func TestSecondSignalEndsTheDrain(t *testing.T) {
	up := groqtest.NewServer(groqtest.WithLatency(20*time.Second, 0))
	defer up.Close()
	addr, sigs, done, logs := served(t, up, "--shutdown-grace", "30s")
	got := make(chan answer, 1)
	go func() { s, b := call(addr); got <- answer{s, b} }()
	time.Sleep(300 * time.Millisecond)
	sigs <- syscall.SIGTERM
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		assert.Equal(t, 0, code, logs.String())
	case <-time.After(5 * time.Second):
		t.Fatal("the second signal did not end the drain")
	}
	assert.Less(t, time.Since(start), 3*time.Second)
	a := <-got
	assert.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
	assert.Contains(t, a.body, "shutting_down")
}

// TestGraceEndAnswersTheCallsLeft (audit 9): when the grace runs out, the call
// still running gets a 503 "shutting_down", not a bare EOF.
func TestGraceEndAnswersTheCallsLeft(t *testing.T) {
	up := groqtest.NewServer(groqtest.WithLatency(20*time.Second, 0))
	defer up.Close()
	addr, sigs, done, _ := served(t, up, "--shutdown-grace", "500ms")
	got := make(chan answer, 1)
	go func() { s, b := call(addr); got <- answer{s, b} }()
	time.Sleep(300 * time.Millisecond)
	sigs <- syscall.SIGTERM
	a := <-got
	assert.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
	assert.Contains(t, a.body, "shutting_down")
	require.Equal(t, 0, <-done)
}

// TestSIGHUPWithoutConfigIsIgnored (audit 4): without --config, SIGHUP does not
// end the gateway (its default action would, at once, with no drain).
func TestSIGHUPWithoutConfigIsIgnored(t *testing.T) {
	up := groqtest.NewServer()
	defer up.Close()
	addr, sigs, done, logs := served(t, up)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "SIGHUP ignored") }, 5*time.Second, 10*time.Millisecond)
	s, b := call(addr)
	assert.Equal(t, 200, s, b)
	sigs <- syscall.SIGTERM
	assert.Equal(t, 0, <-done)
}
