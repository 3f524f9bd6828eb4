package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

type result struct {
	code           int
	stdout, stderr string
}

// cmd runs the command with args, stdin and environment vars, caching in a
// temporary file unless args say otherwise.
func cmd(t *testing.T, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	args = append([]string{"--cache", filepath.Join(t.TempDir(), "cache.json")}, args...)
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb, lookupIn(vars))
	return result{code, out.String(), errb.String()}
}

func TestNoKeyUsesTheSimulator(t *testing.T) {
	r := cmd(t, nil, "", "What is red teaming?")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `Simulated answer to "What is red teaming?"`)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	require.Len(t, lines, 1, "one line says so")
	assert.Contains(t, lines[0], "simulator")
}

func TestPromptPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.txt")
	require.NoError(t, os.WriteFile(file, []byte("from file"), 0o600))
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"--prompt-file", file, "--stdin", "--default-prompt", "from default", "from", "args"}, "from stdin", "from args"},
		{[]string{"--prompt-file", file, "--stdin", "--default-prompt", "from default"}, "from stdin", "from file"},
		{[]string{"--stdin", "--default-prompt", "from default"}, "from stdin", "from stdin"},
		{[]string{"--default-prompt", "from default"}, "", "from default"},
	} {
		r := cmd(t, nil, tc.stdin, tc.args...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, `"`+tc.want+`"`, "args %v", tc.args)
	}
}

func TestSystemMessage(t *testing.T) {
	a := cmd(t, nil, "", "--no-cache", "hello")
	b := cmd(t, nil, "", "--no-cache", "--system", "be brief", "hello")
	require.Equal(t, 0, b.code)
	assert.NotEqual(t, a.stdout, b.stdout, "the system message is part of the request")
}

func TestUsageErrorsExit2(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.txt")
	require.NoError(t, os.WriteFile(empty, []byte("  \n"), 0o600))
	for name, args := range map[string][]string{
		"unknown flag":          {"--nope", "hi"},
		"unreadable file":       {"--prompt-file", filepath.Join(t.TempDir(), "missing.txt")},
		"empty prompt file":     {"--prompt-file", empty},
		"empty prompt":          {"   "},
		"bad priority":          {"--priority", "0", "hi"},
		"bad temperature":       {"--temperature", "3", "hi"},
		"bad concurrency":       {"--concurrency", "0", "hi"},
		"bad cache ttl":         {"--cache-ttl", "-1s", "hi"},
		"missing config":        {"--config", filepath.Join(t.TempDir(), "none.json"), "hi"},
		"malformed duration":    {"--cache-ttl", "soon", "hi"},
		"negative max tokens":   {"--max-tokens", "-3", "hi"},
		"negative daily budget": {"--budget", "-1", "hi"},
	} {
		r := cmd(t, nil, "", args...)
		assert.Equal(t, 2, r.code, "%s: stderr %q", name, r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		assert.Len(t, lines, 1, "%s: one clear line, got %q", name, r.stderr)
		assert.True(t, strings.HasPrefix(lines[0], "groq: "), "%s: %q", name, lines[0])
		assert.Empty(t, r.stdout, name)
	}
}

func TestAPIErrorExit1(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithKeys("gsk_good"))
	defer srv.Close()
	vars := map[string]string{"GROQ_API_KEY": "gsk_wrong_secret", "GROQ_BASE_URL": srv.URL()}
	r := cmd(t, vars, "", "-v", "hello")
	assert.Equal(t, 1, r.code)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	assert.Contains(t, last, "401")
	assert.Contains(t, last, "Invalid API Key")
	assert.Contains(t, last, "req_sim")
	assert.NotContains(t, r.stderr, "gsk_wrong_secret", "never the key, in the error or the logs")
	assert.Contains(t, r.stderr, "attempt failed", "-v logged")
}

func TestRealKeyPath(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithKeys("gsk_a", "gsk_b"))
	defer srv.Close()
	vars := map[string]string{"GROQ_API_KEYS": "gsk_a,gsk_b", "GROQ_BASE_URL": srv.URL()}
	r := cmd(t, vars, "", "--json", "--limits", "hello")
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stderr, "simulator", "a key was given: no simulator line")
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var resp groq.ChatResponse
	require.NoError(t, dec.Decode(&resp), "--json prints the whole response")
	assert.Equal(t, "chat.completion", resp.Object)
	assert.Contains(t, resp.Text(), "hello")
	assert.Contains(t, r.stdout, "rate limits for llama-3.1-8b-instant")
	assert.Contains(t, r.stdout, "key#1")
}

func TestCacheByDefaultAndNoCache(t *testing.T) {
	srv := groqtest.NewServer()
	defer srv.Close()
	vars := map[string]string{"GROQ_API_KEY": "gsk_k", "GROQ_BASE_URL": srv.URL()}
	getenv := lookupIn(vars)
	dir := t.TempDir()
	path := filepath.Join(dir, "c.json")
	var out, errb bytes.Buffer
	for range 2 {
		code := run([]string{"--cache", path, "hello"}, strings.NewReader(""), &out, &errb, getenv)
		require.Equal(t, 0, code, errb.String())
	}
	_, err := os.Stat(path)
	assert.NoError(t, err, "the answer was cached")
	assert.Equal(t, 1, srv.Stats().Requests, "the second run was answered from the cache")

	other := filepath.Join(dir, "other.json")
	code := run([]string{"--cache", other, "--no-cache", "hello"}, strings.NewReader(""), &out, &errb, getenv)
	require.Equal(t, 0, code)
	_, err = os.Stat(other)
	assert.True(t, os.IsNotExist(err), "--no-cache writes no cache")
}

// TestSimulatedAnswersAreNeverServedAsGroqs: an answer from the built-in simulator
// (no key) is not cached, so a later run with a key asks the server.
func TestSimulatedAnswersAreNeverServedAsGroqs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	var out, errb bytes.Buffer
	code := run([]string{"--cache", path, "Is this from Groq?"}, strings.NewReader(""), &out, &errb, lookupIn(nil))
	require.Equal(t, 0, code, errb.String())
	assert.Contains(t, errb.String(), "nothing is cached")

	srv := groqtest.NewServer()
	defer srv.Close()
	vars := map[string]string{"GROQ_API_KEY": "gsk_k", "GROQ_BASE_URL": srv.URL()}
	out.Reset()
	code = run([]string{"--cache", path, "Is this from Groq?"}, strings.NewReader(""), &out, &errb, lookupIn(vars))
	require.Equal(t, 0, code, errb.String())
	assert.Equal(t, 1, srv.Stats().Requests, "the run with a key asked the server")
}

// TestFlagsAfterThePrompt: flags may follow the prompt, as people type them; after
// "--" everything is the prompt.
func TestFlagsAfterThePrompt(t *testing.T) {
	r := cmd(t, nil, "", "what", "is", "this", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var resp groq.ChatResponse
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &resp), "--json after the prompt applies: %s", r.stdout)
	assert.Contains(t, resp.Text(), `"what is this"`)

	r = cmd(t, nil, "", "--", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `Simulated answer to "--json"`)
}

func TestTemperatureIsChecked(t *testing.T) {
	for _, v := range []string{"-1", "2.5", "NaN"} {
		r := cmd(t, nil, "", "--temperature", v, "hi")
		assert.Equal(t, 2, r.code, "--temperature %s", v)
		assert.Contains(t, r.stderr, "--temperature")
	}
	r := cmd(t, nil, "", "--temperature", "0", "hi")
	assert.Equal(t, 0, r.code, r.stderr)
}

func TestPromptFileFinalNewlineIsNotSent(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.txt")
	require.NoError(t, os.WriteFile(file, []byte("hello there\n"), 0o600))
	r := cmd(t, nil, "", "--prompt-file", file)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `Simulated answer to "hello there"`)
	r = cmd(t, nil, "hi from stdin\r\n", "--stdin")
	assert.Contains(t, r.stdout, `Simulated answer to "hi from stdin"`)
}

func TestStreamFlag(t *testing.T) {
	r := cmd(t, nil, "", "--stream", "--no-cache", "stream this")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `Simulated answer to "stream this"`)
}

func TestBudgetFlag(t *testing.T) {
	r := cmd(t, nil, "", "--budget", "10", "hello")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "daily token budget exceeded")
}

func TestConfigFlag(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithKeys("gsk_cfg"))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "groq.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"models":{"qwen/qwen3-32b":{"base_url":"`+srv.URL()+`","api_key":"$CFG_KEY","req_per_minute":60}}}`), 0o600))
	r := cmd(t, map[string]string{"CFG_KEY": "gsk_cfg"}, "", "--config", cfg, "--limits", "hello")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "rate limits for qwen/qwen3-32b")
	assert.Contains(t, r.stdout, "60 per minute")
	assert.Equal(t, map[string]int{"gsk_cfg": 1}, srv.Stats().PerKey)

	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"models":{"m":{"api_key":"k","token_per_minute":-1}}}`), 0o600))
	r = cmd(t, nil, "", "--config", bad, "hello")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `model "m": token_per_minute`)
}

func TestSelfTest(t *testing.T) {
	r := cmd(t, nil, "", "--self-test")
	require.Equal(t, 0, r.code, r.stdout)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 10)
	for _, l := range lines[:9] {
		assert.True(t, strings.HasPrefix(l, "ok "), l)
	}
	assert.Equal(t, "self-test: all 9 checks passed", lines[9])

	none := cmd(t, nil, "")
	assert.Equal(t, 0, none.code)
	assert.Contains(t, none.stderr, "running the self-test")
	assert.Contains(t, none.stdout, "all 9 checks passed")
}

func TestHelp(t *testing.T) {
	r := cmd(t, nil, "", "-h")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "usage: groq")
	assert.Contains(t, r.stdout, "-self-test")
}

func TestModelsCommand(t *testing.T) {
	r := cmd(t, nil, "", "models")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "MODEL")
	assert.Regexp(t, `llama-3\.1-8b-instant\s+131072\s+groqtest\s+true`, r.stdout)
	r = cmd(t, nil, "", "--", "models")
	assert.Contains(t, r.stdout, `Simulated answer to "models"`, "after -- it is a prompt")
}
