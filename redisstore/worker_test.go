package redisstore_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/redisstore"
)

// A worker is this test binary started again as another process, with its job in
// the environment: it builds its own Client (with the Redis store, or without),
// sends its calls, and prints one JSON line per call on stdout. Its logs go to
// stderr.

const workerEnv = "REDISSTORE_WORKER"

type workerJob struct {
	Redis       string        // address; empty: the memory store alone
	BaseURL     string        // the groqtest server
	Key         string        // the API key
	Org         string        // declared organization of the key ("" none)
	Model       string        // the model
	RPM         int           // the client's limit for the model
	Calls       int           // how many
	Priority    int           // of every call
	Concurrency int           // calls in flight from this process
	StartAt     time.Time     // the common start, so that the processes begin together
	Spacing     time.Duration // between the starts of successive calls (0: all at once)
	Deadline    time.Duration // per call (0: none)
	RetryDown   time.Duration // the store's WithRetryDown
}

type callRecord struct {
	Start, End time.Time
	Err        string // "" on success
	ErrType    string
	Attempts   int
}

func TestMain(m *testing.M) {
	if job := os.Getenv(workerEnv); job != "" {
		os.Exit(runWorker(job))
	}
	goleak.VerifyTestMain(m) // no goroutine outlives a test: the clients' and the stores'
}

func runWorker(spec string) int {
	var job workerJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := []groq.Option{groq.WithBaseURL(job.BaseURL), groq.WithLogger(logger),
		groq.WithModelLimits(job.Model, groq.Limits{RPM: job.RPM}), groq.WithMaxConcurrency(job.Concurrency), groq.WithMaxRetries(8)}
	if job.Org != "" {
		opts = append(opts, groq.WithOrganization(job.Org, job.Key))
	} else {
		opts = append(opts, groq.WithAPIKeys(job.Key))
	}
	if job.Redis != "" {
		rdb := redis.NewClient(&redis.Options{Addr: job.Redis, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
		defer rdb.Close()
		sopts := []redisstore.Option{}
		if job.RetryDown > 0 {
			sopts = append(sopts, redisstore.WithRetryDown(job.RetryDown))
		}
		opts = append(opts, groq.WithQuotaStore(redisstore.New(rdb, sopts...)))
	}
	c, err := groq.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	defer c.Close()
	time.Sleep(time.Until(job.StartAt))
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for i := range job.Calls {
		if job.Spacing > 0 {
			time.Sleep(time.Until(job.StartAt.Add(time.Duration(i) * job.Spacing)))
		}
		wg.Go(func() {
			ctx := context.Background()
			if job.Deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, job.Deadline)
				defer cancel()
			}
			rec := callRecord{Start: time.Now()}
			resp, err := c.Chat(ctx, []groq.Message{groq.User(fmt.Sprintf("call %d of pid %d", i, os.Getpid()))},
				groq.WithModel(job.Model), groq.WithPriority(job.Priority), groq.WithMaxTokens(10))
			rec.End = time.Now()
			if err != nil {
				rec.Err, rec.ErrType = err.Error(), groq.ErrorType(err)
			} else {
				rec.Attempts = resp.Meta.Attempts
			}
			line, _ := json.Marshal(rec)
			mu.Lock()
			out.Write(append(line, '\n'))
			mu.Unlock()
		})
	}
	wg.Wait()
	out.Flush()
	return 0
}

// worker is a running worker process.
type worker struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

func startWorker(t *testing.T, job workerJob) *worker {
	t.Helper()
	spec, _ := json.Marshal(job)
	w := &worker{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	w.cmd.Env = append(os.Environ(), workerEnv+"="+string(spec))
	w.cmd.Stdout, w.cmd.Stderr = &w.stdout, &w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("starting a worker: %v", err)
	}
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Kill()
			w.cmd.Wait()
		}
	})
	return w
}

// wait waits for the worker (at most limit) and returns its calls.
func (w *worker) wait(t *testing.T, limit time.Duration) []callRecord {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker failed: %v\n%s", err, w.stderr.String())
		}
	case <-time.After(limit):
		w.cmd.Process.Kill()
		<-done
		t.Fatalf("worker did not finish within %s (a call hung?)\nstderr:\n%s", limit, w.stderr.String())
	}
	var recs []callRecord
	for _, line := range strings.Split(strings.TrimSpace(w.stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var r callRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("worker output %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}
