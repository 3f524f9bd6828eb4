package serve

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveFor runs Run with args and vars until the test ends, and returns the
// address it listens on and what it wrote on standard error.
func serveFor(t *testing.T, args []string, vars map[string]string) (string, *lockedBuffer) {
	t.Helper()
	sigs := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	done := make(chan int, 1)
	logs := &lockedBuffer{b: new(bytes.Buffer)}
	go func() {
		done <- Run(args, Env{Stdout: io.Discard, Stderr: logs, Getenv: func(k string) string { return vars[k] }, Signals: sigs,
			Ready: func(a string) { ready <- a }}, Hooks{})
	}()
	t.Cleanup(func() {
		sigs <- syscall.SIGTERM
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("still serving after the signal")
		}
	})
	select {
	case addr := <-ready:
		return addr, logs
	case code := <-done:
		t.Fatalf("exited %d: %s", code, logs.String())
	}
	return "", nil
}

func statusCode(t *testing.T, url, bearer string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestStatusOpenOnLoopbackOnly: on loopback /status and the page are open; on
// another address only --admin-token (or GROQ_GATEWAY_ADMIN_TOKEN) opens them,
// never a caller's token, and the admin token is never printed.
func TestStatusOpenOnLoopbackOnly(t *testing.T) {
	addr, _ := serveFor(t, []string{"--listen", "127.0.0.1:0"}, nil)
	assert.Equal(t, http.StatusOK, statusCode(t, "http://"+addr+"/status", ""))
	assert.Equal(t, http.StatusOK, statusCode(t, "http://"+addr+"/", ""))

	for _, args := range [][]string{
		{"--listen", "0.0.0.0:0", "--token", "name=web,secret=gw_caller", "--admin-token", "gw_admin"},
		{"--listen", "0.0.0.0:0", "--token", "name=web,secret=gw_caller"},
	} {
		vars := map[string]string{}
		if len(args) == 4 {
			vars["GROQ_GATEWAY_ADMIN_TOKEN"] = "gw_admin"
		}
		addr, logs := serveFor(t, args, vars)
		_, port, err := net.SplitHostPort(addr)
		require.NoError(t, err)
		base := "http://127.0.0.1:" + port
		for _, path := range []string{"/status", "/"} {
			assert.Equal(t, http.StatusUnauthorized, statusCode(t, base+path, ""), "%v %s", args, path)
			assert.Equal(t, http.StatusForbidden, statusCode(t, base+path, "gw_caller"), "a caller's token: %v %s", args, path)
			assert.Equal(t, http.StatusOK, statusCode(t, base+path, "gw_admin"), "%v %s", args, path)
		}
		assert.Contains(t, logs.String(), "/?token=ADMIN_TOKEN")
		assert.NotContains(t, logs.String(), "gw_admin")
	}

	addr, logs := serveFor(t, []string{"--listen", "0.0.0.0:0", "--token", "gw_caller"}, nil)
	_, port, _ := net.SplitHostPort(addr)
	assert.Equal(t, http.StatusForbidden, statusCode(t, "http://127.0.0.1:"+port+"/status", "gw_caller"))
	assert.Contains(t, logs.String(), "give --admin-token")
}
