package groq

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// traceHeader and traceEvent are the lines of testdata/traces/*.jsonl, written by
// `go run ./internal/tracerec -o testdata/traces` against groqtest servers of the
// shapes GROQ_API.md lists, on loopback with real sockets.
type traceHeader struct {
	Shape   string  `json:"shape"`
	Limits  Limits  `json:"limits"`
	Foreign float64 `json:"foreign"`
	Burst   Limits  `json:"burst"`
}

type traceEvent struct {
	T       time.Duration     `json:"t"`
	Ev      string            `json:"ev"`
	ID      int64             `json:"id"`
	Status  int               `json:"status"`
	Tokens  int               `json:"tokens"`
	Headers map[string]string `json:"headers"`
}

func readTrace(t *testing.T, path string) (traceHeader, []traceEvent) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	require.True(t, sc.Scan(), "%s: empty", path)
	var h traceHeader
	require.NoError(t, json.Unmarshal(sc.Bytes(), &h))
	var evs []traceEvent
	for sc.Scan() {
		var e traceEvent
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		evs = append(evs, e)
	}
	require.NoError(t, sc.Err())
	return h, evs
}

// replay feeds a trace's sends and answers to one model's buckets, as the
// scheduler would (reserve at the send; reconcile, then read the headers, at the
// answer), and returns them. A request reserves what the server counted for it.
func replay(h traceHeader, evs []traceEvent) *modelBuckets {
	b := userBuckets(t0, h.Limits, DefaultPacingMargin)
	cost := map[int64]int{}
	for _, e := range evs {
		if e.Ev == "answer" {
			cost[e.ID] = max(e.Tokens, 1)
		}
	}
	sent := map[int64]sendLevels{}
	for _, e := range evs {
		now := t0.Add(e.T)
		switch e.Ev {
		case "send":
			sent[e.ID] = b.reserve(now, cost[e.ID])
		case "answer":
			s := sent[e.ID]
			ok := e.Status == http.StatusOK
			b.reconcile(now, s, cost[e.ID], cost[e.ID], ok)
			hdr := http.Header{}
			for k, v := range e.Headers {
				hdr.Set(k, v)
			}
			b.observe(now, parseRateLimitHeaders(hdr, now), !ok, s.at)
		}
	}
	return b
}

// TestReplayTraces: on every recorded server shape with nobody else on the key,
// the headers teach no phantom program (its estimate stays under the trace's share
// of each limit) and the depths the trace names.
func TestReplayTraces(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "traces", "*.jsonl"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no traces: go run ./internal/tracerec -o testdata/traces")
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			h, evs := readTrace(t, p)
			require.NotEmpty(t, evs)
			b := replay(h, evs)
			end := t0.Add(evs[len(evs)-1].T)
			snap := b.snapshot(end)
			t.Logf("%s: limits %+v, burst %+v, foreign %+v", h.Shape, snap.Limits, snap.Burst, snap.Foreign)
			if l := snap.Limits.RPM; l > 0 {
				assert.Less(t, snap.Foreign.RequestsPerMinute, h.Foreign*float64(l), "requests of a phantom program")
			}
			if l := snap.Limits.TPM; l > 0 {
				assert.Less(t, snap.Foreign.TokensPerMinute, h.Foreign*float64(l), "tokens of a phantom program")
			}
			if h.Burst.TPM > 0 {
				assert.InDelta(t, h.Burst.TPM, snap.Burst.TPM, 0.05*float64(h.Burst.TPM), "the token bucket's depth")
			}
		})
	}
}
