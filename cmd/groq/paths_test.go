package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq/groqtest"
)

// specialFiles makes a character device (the same as /dev/null: 1, 3), a FIFO and
// a directory in a fresh directory, by name. A node that cannot be made here is
// left out, and the test says so.
func specialFiles(t *testing.T) map[string]string {
	dir := t.TempDir()
	out := map[string]string{}
	if err := syscall.Mknod(filepath.Join(dir, "null"), syscall.S_IFCHR|0o666, int(1<<8|3)); err == nil {
		out["a character device"] = filepath.Join(dir, "null")
	} else {
		t.Logf("mknod is not permitted here (%v): the character device case is not run", err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err == nil {
		out["a named pipe (FIFO)"] = filepath.Join(dir, "fifo")
	} else {
		t.Logf("mkfifo failed (%v): the FIFO case is not run", err)
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "dir"), 0o700))
	out["a directory"] = filepath.Join(dir, "dir")
	return out
}

// TestSpecialFilesAreNeverReplaced: a device, a FIFO or a directory given as the
// cache or the output is refused before any work, with an error naming it and
// what it is; the node is untouched and nothing is created beside it.
func TestSpecialFilesAreNeverReplaced(t *testing.T) {
	in := writeBatch(t, 3)
	for kind, path := range specialFiles(t) {
		st0, err := os.Lstat(path)
		require.NoError(t, err)
		for _, args := range [][]string{
			{"--cache", path, "hello"},
			{"batch", "--cache", path, in, "-o", filepath.Join(t.TempDir(), "out.jsonl")},
			{"batch", in, "-o", path},
			{"batch", "--dry-run", in, "-o", path},
		} {
			code, _, stderr := runIn(t, nil, args...)
			assert.Equal(t, exitUsage, code, "%v: %s", args, stderr)
			assert.Contains(t, stderr, path+" is "+kind, "%v", args)
			assert.Contains(t, stderr, "nothing was done")
			st, err := os.Lstat(path)
			require.NoError(t, err, "%s is still there", path)
			assert.Equal(t, st0.Mode(), st.Mode(), "%s is the same kind of file", path)
			for _, beside := range []string{".journal", ".lock", ".batch", ".budget"} {
				_, err := os.Lstat(path + beside)
				assert.True(t, os.IsNotExist(err), "%s was created", path+beside)
			}
			matches, _ := filepath.Glob(path + ".corrupt-*")
			assert.Empty(t, matches, "nothing was moved aside")
		}
	}
}

// TestOutputIsAppendedNeverRewritten: a resume reads the output and appends; a
// line to be retried is superseded by a later one; the input, or a file that is
// not batch output, is refused as -o and left as it was; --dry-run changes no
// file.
func TestOutputIsAppendedNeverRewritten(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithModel(batchModel, groqtest.Limits{}))
	defer srv.Close()
	vars := map[string]string{"GROQ_API_KEY": "gsk_out", "GROQ_BASE_URL": srv.URL()}
	in := writeBatch(t, 4)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	earlier := `{"id":"batch_req_000001","custom_id":"req-0","response":null,"error":{"code":"500","message":"failed"}}` + "\n" +
		`{"id":"batch_req_000002","custom_id":"req-1","response":{"status_code":200,"request_id":"req_x","body":{"id":"c","object":"chat.completion","choices":[]}}}` + "\n" +
		`{"id":"batch_req_000003","custom_id":"req-2","resp` // a crash mid-line
	require.NoError(t, os.WriteFile(out, []byte(earlier), 0o600))

	before, _ := os.ReadFile(out)
	code, stdout, stderr := runIn(t, vars, "batch", "--dry-run", in, "-o", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "3 lines to send (1 already done")
	after, _ := os.ReadFile(out)
	assert.Equal(t, before, after, "--dry-run changes no file")

	code, _, stderr = runIn(t, vars, "batch", in, "-o", out)
	require.Equal(t, exitOK, code, stderr)
	data, _ := os.ReadFile(out)
	assert.True(t, bytes.HasPrefix(data, []byte(earlier)), "the earlier lines are kept as they were")
	final := outputLines(t, out) // every custom_id answered once, ids unique
	require.Len(t, final, 4)
	for id, o := range final {
		assert.True(t, o.OK(), "%s: the last line is a success", id)
	}
	assert.Equal(t, 3, srv.Stats().Requests, "req-1 was done already")

	inBefore, _ := os.ReadFile(in)
	code, _, stderr = runIn(t, vars, "batch", in, "-o", in)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "is the input file")
	inAfter, _ := os.ReadFile(in)
	assert.Equal(t, inBefore, inAfter, "the input is untouched")

	notes := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(notes, []byte("my notes\n"), 0o600))
	code, _, stderr = runIn(t, vars, "batch", in, "-o", notes)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "not batch output")
	kept, _ := os.ReadFile(notes)
	assert.Equal(t, "my notes\n", string(kept))
}

// TestSimulatedAnswersAreNotDoneForGroq: lines the simulator answered say so, and
// a run against a real endpoint sends them again.
func TestSimulatedAnswersAreNotDoneForGroq(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.jsonl")
	var lines strings.Builder
	for i := range 4 { // a model the built-in simulator serves
		lines.WriteString(`{"custom_id":"q` + string(rune('0'+i)) + `","body":{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"question"}]}}` + "\n")
	}
	require.NoError(t, os.WriteFile(in, []byte(lines.String()), 0o600))
	out := filepath.Join(t.TempDir(), "out.jsonl")
	code, _, stderr := runIn(t, nil, "batch", in, "-o", out)
	require.Equal(t, exitOK, code, stderr)
	data, _ := os.ReadFile(out)
	assert.Equal(t, 4, strings.Count(string(data), `"simulated":true`))

	srv := groqtest.NewServer()
	defer srv.Close()
	code, _, stderr = runIn(t, map[string]string{"GROQ_API_KEY": "gsk_real", "GROQ_BASE_URL": srv.URL()}, "batch", in, "-o", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "4 answers in "+out+" came from the simulator; they are sent again to Groq")
	assert.Equal(t, 4, srv.Stats().Requests)
}

// TestBlankKeyIsAnError: a key variable set to white space is a mistake, not a
// request for the simulator.
func TestBlankKeyIsAnError(t *testing.T) {
	code, stdout, stderr := runIn(t, map[string]string{"GROQ_API_KEY": " "}, "--no-cache", "hello")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "GROQ_API_KEY is set but holds no key")
	assert.Empty(t, stdout, "nothing was answered")
}

// TestSpecialBudgetFileIsRefused: the budget file beside the cache (--budget)
// must be a regular file or absent too.
func TestSpecialBudgetFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "c.json")
	require.NoError(t, syscall.Mkfifo(cache+".budget", 0o600))
	code, _, stderr := runIn(t, nil, "--cache", cache, "--budget", "1000", "hello")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, cache+".budget is a named pipe (FIFO)")
	st, err := os.Lstat(cache + ".budget")
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeNamedPipe, "left as it was")
	_, err = os.Lstat(cache)
	assert.True(t, os.IsNotExist(err), "no cache was made")
}
