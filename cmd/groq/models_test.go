package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq/groqtest"
)

// listServer is a simulator of models "a" (a day of rpdA requests) and "b"; sent
// records whether any request Groq was sent carried a "models" field.
func listServer(t *testing.T, rpdA int, sent *sentModels) (*groqtest.Server, map[string]string) {
	srv := groqtest.NewServer(groqtest.WithModel("a", groqtest.Limits{RPM: 600, RPD: rpdA, TPM: 100_000}),
		groqtest.WithModel("b", groqtest.Limits{RPM: 600, RPD: 1000, TPM: 100_000}),
		groqtest.WithHandlerHook(func(_ http.ResponseWriter, _ *http.Request, body []byte) bool {
			var m map[string]json.RawMessage
			_ = json.Unmarshal(body, &m)
			sent.mu.Lock()
			_, has := m["models"]
			sent.withList = sent.withList || has
			sent.mu.Unlock()
			return false
		}))
	t.Cleanup(srv.Close)
	return srv, map[string]string{"GROQ_API_KEY": "gsk_list", "GROQ_BASE_URL": srv.URL()}
}

type sentModels struct {
	mu       sync.Mutex
	withList bool
}

// TestModelFlagTakesAList: --model a,b sends the prompt with WithModels(a, b):
// it is answered by a (which can serve now), and says so on standard error; a
// single name is sent as before, and says nothing more.
func TestModelFlagTakesAList(t *testing.T) {
	var sent sentModels
	srv, vars := listServer(t, 100, &sent)
	code, stdout, stderr := runIn(t, vars, "--no-cache", "--model", "b, a", "what is red?")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "what is red?")
	assert.Contains(t, stderr, "groq: answered by b (of b, a)")
	code, _, stderr = runIn(t, vars, "--no-cache", "--model", "a", "what is blue?")
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, stderr, "answered by")
	assert.Equal(t, map[string]int{"a": 1, "b": 1}, srv.Stats().PerModel)
	assert.False(t, sent.withList, "Groq is sent one model, not the list")
}

// TestModelFlagListRefusals: a list with an empty or repeated name, or longer
// than a call accepts, is refused before anything is sent (exit 2), and so is a
// list for a command that takes one model.
func TestModelFlagListRefusals(t *testing.T) {
	var sent sentModels
	srv, vars := listServer(t, 100, &sent)
	for list, want := range map[string]string{
		"a,,b":              "model #2 of the list is empty",
		"a,b,a":             "a is given twice",
		"a,b,c,d,e,f,g,h,i": "9 models; a call accepts at most 8",
	} {
		code, _, stderr := runIn(t, vars, "--no-cache", "--model", list, "hi")
		assert.Equal(t, exitUsage, code, list)
		assert.Contains(t, stderr, want, list)
	}
	code, _, stderr := runIn(t, vars, "--model", "a,b", "speak", "hello", "-o", filepath.Join(t.TempDir(), "x.wav"))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "speak takes one --model, not a list")
	assert.Zero(t, srv.Stats().Requests)
}

// writeLines writes a batch input file.
func writeLines(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return path
}

// servedModels reads each output line's answering model, by custom_id.
func servedModels(t *testing.T, path string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for id, o := range outputLines(t, path) {
		require.NotNil(t, o.Response, "%s: %+v", id, o.Error)
		require.NotNil(t, o.Response.Body, id)
		got[id] = o.Response.Body.Model
	}
	return got
}

// TestBatchLinesCarryModels: a line's body may carry "models"; it is passed to
// the client as the list (Groq is sent one model), and the output line's body
// names the model that served; a line that names no model takes --model's list.
func TestBatchLinesCarryModels(t *testing.T) {
	var sent sentModels
	_, vars := listServer(t, 100, &sent)
	in := writeLines(t,
		`{"custom_id":"ba","body":{"models":["b","a"],"messages":[{"role":"user","content":"one"}]}}`,
		`{"custom_id":"ab","body":{"models":["a","b"],"messages":[{"role":"user","content":"two"}]}}`,
		`{"custom_id":"none","body":{"messages":[{"role":"user","content":"three"}]}}`,
		`{"custom_id":"one","body":{"model":"a","messages":[{"role":"user","content":"four"}]}}`)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	code, _, stderr := runIn(t, vars, "batch", in, "-o", out, "--model", "b,a")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, map[string]string{"ba": "b", "ab": "a", "none": "b", "one": "a"}, servedModels(t, out))
	assert.False(t, sent.withList, "Groq is sent one model, not the list")
}

// TestBatchModelsMoveOnWhenTheDayIsSpent: lines that accept a and b, where a's
// day holds 2 requests: 2 are served by a and the rest by b, with no 429. It
// needs the client's multi-model admission (issue 28's core).
func TestBatchModelsMoveOnWhenTheDayIsSpent(t *testing.T) {
	var sent sentModels
	srv, vars := listServer(t, 2, &sent)
	var lines []string
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		lines = append(lines, `{"custom_id":"`+id+`","body":{"models":["a","b"],"messages":[{"role":"user","content":"q`+id+`"}]}}`)
	}
	out := filepath.Join(t.TempDir(), "out.jsonl")
	code, _, stderr := runIn(t, vars, "batch", writeLines(t, lines...), "-o", out, "--concurrency", "1")
	require.Equal(t, 0, code, stderr)
	per := map[string]int{}
	for _, m := range servedModels(t, out) {
		per[m]++
	}
	assert.Equal(t, map[string]int{"a": 2, "b": 3}, per)
	assert.Zero(t, srv.Stats().RateLimited)
}

// TestBatchModelsRefusals: a bad "models" list names its line; --remote, where
// Groq runs each line on the model it names, refuses a list.
func TestBatchModelsRefusals(t *testing.T) {
	var sent sentModels
	srv, vars := listServer(t, 100, &sent)
	in := writeLines(t,
		`{"custom_id":"ok","body":{"models":["a"],"messages":[{"role":"user","content":"x"}]}}`,
		`{"custom_id":"twice","body":{"models":["a","a"],"messages":[{"role":"user","content":"x"}]}}`)
	code, _, stderr := runIn(t, vars, "batch", in, "-o", filepath.Join(t.TempDir(), "out.jsonl"))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "in.jsonl:2: body: models: a is given twice")

	in = writeLines(t, `{"custom_id":"ab","body":{"models":["a","b"],"messages":[{"role":"user","content":"x"}]}}`)
	code, _, stderr = runIn(t, vars, "batch", "--remote", in, "-o", filepath.Join(t.TempDir(), "out.jsonl"))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `line 1: --remote sends each line to one model`)
	assert.Zero(t, srv.Stats().Requests)
}
