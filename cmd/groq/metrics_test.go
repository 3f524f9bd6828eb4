package main

import (
	"bufio"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// scrapeWriter is the command's stderr: when the batch's last line comes (before
// the command stops its metrics server), it scrapes /metrics over HTTP, so the
// test sees the run's final figures from a real scrape.
type scrapeWriter struct {
	t       *testing.T
	mu      sync.Mutex
	all     strings.Builder
	url     string
	scraped string
}

var servingLine = regexp.MustCompile(`serving Prometheus metrics on (http://\S+/metrics)`)

func (w *scrapeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	if m := servingLine.FindSubmatch(p); m != nil {
		w.url = string(m[1])
	}
	if strings.Contains(string(p), "lines done in") && w.url != "" {
		resp, err := http.Get(w.url)
		if err != nil {
			w.t.Errorf("scraping %s: %v", w.url, err)
			return len(p), nil
		}
		defer resp.Body.Close()
		assert.Equal(w.t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
		b, _ := io.ReadAll(resp.Body)
		w.scraped = string(b)
	}
	return len(p), nil
}

// sample is one line of the exposition: name, labels, value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// parseExposition parses the text format, failing on a line it does not know and
// on a sample whose family has no TYPE line before it.
func parseExposition(t *testing.T, text string) []sample {
	t.Helper()
	typed := map[string]string{}
	var out []sample
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			parts := strings.Fields(f)
			require.Len(t, parts, 2, line)
			typed[parts[0]] = parts[1]
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		require.NotNil(t, m, "not a sample line: %q", line)
		family := m[1]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(family, suffix); ok && typed[base] == "histogram" {
				family = base
			}
		}
		require.Contains(t, typed, family, "sample before its TYPE: %q", line)
		v, err := strconv.ParseFloat(m[3], 64)
		require.NoError(t, err, line)
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return out
}

// sum adds the samples named name whose labels include want.
func sum(samples []sample, name string, want map[string]string) (total float64, n int) {
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			total += s.value
			n++
		}
	}
	return total, n
}

func TestBatchServesPrometheusMetrics(t *testing.T) {
	srv := groqtest.NewServer(groqtest.WithModel(batchModel, groqtest.Limits{RPM: 6000, Burst: 100}))
	defer srv.Close()
	// The first two requests get a 429 with a short wait: the run must show them.
	srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "0.05"}, groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "0.05"})
	in := writeBatch(t, 40)
	outPath := filepath.Join(t.TempDir(), "out.jsonl")
	vars := map[string]string{"GROQ_API_KEY": "gsk_metrics", "GROQ_BASE_URL": srv.URL()}
	stderr := &scrapeWriter{t: t}
	var stdout strings.Builder
	code := run([]string{"batch", in, "-o", outPath, "--rpm", "6000", "--metrics", "127.0.0.1:0"}, strings.NewReader(""), &stdout, stderr, lookupIn(vars))
	require.Equal(t, 0, code, stderr.all.String())
	require.NotEmpty(t, stderr.scraped, "no scrape happened; stderr:\n%s", stderr.all.String())
	samples := parseExposition(t, stderr.scraped)

	model := map[string]string{"gen_ai_request_model": batchModel}
	calls, _ := sum(samples, "gen_ai_client_operation_duration_seconds_count", map[string]string{
		"gen_ai_request_model": batchModel, "gen_ai_operation_name": "chat", "gen_ai_provider_name": "groq"})
	assert.Equal(t, 40.0, calls, "one duration per line")
	inf, _ := sum(samples, "gen_ai_client_operation_duration_seconds_bucket", map[string]string{"le": "+Inf"})
	assert.Equal(t, 40.0, inf, "the +Inf bucket counts every call")
	input, n := sum(samples, "gen_ai_client_token_usage_sum", map[string]string{"gen_ai_token_type": "input"})
	assert.Equal(t, 1, n)
	assert.Greater(t, input, 40.0, "input tokens: at least one per call")
	limited, _ := sum(samples, "groq_client_rate_limited_total", model)
	assert.Equal(t, 2.0, limited, "the two scripted 429s")
	retries, _ := sum(samples, "groq_client_retries_total", model)
	assert.Equal(t, 2.0, retries)
	_, n = sum(samples, "groq_client_cache_misses_total", nil)
	assert.Zero(t, n, "a batch without --cache has no cache, and no cache counters")
	waits, _ := sum(samples, "groq_client_queue_wait_seconds_count", model)
	// One admission per attempt, and one more for a call admitted just before a 429
	// cooled the quota (it goes back to the queue without being sent).
	assert.GreaterOrEqual(t, waits, 42.0, "an admission per attempt")
	assert.LessOrEqual(t, waits, 42.0+2*float64(groq.DefaultMaxConcurrency), "re-admissions only around the two 429s")
	rpm, n := sum(samples, "groq_client_quota_remaining", map[string]string{"gen_ai_request_model": batchModel, "groq_limit": "RPM", "groq_quota": "key#0"})
	require.Equal(t, 1, n, "the RPM gauge of key#0")
	assert.True(t, rpm >= 0 && rpm < 1, "some of the minute's requests are spent: %v", rpm)
	_, n = sum(samples, "groq_client_requests_in_flight", nil)
	assert.Equal(t, 1, n)
	assert.NotContains(t, stderr.scraped, "gsk_metrics", "never a key")

	// The server stops with the command.
	_, err := (&http.Client{Timeout: time.Second}).Get(stderr.url)
	assert.Error(t, err, "the metrics server is still up after the command returned")
}

func TestMetricsFlagBadAddress(t *testing.T) {
	r := cmd(t, map[string]string{}, "", "--metrics", "not-an-address", "hello")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "--metrics")
}
