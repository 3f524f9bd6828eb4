package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/internal/atomicfile"
	"github.com/groqkit/groq/internal/runplot"
)

// runReport records a local batch for --report: per model, when each request
// the server admitted was sent (every attempt answered with anything but a
// 429), when each 429 was, and when each line failed for good (each since the
// run's start), and the tokens the answers counted. Its observer feeds it.
type runReport struct {
	mu       sync.Mutex
	start    time.Time
	models   map[string]string // custom_id → model
	admitted map[string][]time.Duration
	refused  map[string][]time.Duration
	failed   map[string][]time.Duration
	tokens   map[string]int // per model: the answers' total tokens
	answers  map[string]int // per model: the answers that counted tokens
}

func newRunReport(lines []batchLine, defModel string) *runReport {
	r := &runReport{start: time.Now(), models: map[string]string{}, admitted: map[string][]time.Duration{},
		refused: map[string][]time.Duration{}, failed: map[string][]time.Duration{}, tokens: map[string]int{}, answers: map[string]int{}}
	for _, l := range lines {
		r.models[l.CustomID], _ = l.cost(defModel)
	}
	return r
}

// since is the time from the run's start to t (0 at least).
func (r *runReport) since(t time.Time) time.Duration { return max(t.Sub(r.start), 0) }

// observer is the client option's half of the report.
func (r *runReport) observer() groq.Observer {
	return groq.Observer{
		AttemptDone: func(_ context.Context, e groq.AttemptEvent) {
			now := time.Now()
			r.mu.Lock()
			defer r.mu.Unlock()
			sent := r.since(now.Add(-e.Duration))
			switch e.Status {
			case 0: // no answer: the server did not count it, as far as anyone knows
			case http.StatusTooManyRequests:
				r.refused[e.Model] = append(r.refused[e.Model], sent)
			default:
				r.admitted[e.Model] = append(r.admitted[e.Model], sent)
			}
		},
		CallDone: func(_ context.Context, e groq.CallDoneEvent) {
			if e.Err != nil || e.Usage == nil || e.FromCache || e.Shared {
				return
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			r.tokens[e.Model] += e.Usage.TotalTokens
			r.answers[e.Model]++
		},
	}
}

// fail notes that customID's line failed for good, now.
func (r *runReport) fail(customID string) {
	if r == nil {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.models[customID]
	r.failed[m] = append(r.failed[m], r.since(now))
}

// figure is the run's picture: a line per model (admitted over time), the
// limits in force for it at the end of the run (the client's RateLimits: RPM,
// and TPM in calls of the run's mean tokens), dashed, 429s and failures marked.
func (r *runReport) figure(c *groq.Client, end time.Duration) runplot.Figure {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, byModel := range []map[string][]time.Duration{r.admitted, r.refused, r.failed} {
		for m := range byModel {
			seen[m] = true
		}
	}
	models := slices.Sorted(maps.Keys(seen))
	f := runplot.Figure{Title: "groq batch: requests admitted over time", End: max(end, time.Millisecond),
		Subtitle: fmt.Sprintf("started %s, %v; against the limits in force at the end of the run", r.start.UTC().Format(time.RFC3339), end.Round(time.Millisecond))}
	for _, m := range models {
		s := runplot.Series{Name: m, Admitted: r.admitted[m]}
		for _, t := range r.refused[m] {
			s.Marks = append(s.Marks, runplot.Mark{At: t, Kind: runplot.Refused})
		}
		for _, t := range r.failed[m] {
			s.Marks = append(s.Marks, runplot.Mark{At: t, Kind: runplot.Failed})
		}
		f.Series = append(f.Series, s)
		perCall := 0.0
		if r.answers[m] > 0 {
			perCall = float64(r.tokens[m]) / float64(r.answers[m])
		}
		f.Curves = append(f.Curves, limitCurves(m, c.RateLimits(m), perCall, f.End)...)
	}
	return f
}

// limitCurves are what a model's limits in force allow over all its quotas: the
// requests bucket (Burst.RPM at once, then RPM), and the tokens bucket divided
// by perCall tokens a call, when both are known.
func limitCurves(model string, snap groq.RateLimitSnapshot, perCall float64, end time.Duration) []runplot.Curve {
	var rpm, rBurst, tpm, tBurst float64
	for _, q := range snap.Quotas {
		if q.Limits.RPM > 0 {
			rpm += float64(q.Limits.RPM)
			rBurst += float64(max(q.Burst.RPM, 1))
		}
		if q.Limits.TPM > 0 {
			tpm += float64(q.Limits.TPM)
			tBurst += float64(max(q.Burst.TPM, 1))
		}
	}
	var cs []runplot.Curve
	if rpm > 0 {
		cs = append(cs, runplot.Bucket(fmt.Sprintf("%s: RPM %.0f (%.0f at once)", model, rpm, rBurst), rBurst, rpm/60, end))
	}
	if tpm > 0 && perCall > 0 {
		cs = append(cs, runplot.Bucket(fmt.Sprintf("%s: TPM %.0f ÷ %.0f tokens a call", model, tpm, perCall), tBurst/perCall, tpm/60/perCall, end))
	}
	return cs
}

// write draws the report to path (replaced whole, owner-only like -o).
func (r *runReport) write(path string, c *groq.Client, end time.Duration) error {
	var b bytes.Buffer
	f := r.figure(c, end)
	if len(f.Series) == 0 { // nothing was sent: an empty plot, said so
		f.Series = []runplot.Series{{Name: "nothing sent"}}
	}
	if err := f.WriteSVG(&b); err != nil {
		return err
	}
	return atomicfile.Write(path, b.Bytes(), false)
}

// checkReport checks --report's file name before anything is sent.
func checkReport(o *options) string {
	switch {
	case o.report == "":
		return ""
	case o.remote:
		return "--report draws a batch run here; with --remote Groq runs it (drop one of them)"
	case o.dryRun:
		return "--report draws a run; --dry-run sends nothing (drop one of them)"
	case !strings.HasSuffix(strings.ToLower(o.report), ".svg"):
		return fmt.Sprintf("--report %s: the picture is an SVG; name the file FILE.svg", o.report)
	case sameFile(o.report, o.output) || filepath.Clean(o.report) == filepath.Clean(o.output):
		return fmt.Sprintf("--report %s is -o's file; give another", o.report)
	}
	if err := regularOrAbsent("--report", o.report); err != nil {
		return err.Error()
	}
	if st, err := os.Stat(filepath.Dir(o.report)); err != nil || !st.IsDir() {
		return fmt.Sprintf("--report %s: its directory %s does not exist", o.report, filepath.Dir(o.report))
	}
	return ""
}

// finishReport writes --report after a run, says where, and returns the run's
// exit code (exitAPI when the run succeeded but the picture could not be written).
func finishReport(o *options, e env, r *runReport, c *groq.Client, code int) int {
	if r == nil {
		return code
	}
	if err := r.write(o.report, c, time.Since(r.start)); err != nil {
		fmt.Fprintf(e.stderr, "groq: --report: %v\n", err)
		if code == exitOK {
			return exitAPI
		}
		return code
	}
	fmt.Fprintf(e.stderr, "groq: the run's picture is in %s\n", o.report)
	return code
}
