package redisstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/redisstore/internal/redistest"
)

const sharedModel = "shared-model"

// groqShaped is a loopback groqtest with Groq's bucket shape (a minute's
// capacity) for sharedModel at rpm, and a little latency.
func groqShaped(t *testing.T, rpm int, opts ...groqtest.Option) *groqtest.Server {
	srv := groqtest.NewServer(append([]groqtest.Option{groqtest.WithModel(sharedModel, groqtest.Limits{RPM: rpm}),
		groqtest.WithLatency(10*time.Millisecond, 10*time.Millisecond)}, opts...)...)
	t.Cleanup(srv.Close)
	return srv
}

// makespan is from the server's first arrival to its last.
func makespan(srv *groqtest.Server) time.Duration {
	a := srv.Arrivals()
	if len(a) == 0 {
		return 0
	}
	first, last := a[0].At, a[0].At
	for _, x := range a {
		if x.At.Before(first) {
			first = x.At
		}
		if x.At.After(last) {
			last = x.At
		}
	}
	return last.Sub(first)
}

// runProcesses runs n workers of calls each on one key and waits for them.
func runProcesses(t *testing.T, srv *groqtest.Server, redisAddr string, n, calls, rpm int) []callRecord {
	start := time.Now().Add(500 * time.Millisecond) // every process is up by then
	var ws []*worker
	for range n {
		ws = append(ws, startWorker(t, workerJob{Redis: redisAddr, BaseURL: srv.URL(), Key: "gsk_shared_key", Model: sharedModel,
			RPM: rpm, Calls: calls, Priority: 5, Concurrency: 8, StartAt: start}))
	}
	var all []callRecord
	for _, w := range ws {
		all = append(all, w.wait(t, 60*time.Second)...)
	}
	return all
}

// TestThreeProcessesShareOneKey is the run: three processes, each with its
// own Client, 45 calls each on one key of 120 requests a minute, against a
// Groq-shaped server. With the Redis store: no 429, every call answered, and the
// makespan within 5 % of the key's minimum. With the memory store alone, the same
// run draws 429s.
func TestThreeProcessesShareOneKey(t *testing.T) {
	rs := redistest.Start(t)
	const n, calls, rpm = 3, 45, 120
	minimum := time.Duration(float64(n*calls-rpm) / (float64(rpm) / 60) * float64(time.Second))

	srv := groqShaped(t, rpm)
	recs := runProcesses(t, srv, rs.Addr, n, calls, rpm)
	require.Len(t, recs, n*calls)
	for _, r := range recs {
		require.Empty(t, r.Err)
	}
	st := srv.Stats()
	assert.Zero(t, st.RateLimited, "no 429 with the shared store")
	assert.Equal(t, n*calls, st.Successes)
	got := makespan(srv)
	t.Logf("Redis store: %d calls from %d processes, %d 429s, makespan %s (minimum %s, ratio %.3f)", n*calls, n, st.RateLimited, got.Round(time.Millisecond), minimum, float64(got)/float64(minimum))
	assert.LessOrEqual(t, float64(got), 1.05*float64(minimum), "makespan %s is more than 1.05 × %s", got, minimum)
	assert.GreaterOrEqual(t, float64(got), 0.98*float64(minimum), "faster than the key allows: the server must have refused some")

	mem := groqShaped(t, rpm)
	runProcesses(t, mem, "", n, calls, rpm)
	ms := mem.Stats()
	t.Logf("memory store: %d 429s, makespan %s", ms.RateLimited, makespan(mem).Round(time.Millisecond))
	assert.Positive(t, ms.RateLimited, "without the shared store the processes overrun the key (the test can fail)")
}
