package groq_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/stretchr/testify/require"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func ioNopCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

// sim builds an in-memory simulator and a client wired to it. Call it inside a
// synctest bubble for time-dependent tests.
func sim(t *testing.T, sopts []groqtest.Option, copts ...groq.Option) (*groq.Client, *groqtest.Server) {
	t.Helper()
	srv := groqtest.NewUnstartedServer(sopts...)
	opts := append([]groq.Option{
		groq.WithAPIKeys("gsk_test_key_0"),
		groq.WithBaseURL(srv.URL()),
		groq.WithHTTPClient(srv.Client()),
	}, copts...)
	c, err := groq.NewClient(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, srv
}

func ptr[T any](v T) *T { return &v }

// pool sends n calls from callers goroutines, each taking the next call when its
// last one ends, and returns how long they took and the errors.
func pool(c *groq.Client, n, callers int, opts ...groq.CallOption) (time.Duration, []error) {
	return poolOf(c, n, callers, func(i int) string { return fmt.Sprintf("question %d", i) }, opts...)
}

// poolOf is pool with the i-th call's prompt given by prompt.
func poolOf(c *groq.Client, n, callers int, prompt func(i int) string, opts ...groq.CallOption) (time.Duration, []error) {
	start := time.Now()
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				_, errs[i] = c.Chat(context.Background(), []groq.Message{groq.User(prompt(i))}, opts...)
			}
		})
	}
	wg.Wait()
	return time.Since(start), errs
}

// refusals counts the server's 429s by key, and reports when the last came.
func refusals(srv *groqtest.Server) (map[string]int, time.Time) {
	per, last := map[string]int{}, time.Time{}
	for _, a := range srv.Arrivals() {
		if a.Status == http.StatusTooManyRequests {
			per[a.Key]++
			last = a.At
		}
	}
	return per, last
}

// bucketMinimum is the least time a token bucket of depth burst refilling rpm a
// minute needs to admit n requests.
func bucketMinimum(n, burst, rpm int) time.Duration {
	if n <= burst {
		return 0
	}
	return time.Duration(n-burst) * time.Minute / time.Duration(rpm)
}

// load sends n calls at once from n goroutines and returns how long they took and
// the errors.
func load(c *groq.Client, n int, opts ...groq.CallOption) (time.Duration, []error) {
	start := time.Now()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprintf("question %d", i))}, opts...)
		})
	}
	wg.Wait()
	return time.Since(start), errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	n := 0
	for _, err := range errs {
		if err != nil {
			if n < 3 {
				t.Errorf("call failed: %v", err)
			}
			n++
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d calls failed", n, len(errs))
	}
}

// minimum is the least time a token bucket of rpm (burst rpm) needs to serve n
// requests: the burst at once, then one every 60/rpm seconds.
func minimum(n, rpm int) time.Duration {
	if n <= rpm {
		return 0
	}
	return time.Duration(n-rpm) * time.Minute / time.Duration(rpm)
}

func drain(t *testing.T, st *groq.Stream) (n int) {
	t.Helper()
	for st.Next() {
		n++
	}
	return n
}

// fixtureServer streams the captured tool-call chunks of shared/fixtures.
func fixtureServer(t *testing.T) *groqtest.Server {
	f, err := os.ReadFile("testdata/tool-call.chunks.jsonl")
	require.NoError(t, err)
	return groqtest.NewUnstartedServer(groqtest.WithHandlerHook(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		w.Header().Set("Content-Type", "text/event-stream")
		sc := bufio.NewScanner(strings.NewReader(string(f)))
		for sc.Scan() {
			w.Write([]byte("data: " + sc.Text() + "\n\n"))
		}
		w.Write([]byte("data: [DONE]\n\n"))
		return true
	}))
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
