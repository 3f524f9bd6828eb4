package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// remoteServer is a loopback groqtest whose batches take 300 ms, and a client on it
// for the test's own checks.
func remoteServer(t *testing.T, opts ...groqtest.Option) (*groqtest.Server, *groq.Client, map[string]string) {
	t.Helper()
	srv := groqtest.NewServer(append([]groqtest.Option{groqtest.WithModel(batchModel, groqtest.Limits{RPM: 30}),
		groqtest.WithBatchDuration(300 * time.Millisecond)}, opts...)...)
	t.Cleanup(srv.Close)
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_remote"), groq.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return srv, c, map[string]string{"GROQ_API_KEY": "gsk_remote", "GROQ_BASE_URL": srv.URL()}
}

// TestBatchRemoteEndToEnd: validate, upload, create, poll, download into OUT;
// lines that failed at Groq are sent again (alone) by the same command, until
// every custom_id has one successful line.
func TestBatchRemoteEndToEnd(t *testing.T) {
	_, c, vars := remoteServer(t, groqtest.WithBatchFailureRate(0.2), groqtest.WithSeed(11))
	in := writeBatch(t, 40)
	outPath := filepath.Join(t.TempDir(), "out.jsonl")
	args := []string{"batch", "--remote", in, "-o", outPath, "--poll", "50ms", "--completion-window", "2d"}

	r := cmd(t, vars, "", args...)
	require.Equal(t, exitAPI, r.code, "some lines failed at the simulated Groq: %s", r.stderr)
	assert.Contains(t, r.stderr, "in_progress")
	assert.Contains(t, r.stderr, "run the same command again to retry the failed lines")
	out := outputLines(t, outPath)
	require.Len(t, out, 40, "every line has one line in OUT, success or failure")
	failed := 0
	for _, o := range out {
		if !o.OK() {
			failed++
			require.NotNil(t, o.Error)
			assert.Equal(t, "internal_server_error", o.Error.Code)
		}
	}
	require.Positive(t, failed)
	_, err := os.Stat(outPath + ".batch")
	assert.ErrorIs(t, err, os.ErrNotExist, "the pending id is removed once the results are in")

	var sizes []int
	for attempt := 0; attempt < 6 && r.code != exitOK; attempt++ {
		r = cmd(t, vars, "", args...)
	}
	require.Equal(t, exitOK, r.code, r.stderr)
	out = outputLines(t, outPath)
	require.Len(t, out, 40)
	for i := range 40 {
		o := out[fmt.Sprintf("req-%d", i)]
		require.True(t, o.OK(), "req-%d", i)
		assert.Contains(t, o.Response.Body.Text(), fmt.Sprintf("question %d", i))
	}
	batches, err := c.Batches(context.Background())
	require.NoError(t, err)
	for _, b := range batches {
		sizes = append(sizes, b.RequestCounts.Total)
		assert.Equal(t, "2d", b.CompletionWindow)
	}
	require.GreaterOrEqual(t, len(sizes), 2)
	assert.Equal(t, 40, sizes[0])
	assert.Equal(t, failed, sizes[1], "the second batch holds only the lines that failed: nothing successful is sent twice")

	r = cmd(t, vars, "", args...)
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stderr, "nothing to send")
}

// TestBatchRemoteNoWaitStatusResults: --wait=false prints the id and returns; the
// id is kept beside OUT so the same command picks the batch up (no second
// upload); status and results work from the id alone.
func TestBatchRemoteNoWaitStatusResults(t *testing.T) {
	_, c, vars := remoteServer(t)
	in := writeBatch(t, 10)
	dir := t.TempDir()
	outPath := filepath.Join(dir, "out.jsonl")
	r := cmd(t, vars, "", "batch", in, "-o", outPath, "--remote", "--wait=false")
	require.Equal(t, exitOK, r.code, r.stderr)
	id := strings.TrimSpace(r.stdout)
	require.True(t, strings.HasPrefix(id, "batch_"), "stdout is the batch id: %q", r.stdout)
	kept, err := os.ReadFile(outPath + ".batch")
	require.NoError(t, err)
	assert.Equal(t, id, strings.TrimSpace(string(kept)))

	r = cmd(t, vars, "", "batch", "status", id)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "batch "+id+": ")
	assert.Contains(t, r.stdout, "/10 done")

	r = cmd(t, vars, "", "batch", "--remote", in, "-o", outPath, "--poll", "50ms")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "picking it up (nothing is uploaded)")
	assert.Len(t, outputLines(t, outPath), 10)
	batches, err := c.Batches(context.Background())
	require.NoError(t, err)
	assert.Len(t, batches, 1, "one batch, not two")
	files, err := c.Files(context.Background())
	require.NoError(t, err)
	assert.Len(t, files, 2, "the input and the output, nothing uploaded twice")

	r = cmd(t, vars, "", "batch", "status", "--json", id)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"status": "completed"`)

	other := filepath.Join(dir, "again.jsonl")
	r = cmd(t, vars, "", "batch", "results", id, "-o", other)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, outputLines(t, outPath), outputLines(t, other), "results ID writes the same lines")

	r = cmd(t, vars, "", "batch", "results", "batch_nope", "-o", other)
	assert.Equal(t, exitAPI, r.code)
	assert.Contains(t, r.stderr, "404")
	r = cmd(t, vars, "", "batch", "results", id)
	assert.Equal(t, exitUsage, r.code, "results needs -o")
}

func TestBatchRemoteBadFlagsAndDryRun(t *testing.T) {
	_, c, vars := remoteServer(t)
	in := writeBatch(t, 4)
	outPath := filepath.Join(t.TempDir(), "out.jsonl")
	r := cmd(t, vars, "", "batch", "--remote", in, "-o", outPath, "--completion-window", "1h")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "--completion-window")
	r = cmd(t, vars, "", "batch", "--remote", in, "-o", outPath, "--dry-run")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "would upload 4 lines")
	files, err := c.Files(context.Background())
	require.NoError(t, err)
	assert.Empty(t, files, "a dry run uploads nothing")
}

// TestBatchRemoteWithTheSimulator: with no key, the built-in simulator runs the
// batch, and --wait=false waits (its batches end with the command).
func TestBatchRemoteWithTheSimulator(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	require.NoError(t, os.WriteFile(in, []byte(`{"custom_id":"a","body":{"messages":[{"role":"user","content":"hi"}]}}`+"\n"), 0o600))
	outPath := filepath.Join(dir, "out.jsonl")
	r := cmd(t, map[string]string{}, "", "batch", "--remote", "--wait=false", "--poll", "100ms", in, "-o", outPath)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "waiting instead")
	out := outputLines(t, outPath)
	require.True(t, out["a"].OK())
	_, err := os.Stat(outPath + ".batch")
	assert.ErrorIs(t, err, os.ErrNotExist)
}
