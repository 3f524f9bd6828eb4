package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// svgReading is what a test reads of a --report picture with encoding/xml.
type svgReading struct {
	lines   map[string]int            // series → data-count (requests admitted)
	points  map[string]int            // series → the polyline's points
	marks   map[string]map[string]int // series → kind → marks (data-count summed)
	curves  []string                  // the limit lines' names
	subject string                    // the <title>
}

func readSVG(t *testing.T, path string) svgReading {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	r := svgReading{lines: map[string]int{}, points: map[string]int{}, marks: map[string]map[string]int{}}
	dec := xml.NewDecoder(bytes.NewReader(data))
	inTitle := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the report is well-formed XML")
		switch tk := tok.(type) {
		case xml.StartElement:
			inTitle = tk.Name.Local == "title"
			r.element(t, tk)
		case xml.CharData:
			if inTitle {
				r.subject += string(tk)
			}
		case xml.EndElement:
			inTitle = false
		}
	}
	return r
}

// element reads one element's attributes into r.
func (r *svgReading) element(t *testing.T, el xml.StartElement) {
	attr := map[string]string{}
	for _, a := range el.Attr {
		attr[a.Name.Local] = a.Value
	}
	switch attr["class"] {
	case "series":
		n, err := strconv.Atoi(attr["data-count"])
		require.NoError(t, err)
		r.lines[attr["data-series"]] = n
		r.points[attr["data-series"]] = len(strings.Fields(attr["points"]))
	case "mark refused", "mark failed":
		n, err := strconv.Atoi(attr["data-count"])
		require.NoError(t, err)
		s := attr["data-series"]
		if r.marks[s] == nil {
			r.marks[s] = map[string]int{}
		}
		r.marks[s][strings.TrimPrefix(attr["class"], "mark ")] += n
	case "limit":
		r.curves = append(r.curves, attr["data-curve"])
	}
}

// TestBatchReport: a batch against the simulator with --report writes an SVG
// with a line per model holding as many admissions as the server answered
// without a 429, a red mark per 429, a mark per failed line, and the limits in
// force dashed.
func TestBatchReport(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithModel(batchModel, groqtest.Limits{RPM: 1200, Burst: 5}),
		groqtest.WithLatency(5*time.Millisecond, 0))
	defer srv.Close()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	var b bytes.Buffer
	for i := range 30 {
		fmt.Fprintf(&b, `{"custom_id":"ok-%d","body":{"model":"%s","messages":[{"role":"user","content":"question %d"}]}}`+"\n", i, batchModel, i)
	}
	for i := range 3 { // a model the server does not serve: each line fails (404, not retried)
		fmt.Fprintf(&b, `{"custom_id":"bad-%d","body":{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}}`+"\n", i)
	}
	require.NoError(t, os.WriteFile(in, b.Bytes(), 0o600))
	report := filepath.Join(dir, "run.svg")
	vars := map[string]string{"GROQ_API_KEY": "gsk_batch", "GROQ_BASE_URL": srv.URL()}
	r := cmd(t, vars, "", "batch", in, "-o", filepath.Join(dir, "out.jsonl"), "--concurrency", "8", "--rpm", "1200", "--report", report)
	require.Equal(t, exitAPI, r.code, "three lines failed: %s", r.stderr)
	assert.Contains(t, r.stderr, "3 of 33 lines failed")
	assert.Contains(t, r.stderr, "picture is in "+report)

	byModel := map[string]struct{ admitted, refused int }{}
	for _, a := range srv.Arrivals() {
		c := byModel[a.Model]
		if a.Status == http.StatusTooManyRequests {
			c.refused++
		} else {
			c.admitted++
		}
		byModel[a.Model] = c
	}
	require.Positive(t, byModel[batchModel].refused, "a bucket of 5 against 16 lines at once draws 429s")

	got := readSVG(t, report)
	assert.Contains(t, got.subject, "groq batch")
	assert.Equal(t, map[string]int{batchModel: byModel[batchModel].admitted, "no-such-model": 3}, got.lines)
	assert.Equal(t, 30, got.lines[batchModel], "each ok line admitted once")
	assert.Greater(t, got.points[batchModel], 2, "a line, drawn through the admissions")
	assert.LessOrEqual(t, got.points[batchModel], 31, "the origin and a point per admission at most")
	assert.Equal(t, byModel[batchModel].refused, got.marks[batchModel]["refused"], "a mark per 429")
	assert.Zero(t, got.marks[batchModel]["failed"])
	assert.Equal(t, 3, got.marks["no-such-model"]["failed"], "a mark per failed line")
	require.NotEmpty(t, got.curves)
	assert.Contains(t, got.curves[0], batchModel+": RPM 1200", "the limit in force for the model")
}

func TestBatchReportFlagIsChecked(t *testing.T) {
	in := writeBatch(t, 2)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--report", filepath.Join(dir, "run.png")}, "name the file FILE.svg"},
		{[]string{"--report", filepath.Join(dir, "run.svg"), "--remote"}, "with --remote Groq runs it"},
		{[]string{"--report", filepath.Join(dir, "run.svg"), "--dry-run"}, "--dry-run sends nothing"},
		{[]string{"--report", filepath.Join(dir, "nowhere", "run.svg")}, "does not exist"},
	} {
		r := cmd(t, nil, "", append([]string{"batch", in, "-o", out}, tc.args...)...)
		assert.Equal(t, exitUsage, r.code, "%v", tc.args)
		assert.Contains(t, r.stderr, tc.want, "%v", tc.args)
		assert.Contains(t, r.stderr, "nothing was done", "%v", tc.args)
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "d.svg"), 0o700))
	r := cmd(t, nil, "", "batch", in, "-o", out, "--report", filepath.Join(dir, "d.svg"))
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "is a directory")
	_, err := os.Stat(out)
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing was written")

	r = cmd(t, nil, "", "--report", filepath.Join(dir, "run.svg"), "What is red teaming?")
	assert.Equal(t, exitUsage, r.code, "not silently ignored outside a batch")
	assert.Contains(t, r.stderr, "--report draws a batch run")
}

// TestBatchReportOnTheBuiltInSimulator: with no key, the simulator answers and
// the picture has every line admitted.
func TestBatchReportOnTheBuiltInSimulator(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	var b bytes.Buffer
	for i := range 12 { // the default model, which the simulator serves
		fmt.Fprintf(&b, `{"custom_id":"q-%d","body":{"messages":[{"role":"user","content":"question %d"}]}}`+"\n", i, i)
	}
	require.NoError(t, os.WriteFile(in, b.Bytes(), 0o600))
	report := filepath.Join(dir, "run.svg")
	r := cmd(t, nil, "", "batch", in, "-o", filepath.Join(dir, "out.jsonl"), "--report", report)
	require.Equal(t, exitOK, r.code, r.stderr)
	got := readSVG(t, report)
	assert.Equal(t, map[string]int{groq.DefaultModel: 12}, got.lines)
	assert.Empty(t, got.marks)
	require.NotEmpty(t, got.curves, "the built-in table's limits")
	assert.Contains(t, got.curves[0], groq.DefaultModel+": RPM ")
	st, err := os.Stat(report)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "owner-only, like -o")
}
