package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// batchModel is not in the built-in table, so that --rpm sets its limit.
const batchModel = "batch-model"

// writeBatch writes n lines, alternating Groq's full batch format and the short one.
func writeBatch(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	var b bytes.Buffer
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&b, `{"custom_id":"req-%d","method":"POST","url":"/v1/chat/completions","body":{"model":"`+batchModel+`","messages":[{"role":"user","content":"question %d"}],"max_completion_tokens":20}}`+"\n", i, i)
		} else {
			fmt.Fprintf(&b, `{"custom_id":"req-%d","body":{"model":"`+batchModel+`","messages":[{"role":"user","content":"question %d"}]},"priority":3}`+"\n", i, i)
		}
	}
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o600))
	return path
}

// outputLines returns the output's final reading by custom_id (a later line for a
// custom_id supersedes an earlier one), failing on a custom_id answered twice or
// an id used twice. A line a crash left unfinished (not JSON) is skipped, as
// readers do.
func outputLines(t *testing.T, path string) map[string]groq.BatchOutput {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string]groq.BatchOutput{}
	ids := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o groq.BatchOutput
		if json.Unmarshal(sc.Bytes(), &o) != nil && !json.Valid(sc.Bytes()) {
			continue // a torn line
		}
		require.NotEmpty(t, o.CustomID, sc.Text())
		prev, seen := out[o.CustomID]
		require.False(t, seen && prev.OK(), "custom_id %s answered twice", o.CustomID)
		require.False(t, ids[o.ID], "id %s used twice", o.ID)
		ids[o.ID] = true
		out[o.CustomID] = o
	}
	return out
}

func TestBatchLocal(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithModel(batchModel, groqtest.Limits{RPM: 6000, Burst: 100}),
		groqtest.WithLatency(5*time.Millisecond, 5*time.Millisecond))
	defer srv.Close()
	in := writeBatch(t, 300)
	outPath := filepath.Join(t.TempDir(), "out.jsonl")
	vars := map[string]string{"GROQ_API_KEY": "gsk_batch", "GROQ_BASE_URL": srv.URL()}
	var stdout, stderr bytes.Buffer
	code := run([]string{"batch", in, "-o", outPath, "--concurrency", "16", "--rpm", "6000"}, strings.NewReader(""), &stdout, &stderr, lookupIn(vars))
	require.Equal(t, 0, code, stderr.String())
	out := outputLines(t, outPath)
	require.Len(t, out, 300)
	for i := range 300 {
		o := out[fmt.Sprintf("req-%d", i)]
		require.NotNil(t, o.Response, "req-%d", i)
		assert.Equal(t, 200, o.Response.StatusCode)
		assert.Nil(t, o.Error)
		assert.Contains(t, o.Response.Body.Text(), fmt.Sprintf("question %d", i), "each line's own answer")
		assert.True(t, strings.HasPrefix(o.ID, "batch_req_"))
	}
	assert.Contains(t, stderr.String(), "300 lines done")

	// Run again: everything is done; nothing is sent.
	before := srv.Stats().Requests
	stderr.Reset()
	code = run([]string{"batch", in, "-o", outPath}, strings.NewReader(""), &stdout, &stderr, lookupIn(vars))
	require.Equal(t, 0, code, stderr.String())
	assert.Equal(t, before, srv.Stats().Requests)
}

func TestBatchRejectsBadInputWithLineNumbers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join([]string{
		`{"custom_id":"a","body":{"messages":[{"role":"user","content":"fine"}]}}`,
		`not json`,
		`{"custom_id":"b","body":{"messages":[{"role":"user","content":"x"}]},"colour":"red"}`,
		`{"custom_id":"a","body":{"messages":[{"role":"user","content":"again"}]}}`,
		`{"custom_id":"c","method":"GET","body":{"messages":[{"role":"user","content":"x"}]}}`,
		`{"custom_id":"d","body":{"messages":[{"role":"user","content":"x"}],"temperature":7}}`,
		`{"custom_id":"e","body":{"messages":[{"role":"user","content":"x"}],"max_completion_tokens":200000}}`,
		`{"body":{"messages":[{"role":"user","content":"x"}]}}`,
	}, "\n")+"\n"), 0o600))
	r := cmd(t, nil, "", "batch", path, "-o", filepath.Join(t.TempDir(), "out.jsonl"))
	assert.Equal(t, 2, r.code)
	for _, want := range []string{":2: invalid character", `:3: unknown field "colour"`, `:4: custom_id "a" repeats line 1`,
		`:5: method "GET"`, ":6: body: ", "temperature", ":7: about ", "context window", ":8: no custom_id", "nothing was sent"} {
		assert.Contains(t, r.stderr, want)
	}
	assert.NotContains(t, r.stderr, ":1:")
}

func TestBatchDryRun(t *testing.T) {
	in := writeBatch(t, 10)
	r := cmd(t, nil, "", "batch", "--dry-run", in, "-o", filepath.Join(t.TempDir(), "out.jsonl"))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "10 lines to send")
	assert.Contains(t, r.stdout, batchModel+": 10 calls")
	assert.Contains(t, r.stdout, "predicted duration")
	assert.Contains(t, r.stdout, "nothing was sent")
}

// TestBatchETA: the prediction from the limits is within 20 % of the real
// duration of a limit-bound run (synctest: exact time).
func TestBatchETA(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(groqtest.WithModel("m", groqtest.Limits{RPM: 120}), groqtest.WithLatency(300*time.Millisecond, 0))
		c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel("m"), groq.WithModelLimits("m", groq.Limits{RPM: 120}), groq.WithMaxConcurrency(8))
		require.NoError(t, err)
		defer c.Close()
		var lines []batchLine
		for i := range 300 {
			lines = append(lines, batchLine{CustomID: fmt.Sprint(i), Body: &groq.ChatRequest{Messages: []groq.Message{groq.User(fmt.Sprint("q", i))}}})
		}
		var out, progress bytes.Buffer
		b := &batchRun{client: c, lines: lines, done: map[string]bool{}, out: &out, progress: &progress,
			concurrency: 16, grace: time.Second, every: 10 * time.Second, defModel: "m"}
		plan := planBatch(lines, b.done, "m")
		predicted := predict(c, plan.perModel, plan.tokens)
		start := time.Now()
		ok, total, interrupted := b.run(make(chan struct{}), nil)
		took := time.Since(start)
		require.Equal(t, 300, ok)
		require.Equal(t, 300, total)
		require.False(t, interrupted)
		assert.InDelta(t, 1, float64(predicted)/float64(took), 0.2, "predicted %v, took %v", predicted, took)
		assert.Contains(t, progress.String(), "/300 done", "periodic progress lines off a terminal")
		assert.Contains(t, progress.String(), "ETA")
		t.Logf("predicted %v, took %v; progress:\n%s", predicted, took, progress.String())
	})
}

// TestBatchInterruptAndResume sends SIGINT to the real binary half-way, then runs
// it again: every custom_id ends with one successful line and no successful call
// was made twice.
func TestBatchInterruptAndResume(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "groq")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building the command: %s", out)

	srv := groqtest.NewServer(groqtest.WithModel(batchModel, groqtest.Limits{RPM: 1200, Burst: 20}),
		groqtest.WithLatency(10*time.Millisecond, 0))
	defer srv.Close()
	in := writeBatch(t, 120)
	outPath := filepath.Join(t.TempDir(), "out.jsonl")
	command := func() *exec.Cmd {
		c := exec.Command(bin, "batch", in, "-o", outPath, "--rpm", "1200")
		c.Env = append(os.Environ(), "GROQ_API_KEY=gsk_batch", "GROQ_BASE_URL="+srv.URL())
		return c
	}
	first := command()
	var stderr bytes.Buffer
	first.Stderr = &stderr
	require.NoError(t, first.Start())
	time.Sleep(1500 * time.Millisecond) // a real process on a real clock: about 40 lines done
	require.NoError(t, first.Process.Signal(syscall.SIGINT))
	err = first.Wait()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "stderr: %s", stderr.String())
	assert.Equal(t, exitInterrupted, exitErr.ExitCode(), stderr.String())
	assert.Contains(t, stderr.String(), "run the same command again to resume")
	partial := len(outputLines(t, outPath))
	assert.Greater(t, partial, 0)
	assert.Less(t, partial, 120, "interrupted half-way")

	second := command()
	second.Stderr = &stderr
	require.NoError(t, second.Run(), stderr.String())
	final := outputLines(t, outPath)
	require.Len(t, final, 120)
	for id, o := range final {
		assert.Nil(t, o.Error, id)
	}
	successes := map[string]int{}
	for _, a := range srv.Arrivals() {
		if a.Status == 200 {
			successes[a.Prompt]++
		}
	}
	for prompt, n := range successes {
		assert.Equal(t, 1, n, "prompt %q answered %d times", prompt, n)
	}
	assert.Len(t, successes, 120)
	t.Logf("interrupted after %d of 120; resumed", partial)
}

// TestSignalAfterTheLastLineIsHandedOut: with every line already in flight, a
// SIGINT still stops the batch (exit 130) within the grace period, and SIGTERM
// gives 143.
func TestSignalAfterTheLastLineIsHandedOut(t *testing.T) {
	bin := binary(t)
	srv := groqtest.NewServer(groqtest.WithModel(batchModel, groqtest.Limits{}), groqtest.WithLatency(15*time.Second, 0))
	defer srv.Close()
	in := writeBatch(t, 4) // fewer than the workers: all handed out at once
	for sig, want := range map[syscall.Signal]int{syscall.SIGINT: exitInterrupted, syscall.SIGTERM: exitTerminated} {
		out := filepath.Join(t.TempDir(), "out.jsonl")
		c := exec.Command(bin, "batch", in, "-o", out)
		c.Env = append(os.Environ(), "GROQ_API_KEY=gsk_sig", "GROQ_BASE_URL="+srv.URL())
		var stderr bytes.Buffer
		c.Stderr = &stderr
		require.NoError(t, c.Start())
		time.Sleep(time.Second) // the lines are in flight (the server takes 15 s)
		start := time.Now()
		require.NoError(t, c.Process.Signal(sig))
		err := c.Wait()
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr, "stderr: %s", stderr.String())
		assert.Equal(t, want, exitErr.ExitCode(), stderr.String())
		assert.Less(t, time.Since(start), graceBatch+3*time.Second, "within the grace period")
		assert.Contains(t, stderr.String(), "run the same command again to resume")
		progress := regexp.MustCompile(`batch: (\d+)/(\d+) done`).FindAllStringSubmatch(stderr.String(), -1)
		closing := regexp.MustCompile(`interrupted: (\d+) of (\d+) lines done`).FindStringSubmatch(stderr.String())
		require.NotEmpty(t, progress, stderr.String())
		require.NotNil(t, closing, stderr.String())
		last := progress[len(progress)-1]
		assert.Equal(t, closing[1:], last[1:], "the last progress line and the closing line agree: %s", stderr.String())
	}
}

// TestBatchSoakInterruptsAndKills: 200 lines, ten runs each stopped at a random
// moment by SIGINT or SIGKILL, then a run to the end: in the final reading every
// line is answered exactly once, no line is torn, and no id is used twice.
func TestBatchSoakInterruptsAndKills(t *testing.T) {
	bin := binary(t)
	srv := groqtest.NewServer(groqtest.WithModel(batchModel, groqtest.Limits{RPM: 1200, Burst: 20}),
		groqtest.WithLatency(30*time.Millisecond, 20*time.Millisecond))
	defer srv.Close()
	in := writeBatch(t, 200)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	rng := rand.New(rand.NewPCG(20, 26))
	command := func() (*exec.Cmd, *bytes.Buffer) {
		c := exec.Command(bin, "batch", in, "-o", out, "--rpm", "1200")
		c.Env = append(os.Environ(), "GROQ_API_KEY=gsk_soak", "GROQ_BASE_URL="+srv.URL())
		var stderr bytes.Buffer
		c.Stderr = &stderr
		return c, &stderr
	}
	for round := range 10 {
		c, stderr := command()
		require.NoError(t, c.Start())
		time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
		sig := os.Signal(syscall.SIGINT)
		if rng.IntN(2) == 0 {
			sig = syscall.SIGKILL
		}
		require.NoError(t, c.Process.Signal(sig))
		err := c.Wait()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatalf("round %d: %v", round, err)
		}
		if sig == syscall.SIGINT && exitErr != nil {
			assert.Equal(t, exitInterrupted, exitErr.ExitCode(), "round %d: %s", round, stderr.String())
		}
	}
	c, stderr := command()
	require.NoError(t, c.Run(), stderr.String())
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		assert.True(t, json.Valid(line), "line %d is torn: %q", i+1, line)
	}
	final := outputLines(t, out) // every custom_id answered once, every id unique
	require.Len(t, final, 200)
	for id, o := range final {
		assert.True(t, o.OK(), "%s: %+v", id, o.Error)
	}
}

// TestBatchAgainstARefusedPort: lines whose every attempt is refused at the
// connection give up at backoff pace (seconds, not the minutes it took while each
// attempt held its tokens), and the ETA is not "0s" while they do.
func TestBatchAgainstARefusedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	in := writeBatch(t, 5)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	start := time.Now()
	code, _, stderr := runIn(t, map[string]string{"GROQ_API_KEY": "gsk_refused", "GROQ_BASE_URL": "http://" + addr + "/openai/v1"},
		"batch", "--concurrency", "5", in, "-o", out)
	assert.Equal(t, exitAPI, code, stderr)
	assert.Less(t, time.Since(start), 30*time.Second, "5 lines give up in seconds: %s", stderr)
	assert.Contains(t, stderr, "5 of 5 lines failed")
}

// TestBatchPassesEveryField: a line whose body carries Groq's own fields and one
// the client does not know reaches the server unchanged, and the answer's
// executed_tools, annotations and a field the client does not know are in the
// output.
func TestBatchPassesEveryField(t *testing.T) {
	body := `{"model":"groq/compound","messages":[{"role":"user","content":"What colour is the sky?"}],` +
		`"documents":[{"id":"d1","source":{"type":"text","text":"The sky is blue."}}],"citation_options":"enabled",` +
		`"search_settings":{"country":"france","include_domains":["example.org"]},` +
		`"compound_custom":{"models":{"answering_model":"openai/gpt-oss-120b"},"tools":{"enabled_tools":["web_search"]}},` +
		`"disable_tool_validation":true,"a_field_from_next_month":{"k":[1,2,3]}}`
	answer := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"groq/compound","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"Blue.","executed_tools":[{"index":0,"type":"search","arguments":"{\"query\":\"sky\"}","output":"blue",` +
		`"search_results":{"results":[{"title":"Sky","url":"https://example.org/sky","score":0.9}]}}],` +
		`"annotations":[{"type":"document_citation","document_citation":{"document_id":"d1","start_index":0,"end_index":5}}]},` +
		`"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12},"an_answer_field_from_next_month":[7],"x_groq":{"id":"req_x"}}`
	var got []byte
	srv := groqtest.NewServer(groqtest.WithHandlerHook(func(w http.ResponseWriter, r *http.Request, b []byte) bool {
		got = append([]byte(nil), b...)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req_x")
		w.Write([]byte(answer))
		return true
	}))
	defer srv.Close()
	in := filepath.Join(t.TempDir(), "in.jsonl")
	require.NoError(t, os.WriteFile(in, []byte(`{"custom_id":"c1","method":"POST","url":"/v1/chat/completions","body":`+body+"}\n"), 0o600))
	outPath := filepath.Join(t.TempDir(), "out.jsonl")
	vars := map[string]string{"GROQ_API_KEY": "gsk_batch", "GROQ_BASE_URL": srv.URL()}
	var stdout, stderr bytes.Buffer
	code := run([]string{"batch", in, "-o", outPath}, strings.NewReader(""), &stdout, &stderr, lookupIn(vars))
	require.Equal(t, 0, code, stderr.String())
	var sent, want map[string]any
	require.NoError(t, json.Unmarshal(got, &sent))
	require.NoError(t, json.Unmarshal([]byte(body), &want))
	assert.Equal(t, want, sent, "the body reached the server unchanged")

	data, err := os.ReadFile(outPath)
	require.NoError(t, err)
	var line struct {
		Response struct {
			Body map[string]any `json:"body"`
		} `json:"response"`
	}
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(data), &line))
	var whole map[string]any
	require.NoError(t, json.Unmarshal([]byte(answer), &whole))
	assert.Equal(t, whole, line.Response.Body, "the server's whole answer is in the output")
}
