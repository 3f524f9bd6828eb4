package main

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeExitsOnSIGTERM: groq serve answers a call, and on SIGTERM stops
// accepting, lets the call in flight finish, and exits 0 by itself.
func TestServeExitsOnSIGTERM(t *testing.T) {
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--token", "gw_secret")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()} // no key: the simulator
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill() })
	addr := make(chan string, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`http://([0-9.:]+)/openai/v1`)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	var a string
	select {
	case a = <-addr:
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not say where it listens")
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+a+"/openai/v1/chat/completions",
		strings.NewReader(`{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer gw_secret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(data))
	assert.Contains(t, string(data), "Simulated answer")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() {
		for range addr { // stderr read to its end first: Wait closes the pipe
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		require.NoError(t, err, "exit 0; stderr:\n%s", log.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after SIGTERM; stderr:\n%s", log.String())
	}
	assert.Contains(t, log.String(), "stopped")
}

// TestServeRefusesAnOpenAddressWithoutAToken: off loopback, a gateway needs a
// token; bad tokens and flags are refused before anything starts.
func TestServeRefusesAnOpenAddressWithoutAToken(t *testing.T) {
	code, _, stderr := runIn(t, nil, "serve", "--listen", "0.0.0.0:0")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "not a loopback address")
	code, _, stderr = runIn(t, nil, "serve", "--listen", ":0")
	assert.Equal(t, exitUsage, code, stderr)
	code, _, stderr = runIn(t, nil, "serve", "--token", "name=a,priority=x,secret=s")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "priority")
	code, _, stderr = runIn(t, nil, "serve", "--token", "name=a,secret=s,priority=12")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "1 to 10")
	code, stdout, _ := runIn(t, nil, "serve", "-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "OpenAI-compatible")
}
