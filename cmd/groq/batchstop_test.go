package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// TestBatchRefusesAnInputAsOutput: a batch input given as -o (lines with a
// custom_id, but input lines) is refused and left as it was.
func TestBatchRefusesAnInputAsOutput(t *testing.T) {
	in, other := writeBatch(t, 2), writeBatch(t, 3)
	before, err := os.ReadFile(other)
	require.NoError(t, err)
	r := cmd(t, nil, "", "batch", in, "-o", other)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "not batch output")
	after, err := os.ReadFile(other)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the input given as OUT is unchanged")
}

// stopTestBatch is a batchRun of n lines on a simulator answering in latency,
// through a client of concurrency 2 with the batch's wire tracker.
func stopTestBatch(t *testing.T, n int, limits groq.Limits, latency time.Duration) (*batchRun, *bytes.Buffer) {
	srv := groqtest.NewUnstartedServer(groqtest.WithModel("m", groqtest.Limits{}), groqtest.WithLatency(latency, 0))
	wire := &wireTracker{}
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithDefaultModel("m"), groq.WithModelLimits("m", limits), groq.WithMaxConcurrency(2), groq.WithObserver(wire.observer()))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	var lines []batchLine
	for i := range n {
		lines = append(lines, batchLine{CustomID: fmt.Sprint("id-", i), Body: &groq.ChatRequest{Messages: []groq.Message{groq.User(fmt.Sprint("q", i))}}})
	}
	var out bytes.Buffer
	return &batchRun{client: c, lines: lines, done: map[string]bool{}, out: &out, progress: &bytes.Buffer{},
		concurrency: 8, grace: 5 * time.Second, every: time.Hour, defModel: "m", wire: wire}, &out
}

// TestInterruptWritesOnlyAnsweredLines: stopped with 2 calls on the wire, 6
// waiting in the client and 12 not handed out, the batch writes the 2 answers
// (after their 1 s on the wire, not the 5 s grace) and nothing for the 18 others;
// the resume sends those 18, so the output holds one line per id.
func TestInterruptWritesOnlyAnsweredLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, out := stopTestBatch(t, 20, groq.Limits{RPM: 6000}, time.Second)
		stop := make(chan struct{})
		time.AfterFunc(500*time.Millisecond, func() { close(stop) })
		start := time.Now()
		ok, total, interrupted := b.run(stop, nil)
		assert.True(t, interrupted)
		assert.Equal(t, 20, total)
		assert.Equal(t, 2, ok, "the two calls on the wire were answered")
		assert.Equal(t, time.Second, time.Since(start), "waited for the wire, not the grace")
		assert.Zero(t, b.failed, "a line never answered is not a failure")
		got := strings.Split(strings.TrimSpace(out.String()), "\n")
		require.Len(t, got, 2, out.String())
		assert.NotContains(t, out.String(), "cancelled")

		done := map[string]bool{}
		for id := range outputIDs(t, out.String()) {
			done[id] = true
		}
		require.Len(t, done, 2)
		b2 := &batchRun{client: b.client, lines: b.lines, done: done, out: out, progress: &bytes.Buffer{},
			concurrency: 8, grace: 5 * time.Second, every: time.Hour, defModel: "m", wire: b.wire, seq: 2}
		b2.wire.stopped = false // the same client's tracker, for a new run
		ok, total, interrupted = b2.run(make(chan struct{}), nil)
		assert.False(t, interrupted)
		assert.Equal(t, 18, total)
		assert.Equal(t, 18, ok)
		ids := outputIDs(t, out.String())
		assert.Len(t, ids, 20)
		for id, n := range ids {
			assert.Equal(t, 1, n, "%s has one line", id)
		}
	})
}

// outputIDs counts the output lines of each custom_id.
func outputIDs(t *testing.T, out string) map[string]int {
	ids := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var o lineOutput
		require.NoError(t, json.Unmarshal([]byte(l), &o), l)
		ids[o.CustomID]++
	}
	return ids
}

// TestInterruptWithNothingOnTheWireEndsAtOnce: the calls wait for the limiter,
// none is on the wire: a stop ends the batch at once, without the grace.
func TestInterruptWithNothingOnTheWireEndsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, out := stopTestBatch(t, 6, groq.Limits{RPM: 2}, time.Second)
		stop := make(chan struct{})
		time.AfterFunc(5*time.Second, func() { close(stop) })
		start := time.Now()
		ok, _, interrupted := b.run(stop, nil)
		assert.True(t, interrupted)
		assert.Equal(t, 2, ok, "RPM 2: two answered in the first second")
		assert.Equal(t, 5*time.Second, time.Since(start), "no grace with nothing on the wire")
		assert.Equal(t, 2, strings.Count(out.String(), "\n"))
	})
}

// TestBatchSaysWhatIsLeftOnResume.
func TestBatchSaysWhatIsLeftOnResume(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithModel(batchModel, groqtest.Limits{}))
	defer srv.Close()
	vars := map[string]string{"GROQ_API_KEY": "gsk_resume", "GROQ_BASE_URL": srv.URL()}
	out := filepath.Join(t.TempDir(), "out.jsonl")
	r := cmd(t, vars, "", "batch", writeBatch(t, 3), "-o", out)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotContains(t, r.stderr, "resuming")
	r = cmd(t, vars, "", "batch", writeBatch(t, 5), "-o", out)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "resuming: 3 of 5 lines are done in "+out+", 2 left")
	st, err := os.Stat(out)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "-o is owner-only, as the help says")
}
