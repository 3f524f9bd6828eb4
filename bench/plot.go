package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/runplot"
)

// runTrace is what -svg draws of one run: when the server admitted each of the
// client's requests (every arrival it did not refuse with a 429), when it
// refused one, when a call failed for good (each since the run's start), how
// long the run took, and the tokens a call cost the server.
type runTrace struct {
	admitted, refused, failed []time.Duration
	end                       time.Duration
	tokensPerCall             float64
}

// newTrace is the trace of a run that began at start and took took.
func newTrace(arrivals []groqtest.Arrival, start time.Time, took time.Duration, failed []time.Duration, st groqtest.Stats) *runTrace {
	tr := &runTrace{failed: failed, end: took}
	for _, a := range arrivals {
		at := max(a.At.Sub(start), 0)
		if a.Status == http.StatusTooManyRequests {
			tr.refused = append(tr.refused, at)
		} else {
			tr.admitted = append(tr.admitted, at)
		}
		tr.end = max(tr.end, at)
	}
	if st.Successes > 0 {
		tr.tokensPerCall = float64(st.Tokens) / float64(st.Successes)
	}
	return tr
}

// failTimes collects when calls failed; safe for concurrent use.
type failTimes struct {
	mu sync.Mutex
	at []time.Duration
}

func (f *failTimes) add(d time.Duration) {
	f.mu.Lock()
	f.at = append(f.at, d)
	f.mu.Unlock()
}

func (f *failTimes) list() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.at...)
}

// figure is the scenario's picture: one line per client (its first run), the
// server's admission curves dashed, 429s and failed calls marked.
func figure(sc Scenario, rows []Result) runplot.Figure {
	f := runplot.Figure{
		Title: sc.Name,
		Subtitle: fmt.Sprintf("%d calls, %d key%s, RPM %d%s, %d callers, latency %v; requests the server admitted (not refused with 429), each client's first run",
			sc.Requests, sc.Keys, plural(sc.Keys), sc.RPM, depthText(sc), sc.Concurrency, sc.Latency),
	}
	tokens := 0.0
	for _, r := range rows {
		if r.trace == nil {
			continue
		}
		s := runplot.Series{Name: r.Client, Admitted: r.trace.admitted}
		for _, t := range r.trace.refused {
			s.Marks = append(s.Marks, runplot.Mark{At: t, Kind: runplot.Refused})
		}
		for _, t := range r.trace.failed {
			s.Marks = append(s.Marks, runplot.Mark{At: t, Kind: runplot.Failed})
		}
		f.Series = append(f.Series, s)
		f.End = max(f.End, r.trace.end)
		if tokens == 0 {
			tokens = r.trace.tokensPerCall
		}
	}
	f.Curves = serverCurves(sc, max(f.End, time.Millisecond), tokens)
	return f
}

// depthText is the RPM bucket's depth for a subtitle.
func depthText(sc Scenario) string {
	switch {
	case sc.Rolling:
		return " (a minute's sliding window)"
	case sc.Burst == 0:
		return " (a minute deep)"
	}
	return fmt.Sprintf(", burst %d", sc.Burst)
}

// serverCurves are what the server's limits allow over all keys by each moment:
// the RPM bucket (or window); with another program on the RPM, what it leaves;
// with a TPM, the token bucket in calls of tokensPerCall tokens (the server's
// count in the run), and what another program on the TPM leaves of it.
func serverCurves(sc Scenario, end time.Duration, tokensPerCall float64) []runplot.Curve {
	k := float64(sc.Keys)
	depth := sc.Burst
	if depth == 0 {
		depth = sc.RPM
	}
	keys := fmt.Sprintf("%d keys × ", sc.Keys)
	if sc.Keys == 1 {
		keys = ""
	}
	var cs []runplot.Curve
	if sc.Rolling {
		cs = append(cs, runplot.Window(fmt.Sprintf("server: %sRPM %d a minute", keys, sc.RPM), k*float64(sc.RPM), time.Minute, end))
	} else {
		cs = append(cs, runplot.Bucket(fmt.Sprintf("server: %s(%d at once + RPM %d)", keys, depth, sc.RPM),
			k*float64(depth), k*float64(sc.RPM)/60, end))
	}
	if sc.OtherShare > 0 && !sc.tokenBound() && !sc.Rolling {
		cs = append(cs, runplot.Bucket(fmt.Sprintf("what the other program (%.0f %% of RPM) leaves", 100*sc.OtherShare),
			k*float64(depth-1), k*float64(sc.RPM)*(1-sc.OtherShare)/60, end))
	}
	if sc.TPM == 0 || tokensPerCall <= 0 {
		return cs
	}
	tdepth := float64(sc.TPM)
	if sc.TokenBurst > 0 {
		tdepth = float64(sc.TokenBurst)
	}
	cs = append(cs, runplot.Bucket(fmt.Sprintf("server: %sTPM %d ÷ %.0f tokens a call", keys, sc.TPM, tokensPerCall),
		k*tdepth/tokensPerCall, k*float64(sc.TPM)/60/tokensPerCall, end))
	if sc.tokenBound() {
		cs = append(cs, runplot.Bucket(fmt.Sprintf("what the other program (%.0f %% of TPM) leaves", 100*sc.OtherShare),
			k*(tdepth-float64(sc.OtherTokens))/tokensPerCall, k*float64(sc.TPM)*(1-sc.OtherShare)/60/tokensPerCall, end))
	}
	return cs
}

// writeFigure writes the scenario's SVG into dir (made if missing) as
// FILE.svg, and returns its path.
func writeFigure(dir string, sc Scenario, rows []Result) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("-svg: %w", err)
	}
	name := sc.File
	if name == "" {
		name = "custom"
	}
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ' ' || r == ',' {
			return '-'
		}
		return r
	}, name)
	var b bytes.Buffer
	if err := figure(sc, rows).WriteSVG(&b); err != nil {
		return "", fmt.Errorf("-svg: %s: %w", sc.Name, err)
	}
	path := filepath.Join(dir, name+".svg")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("-svg: %w", err)
	}
	return path, nil
}
