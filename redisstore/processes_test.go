package redisstore_test

import (
	"context"
	"strings"
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
	var all []callRecord
	for _, w := range startProcesses(t, srv, redisAddr, n, calls, rpm) {
		all = append(all, w.wait(t, 60*time.Second)...)
	}
	return all
}

// startProcesses starts n workers of calls each on one key, together.
func startProcesses(t *testing.T, srv *groqtest.Server, redisAddr string, n, calls, rpm int) []*worker {
	start := time.Now().Add(500 * time.Millisecond) // every process is up by then
	var ws []*worker
	for range n {
		ws = append(ws, startWorker(t, workerJob{Redis: redisAddr, BaseURL: srv.URL(), Key: "gsk_shared_key", Model: sharedModel,
			RPM: rpm, Calls: calls, Priority: 5, Concurrency: 8, StartAt: start}))
	}
	return ws
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

// TestUrgentCallsAcrossProcesses: one process keeps the key saturated with
// priority-10 calls; another sends priority-1 calls one at a time. Each urgent call
// waits about one refill interval (0.5 s at 120 a minute), not behind the backlog.
func TestUrgentCallsAcrossProcesses(t *testing.T) {
	rs := redistest.Start(t)
	const rpm = 120
	interval := time.Minute / rpm
	srv := groqShaped(t, rpm)
	start := time.Now().Add(500 * time.Millisecond)
	bulk := startWorker(t, workerJob{Redis: rs.Addr, BaseURL: srv.URL(), Key: "gsk_prio", Model: sharedModel, RPM: rpm,
		Calls: 140, Priority: 10, Concurrency: 8, StartAt: start})
	urgent := startWorker(t, workerJob{Redis: rs.Addr, BaseURL: srv.URL(), Key: "gsk_prio", Model: sharedModel, RPM: rpm,
		Calls: 5, Priority: 1, Concurrency: 1, StartAt: start.Add(2100 * time.Millisecond), Spacing: 1130 * time.Millisecond}) // out of phase with the refills
	urgentCalls := urgent.wait(t, 60*time.Second)
	bulkCalls := bulk.wait(t, 60*time.Second)
	require.Len(t, urgentCalls, 5)
	var worst time.Duration
	for _, r := range urgentCalls {
		require.Empty(t, r.Err)
		worst = max(worst, r.End.Sub(r.Start))
	}
	last := bulkCalls[0].End
	for _, r := range bulkCalls {
		require.Empty(t, r.Err)
		if r.End.After(last) {
			last = r.End
		}
	}
	for _, r := range urgentCalls {
		t.Logf("urgent call: waited %s", r.End.Sub(r.Start).Round(time.Millisecond))
	}
	t.Logf("urgent calls: worst wait %s (refill interval %s); the backlog ran until %s after the urgent calls began",
		worst.Round(time.Millisecond), interval, last.Sub(start.Add(2*time.Second)).Round(time.Millisecond))
	require.True(t, last.After(urgentCalls[len(urgentCalls)-1].End), "the backlog was still running when the last urgent call ended")
	assert.LessOrEqual(t, worst, 2*interval, "an urgent call waits about one refill interval, not behind the backlog")
	assert.Zero(t, srv.Stats().RateLimited)
}

// TestRedisKilledAndRestarted: Redis dies mid-run and comes back. Every call
// returns (a response, or a typed error), none hangs; each process logs the
// fallback and the return once; after the restart the quota is in Redis again.
func TestRedisKilledAndRestarted(t *testing.T) {
	rs := redistest.Start(t)
	const rpm = 600
	srv := groqShaped(t, rpm)
	start := time.Now().Add(500 * time.Millisecond)
	var ws []*worker
	for range 3 {
		ws = append(ws, startWorker(t, workerJob{Redis: rs.Addr, BaseURL: srv.URL(), Key: "gsk_fault", Model: sharedModel, RPM: rpm,
			Calls: 40, Priority: 5, Concurrency: 4, StartAt: start, Spacing: 100 * time.Millisecond, RetryDown: 200 * time.Millisecond}))
	}
	time.Sleep(time.Until(start.Add(time.Second)))
	rs.Stop()
	time.Sleep(1500 * time.Millisecond)
	rs.Restart()
	for _, w := range ws {
		recs := w.wait(t, 60*time.Second)
		require.Len(t, recs, 40, "every call returned")
		for _, r := range recs {
			if r.Err != "" {
				assert.NotEqual(t, "_OTHER", r.ErrType, "a typed error: %s", r.Err)
			}
		}
		logs := w.stderr.String()
		assert.Equal(t, 1, strings.Count(logs, "the quota store does not answer"), logs)
		assert.Contains(t, logs, "level=WARN")
		assert.Equal(t, 1, strings.Count(logs, "the quota store answers again"), logs)
		assert.NotContains(t, logs, "gsk_fault", "never a key in a log")
	}
	keys, err := rs.Client().Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	assert.NotEmpty(t, keys, "after the restart the processes share the quota in Redis again")
	st := srv.Stats()
	t.Logf("%d calls, %d succeeded, %d 429s at the server", st.Requests, st.Successes, st.RateLimited)
}

// TestOrganizationAcrossProcesses: two processes with two different keys of one
// declared organization share its quota.
func TestOrganizationAcrossProcesses(t *testing.T) {
	rs := redistest.Start(t)
	const rpm, calls = 240, 130
	srv := groqShaped(t, rpm, groqtest.WithOrganization("acme", "gsk_acme_1", "gsk_acme_2"))
	start := time.Now().Add(500 * time.Millisecond)
	var ws []*worker
	for _, key := range []string{"gsk_acme_1", "gsk_acme_2"} {
		ws = append(ws, startWorker(t, workerJob{Redis: rs.Addr, BaseURL: srv.URL(), Key: key, Org: "acme", Model: sharedModel,
			RPM: rpm, Calls: calls, Priority: 5, Concurrency: 8, StartAt: start}))
	}
	for _, w := range ws {
		for _, r := range w.wait(t, 60*time.Second) {
			require.Empty(t, r.Err)
		}
	}
	st := srv.Stats()
	assert.Zero(t, st.RateLimited, "one organization, one quota, shared")
	assert.Equal(t, 2*calls, st.Successes)
	minimum := time.Duration(float64(2*calls-rpm) / (float64(rpm) / 60) * float64(time.Second))
	got := makespan(srv)
	t.Logf("organization: makespan %s (minimum %s)", got.Round(time.Millisecond), minimum)
	assert.LessOrEqual(t, float64(got), 1.05*float64(minimum))
	keys, err := rs.Client().Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.Contains(t, keys[0], "org:acme", "the organization's name, never a key")
}

// TestMembersAreNotAnotherProgram: three processes share one key through Redis,
// against a server whose every answer says how many requests the day has left.
// Each process sees the day's count fall by the other processes' requests too;
// the store's count of its members' spending tells them apart from another
// program's, so no process leaves room for a program that does not exist. With
// the memory store alone, each takes the others for one (and says so).
func TestMembersAreNotAnotherProgram(t *testing.T) {
	rs := redistest.Start(t)
	const n, calls, rpm = 3, 45, 120
	run := func(redisAddr string) []string {
		srv := groqShaped(t, rpm, groqtest.WithModel(sharedModel, groqtest.Limits{RPM: rpm, RPD: 14_400}))
		var logs []string
		for _, w := range startProcesses(t, srv, redisAddr, n, calls, rpm) {
			for _, r := range w.wait(t, 60*time.Second) {
				require.Empty(t, r.Err)
			}
			logs = append(logs, w.stderr.String())
		}
		return logs
	}
	const seen = "another program spends this quota"
	for i, l := range run(rs.Addr) {
		assert.NotContains(t, l, seen, "process %d took the other members for another program:\n%s", i, l)
	}
	alone := 0
	for _, l := range run("") {
		if strings.Contains(l, seen) {
			alone++
		}
	}
	assert.Positive(t, alone, "without the store, the others are another program")
}
