package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/retry"
)

// selfTest checks the whole pipeline offline against the built-in simulator and
// prints one line per check. It returns exitOK when all pass.
func selfTest(w io.Writer) int {
	checks := []struct {
		name string
		run  func() error
	}{
		{"Retry-After in seconds", checkRetryAfterSeconds},
		{"Retry-After as an HTTP date", checkRetryAfterDate},
		{"backoff jitter stays within its bounds", checkBackoff},
		{"cache write and read (file, across a restart)", checkCache},
		{"token-bucket admission (RPM 2: the third call is refused locally)", checkAdmission},
		{"prompt precedence (argument > file > stdin > default)", checkPrecedence},
		{"a 429 is obeyed (the retry waits the server's 300ms)", check429},
		{"priority order (the urgent call overtakes the queued one)", checkPriority},
		{"streaming assembles the answer", checkStream},
	}
	failed := 0
	for _, c := range checks {
		start := time.Now()
		err := c.run()
		if err != nil {
			failed++
			fmt.Fprintf(w, "FAIL  %s: %v\n", c.name, err)
			continue
		}
		fmt.Fprintf(w, "ok    %s (%s)\n", c.name, time.Since(start).Round(time.Millisecond))
	}
	if failed > 0 {
		fmt.Fprintf(w, "self-test: %d of %d checks failed\n", failed, len(checks))
		return exitAPI
	}
	fmt.Fprintf(w, "self-test: all %d checks passed\n", len(checks))
	return exitOK
}

func expect[T comparable](what string, got, want T) error {
	if got != want {
		return fmt.Errorf("%s = %v; want %v", what, got, want)
	}
	return nil
}

func checkRetryAfterSeconds() error {
	h := http.Header{"Retry-After": {"20"}}
	d, ok := retry.ServerWait(h, 429, "", time.Now())
	if !ok {
		return errors.New("not parsed")
	}
	return expect("wait", d, 20*time.Second)
}

func checkRetryAfterDate() error {
	now := time.Now().Truncate(time.Second)
	h := http.Header{"Retry-After": {now.Add(90 * time.Second).UTC().Format(http.TimeFormat)}}
	d, ok := retry.ServerWait(h, 503, "", now)
	if !ok {
		return errors.New("not parsed")
	}
	return expect("wait", d, 90*time.Second)
}

func checkBackoff() error {
	base, maxD := 500*time.Millisecond, 30*time.Second
	prev := time.Duration(0)
	seen := map[time.Duration]bool{}
	for i := 0; i < 10000; i++ {
		d := retry.Next(prev, base, maxD)
		hi := min(maxD, 3*max(prev, base))
		if d < base || d > hi {
			return fmt.Errorf("draw %d after %v = %v, outside [%v, %v]", i, prev, d, base, hi)
		}
		seen[d] = true
		prev = d
	}
	if len(seen) < 1000 {
		return fmt.Errorf("only %d distinct sleeps in 10000 draws: no jitter", len(seen))
	}
	return nil
}

// sim returns a client wired to a fresh in-memory simulator.
func sim(sopts []groqtest.Option, copts ...groq.Option) (*groq.Client, *groqtest.Server, error) {
	srv := groqtest.NewUnstartedServer(sopts...)
	opts := append([]groq.Option{groq.WithAPIKeys("gsk_selftest"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client())}, copts...)
	c, err := groq.NewClient(opts...)
	return c, srv, err
}

var hi = []groq.Message{groq.User("self-test")}

func checkCache() error {
	dir, err := os.MkdirTemp("", "groq-selftest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "cache.json")
	c, srv, err := sim(nil, groq.WithCacheFile(path, time.Hour))
	if err != nil {
		return err
	}
	first, err := c.Chat(context.Background(), hi)
	if err != nil {
		return err
	}
	c.Close()
	c2, err := groq.NewClient(groq.WithAPIKeys("gsk_selftest"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()), groq.WithCacheFile(path, time.Hour))
	if err != nil {
		return err
	}
	defer c2.Close()
	again, err := c2.Chat(context.Background(), hi)
	if err != nil {
		return err
	}
	if !again.Meta.FromCache || again.Text() != first.Text() {
		return errors.New("the second answer did not come from the cache file")
	}
	return expect("server requests", srv.Stats().Requests, 1)
}

func checkAdmission() error {
	c, srv, err := sim([]groqtest.Option{groqtest.WithModel("m", groqtest.Limits{RPM: 2})},
		groq.WithDefaultModel("m"), groq.WithModelLimits("m", groq.Limits{RPM: 2}))
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; i < 2; i++ {
		if _, err := c.Chat(context.Background(), hi, groq.WithoutCache()); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.Chat(ctx, hi)
	var rl *groq.RateLimitError
	if !errors.As(err, &rl) || !rl.Local {
		return fmt.Errorf("third call = %v; want a local rate-limit refusal", err)
	}
	if waited := time.Since(start); waited > 100*time.Millisecond {
		return fmt.Errorf("the refusal took %v; want at once", waited)
	}
	if rl.RetryAfter < 29*time.Second || rl.RetryAfter > 30*time.Second {
		return fmt.Errorf("capacity in %v; want about 30s at 2 RPM", rl.RetryAfter)
	}
	return expect("server requests", srv.Stats().Requests, 2)
}

func checkPrecedence() error {
	dir, err := os.MkdirTemp("", "groq-selftest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "prompt.txt")
	if err := os.WriteFile(file, []byte("from file"), 0o600); err != nil {
		return err
	}
	cases := []struct {
		o           options
		args        []string
		stdin, want string
	}{
		{options{promptFile: file, stdin: true, defaultPrompt: "default"}, []string{"from", "args"}, "from stdin", "from args"},
		{options{promptFile: file, stdin: true, defaultPrompt: "default"}, nil, "from stdin", "from file"},
		{options{stdin: true, defaultPrompt: "default"}, nil, "from stdin", "from stdin"},
		{options{defaultPrompt: "default"}, nil, "from a pipe", "from a pipe"}, // standard input that is not a terminal
		{options{defaultPrompt: "default"}, nil, "", "default"},
	}
	for i, tc := range cases {
		got, err := readPrompt(&tc.o, tc.args, strings.NewReader(tc.stdin))
		if err != nil {
			return fmt.Errorf("case %d: %v", i, err)
		}
		if err := expect(fmt.Sprintf("case %d", i), got, tc.want); err != nil {
			return err
		}
	}
	if _, err := readPrompt(&options{}, nil, strings.NewReader("")); !errors.Is(err, errNoInput) {
		return fmt.Errorf("no input gave %v", err)
	}
	return nil
}

func check429() error {
	c, srv, err := sim(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "0.3"})
	resp, err := c.Chat(context.Background(), hi)
	if err != nil {
		return err
	}
	arr := srv.Arrivals()
	if len(arr) != 2 {
		return fmt.Errorf("%d requests; want 2 (the 429, then the retry)", len(arr))
	}
	if gap := arr[1].At.Sub(arr[0].At); gap < 300*time.Millisecond {
		return fmt.Errorf("the retry went out after %v; the server asked for 300ms", gap)
	}
	return expect("attempts", resp.Meta.Attempts, 2)
}

func checkPriority() error {
	c, srv, err := sim([]groqtest.Option{groqtest.WithModel("m", groqtest.Limits{}), groqtest.WithLatency(150*time.Millisecond, 0)},
		groq.WithDefaultModel("m"), groq.WithRPM(0), groq.WithMaxConcurrency(1))
	if err != nil {
		return err
	}
	defer c.Close()
	var wg sync.WaitGroup
	call := func(text string, p int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Chat(context.Background(), []groq.Message{groq.User(text)}, groq.WithPriority(p))
		}()
	}
	call("holds the slot", 5)
	waitFor(func() bool { return c.RateLimits("m").InFlight == 1 })
	call("low", 9)
	waitFor(func() bool { return c.RateLimits("m").Queued[9] == 1 })
	call("urgent", 1)
	waitFor(func() bool { return c.RateLimits("m").Queued[1] == 1 })
	wg.Wait()
	var order []string
	for _, a := range srv.Arrivals() {
		order = append(order, a.Prompt)
	}
	return expect("order", strings.Join(order, ", "), "holds the slot, urgent, low")
}

func waitFor(cond func() bool) {
	for deadline := time.Now().Add(2 * time.Second); !cond() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

func checkStream() error {
	c, _, err := sim(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	want, err := c.Chat(context.Background(), hi)
	if err != nil {
		return err
	}
	st, err := c.ChatStream(context.Background(), hi)
	if err != nil {
		return err
	}
	defer st.Close()
	n := 0
	for st.Next() {
		n++
	}
	if err := st.Err(); err != nil {
		return err
	}
	if n < 3 {
		return fmt.Errorf("%d chunks; want several", n)
	}
	return expect("streamed text", st.Text(), want.Text())
}
