package groq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

func ptr[T any](v T) *T { return &v }

func TestCacheKey(t *testing.T) {
	base := func() *groq.ChatRequest {
		return &groq.ChatRequest{Model: "m", Messages: []groq.Message{groq.User("hi")}, Temperature: ptr(0.5),
			Tools: []groq.Tool{{Type: "function", Function: groq.ToolFunction{Name: "f", Parameters: json.RawMessage(`{"type": "object"}`)}}}}
	}
	const url = groq.DefaultBaseURL + "/chat/completions"
	key := func(r *groq.ChatRequest) string { return groq.CacheKey(url, r) }
	k := key(base())
	assert.Len(t, k, 64)
	assert.Equal(t, k, key(base()), "stable")
	assert.NotEqual(t, k, groq.CacheKey("http://groqtest.invalid/openai/v1/chat/completions", base()),
		"the same request to another server is another entry")

	same := base()
	same.Tools[0].Function.Parameters = json.RawMessage("{\n  \"type\":\"object\"\n}")
	same.User, same.ServiceTier, same.Stream = "someone", "flex", true
	assert.Equal(t, k, key(same), "white space in a schema, user, service tier and stream do not shape the answer")

	a, b := base(), base()
	a.MaxTokens, b.MaxCompletionTokens = ptr(10), ptr(10)
	assert.Equal(t, key(a), key(b), "max_tokens and max_completion_tokens are one")

	for name, change := range map[string]func(r *groq.ChatRequest){
		"model":       func(r *groq.ChatRequest) { r.Model = "other" },
		"message":     func(r *groq.ChatRequest) { r.Messages[0].Content = "hello" },
		"role":        func(r *groq.ChatRequest) { r.Messages[0].Role = groq.RoleSystem },
		"temperature": func(r *groq.ChatRequest) { r.Temperature = ptr(0.7) },
		"seed":        func(r *groq.ChatRequest) { r.Seed = ptr[int64](1) },
		"tool":        func(r *groq.ChatRequest) { r.Tools[0].Function.Name = "g" },
		"format":      func(r *groq.ChatRequest) { r.ResponseFormat = &groq.ResponseFormat{Type: "json_object"} },
		"stop":        func(r *groq.ChatRequest) { r.Stop = groq.StopSequences{"x"} },
		"max tokens":  func(r *groq.ChatRequest) { r.MaxCompletionTokens = ptr(5) },
	} {
		r := base()
		change(r)
		assert.NotEqual(t, k, key(r), name)
	}
}

func TestCacheHitSkipsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cache := groq.NewMemoryCache(time.Hour, 0)
		c, srv := sim(t, nil, groq.WithCache(cache))
		first, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.False(t, first.Meta.FromCache)
		start := time.Now()
		again, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.True(t, again.Meta.FromCache)
		assert.Equal(t, 0, again.Meta.Attempts)
		assert.Equal(t, first.Text(), again.Text())
		assert.Equal(t, time.Duration(0), time.Since(start))
		assert.Equal(t, 1, srv.Stats().Requests)

		again.Choices[0].Message.Content = "changed by the caller"
		third, _ := c.Chat(context.Background(), hello)
		assert.Equal(t, first.Text(), third.Text(), "a hit is a copy")

		_, err = c.Chat(context.Background(), hello, groq.WithoutCache())
		require.NoError(t, err)
		assert.Equal(t, 2, srv.Stats().Requests, "WithoutCache goes to the network")

		time.Sleep(time.Hour)
		res, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.False(t, res.Meta.FromCache, "never returned after its TTL")
		assert.Equal(t, 3, srv.Stats().Requests)
	})
}

func TestCacheStoresOnlySuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cache := groq.NewMemoryCache(time.Hour, 0)
		c, srv := sim(t, nil, groq.WithCache(cache), groq.WithMaxRetries(0))
		srv.Script(groqtest.Fault{Kind: groqtest.FaultStatus, Status: 400})
		_, err := c.Chat(context.Background(), hello)
		require.Error(t, err)
		assert.Equal(t, 0, cache.Len())
		srv.Script(groqtest.Fault{Kind: groqtest.FaultStreamCut})
		_, err = c.Chat(context.Background(), hello)
		require.Error(t, err)
		assert.Equal(t, 0, cache.Len(), "a cut answer is not stored")
		_, err = c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, 1, cache.Len())
	})
}

func TestMemoryCacheLRU(t *testing.T) {
	ctx := context.Background()
	m := groq.NewMemoryCache(time.Hour, 2)
	r := &groq.ChatResponse{Choices: []groq.Choice{{Message: groq.Assistant("x")}}}
	m.Set(ctx, "a", r)
	m.Set(ctx, "b", r)
	_, ok := m.Get(ctx, "a") // a is now the most recently used
	require.True(t, ok)
	m.Set(ctx, "c", r)
	_, okA := m.Get(ctx, "a")
	_, okB := m.Get(ctx, "b")
	assert.True(t, okA)
	assert.False(t, okB, "the least recently used entry went first")
	assert.Equal(t, 2, m.Len())
	require.NoError(t, m.Delete(ctx, "a"))
	_, okA = m.Get(ctx, "a")
	assert.False(t, okA)
}

func TestInflightDedup(t *testing.T) {
	for name, opt := range map[string]groq.Option{
		"with a cache":    groq.WithCache(groq.NewMemoryCache(time.Hour, 0)),
		"dedup, no cache": groq.WithInflightDedup(),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, srv := sim(t, []groqtest.Option{groqtest.WithLatency(time.Second, 0)}, opt)
				var wg sync.WaitGroup
				texts := make([]string, 50)
				shared := 0
				var mu sync.Mutex
				for i := range 50 {
					wg.Go(func() {
						resp, err := c.Chat(context.Background(), hello)
						require.NoError(t, err)
						texts[i] = resp.Text()
						mu.Lock()
						if resp.Meta.Shared {
							shared++
						}
						mu.Unlock()
					})
				}
				wg.Wait()
				assert.Equal(t, 1, srv.Stats().Requests, "50 identical calls share one request")
				assert.Equal(t, 49, shared)
				for _, s := range texts {
					assert.Equal(t, texts[0], s)
				}
			})
		})
	}
}

func TestFileCacheSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cache.json")
		srv := groqtest.NewUnstartedServer()
		mk := func() *groq.Client {
			c, err := groq.NewClient(groq.WithAPIKeys("gsk_secret_key_in_file_test"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
				groq.WithCacheFile(path, time.Hour))
			require.NoError(t, err)
			return c
		}
		c := mk()
		first, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		require.NoError(t, c.Close())

		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "readable by its owner only")
		data, _ := os.ReadFile(path)
		assert.NotContains(t, string(data), "gsk_secret_key_in_file_test", "never the API key")
		assert.Contains(t, string(data), "Simulated answer to", first.Text())

		c = mk()
		again, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.True(t, again.Meta.FromCache)
		assert.Equal(t, 1, srv.Stats().Requests)
		require.NoError(t, c.Close())

		// After the TTL, a restart drops the entry on load.
		time.Sleep(time.Hour)
		c = mk()
		res, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.False(t, res.Meta.FromCache)
		c.Close()
	})
}

func TestCacheFileBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	srv := groqtest.NewUnstartedServer()
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithCacheFile(path, time.Hour), groq.WithCacheMaxEntries(3))
	require.NoError(t, err)
	for i := range 5 {
		_, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	require.NoError(t, c.Close())
	fc, err := groq.OpenFileCache(path, time.Hour, 0, nil)
	require.NoError(t, err)
	defer fc.Close()
	assert.Equal(t, 3, fc.Len(), "the least recently used entries were evicted")
	_, err = groq.NewClient(groq.WithAPIKeys("k"), groq.WithCacheMaxEntries(-1))
	assert.Error(t, err)
}

func TestFileCacheExpiredDroppedOnLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.json")
		fc, err := groq.OpenFileCache(path, time.Minute, 0, nil)
		require.NoError(t, err)
		ctx := context.Background()
		fc.Set(ctx, "old", &groq.ChatResponse{Model: "m"})
		time.Sleep(50 * time.Second)
		fc.Set(ctx, "new", &groq.ChatResponse{Model: "m"})
		require.NoError(t, fc.Close())
		time.Sleep(20 * time.Second)
		fc, err = groq.OpenFileCache(path, time.Minute, 0, nil)
		require.NoError(t, err)
		defer fc.Close()
		assert.Equal(t, 1, fc.Len(), "the expired entry was dropped when the file was loaded")
		_, ok := fc.Get(ctx, "new")
		assert.True(t, ok)
	})
}

func TestFileCacheCorruptFileMovedAside(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":   "this is not json",
		"truncated": `{"version":1,"entries":[{"key":"a","created":"2026-01-01T00:00:00Z","expi`,
		"version":   `{"version":99,"entries":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "cache.json")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			var logs bytes.Buffer
			fc, err := groq.OpenFileCache(path, time.Hour, 0, slog.New(slog.NewTextHandler(&logs, nil)))
			require.NoError(t, err)
			assert.Equal(t, 0, fc.Len())
			assert.Contains(t, logs.String(), "corrupt")
			aside, _ := filepath.Glob(path + ".corrupt-*")
			require.Len(t, aside, 1, "the corrupt file is kept")
			kept, _ := os.ReadFile(aside[0])
			assert.Equal(t, content, string(kept))
			// The cache works.
			require.NoError(t, fc.Set(context.Background(), "k", &groq.ChatResponse{Model: "m"}))
			require.NoError(t, fc.Close())
			fc2, _ := groq.OpenFileCache(path, time.Hour, 0, nil)
			assert.Equal(t, 1, fc2.Len())
			fc2.Close()
		})
	}
}

func TestFileCacheUnwritable(t *testing.T) {
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(notADir, nil, 0o600))
	var logs bytes.Buffer
	srv := groqtest.NewUnstartedServer()
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithCacheFile(filepath.Join(notADir, "cache.json"), time.Hour), groq.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	for range 2 {
		_, err = c.Chat(context.Background(), hello)
		require.NoError(t, err, "Chat works when the cache file cannot be written")
	}
	assert.Equal(t, 1, srv.Stats().Requests, "the cache still works in memory")
	c.Close()
	assert.Contains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), "cache file not written")
}

func TestFileCacheDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("this test needs /dev/full to simulate a full disk: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.json")
	require.NoError(t, os.Symlink("/dev/full", path+".journal"))
	var logs bytes.Buffer
	srv := groqtest.NewUnstartedServer()
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithCacheFile(path, time.Hour), groq.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	_, err = c.Chat(context.Background(), hello)
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "no space left on device")
	c.Close()
}

// TestFileCacheSeveralProcesses runs three more processes (this test binary) that
// write to the same file while this one does, each folding the journal now and then
// and looking up keys it does not have (which reads the others' lines), and checks
// that no entry is lost and no line is misread.
func TestFileCacheSeveralProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.json")
	const n, children = 300, 3
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCacheWriter$")
		cmd.Env = append(os.Environ(), "GROQ_CACHE_HELPER="+path, fmt.Sprintf("GROQ_CACHE_HELPER_N=%d", n),
			fmt.Sprintf("GROQ_CACHE_HELPER_WHO=child%d", i))
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	writeEntries(t, path, "parent", n)
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "helper %d: %s", i, outs[i].String())
		assert.NotContains(t, outs[i].String(), "unreadable", "helper %d misread the journal", i)
	}

	fc, err := groq.OpenFileCache(path, time.Hour, 0, nil)
	require.NoError(t, err)
	defer fc.Close()
	ctx := context.Background()
	lost := 0
	for _, who := range []string{"parent", "child0", "child1", "child2"} {
		for i := range n {
			if _, ok := fc.Get(ctx, fmt.Sprintf("%s-%d", who, i)); !ok {
				lost++
			}
		}
	}
	assert.Equal(t, 0, lost, "entries lost")
	assert.Equal(t, (children+1)*n, fc.Len())
}

// writeEntries writes n entries as who, folds the journal every 100, and after
// each write looks up a key nobody writes, so that it reads what the other
// processes appended. Warnings go to stderr.
func writeEntries(t *testing.T, path, who string, n int) {
	fc, err := groq.OpenFileCache(path, time.Hour, 0, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	require.NoError(t, err)
	ctx := context.Background()
	for i := range n {
		require.NoError(t, fc.Set(ctx, fmt.Sprintf("%s-%d", who, i), &groq.ChatResponse{Model: who, Choices: []groq.Choice{{Message: groq.Assistant(strings.Repeat("x", 200))}}}))
		fc.Get(ctx, "nobody-"+who)
		if i%100 == 50 {
			require.NoError(t, fc.Flush()) // fold the journal while the others append
		}
	}
	require.NoError(t, fc.Close())
}

func TestHelperCacheWriter(t *testing.T) {
	path := os.Getenv("GROQ_CACHE_HELPER")
	if path == "" {
		t.Skip("runs only as a child process of TestFileCacheSeveralProcesses")
	}
	var n int
	fmt.Sscan(os.Getenv("GROQ_CACHE_HELPER_N"), &n)
	writeEntries(t, path, os.Getenv("GROQ_CACHE_HELPER_WHO"), n)
}

func TestStreamAndCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil, groq.WithCache(groq.NewMemoryCache(time.Hour, 0)))
		st, err := c.ChatStream(context.Background(), hello)
		require.NoError(t, err)
		drain(t, st)
		require.NoError(t, st.Err())
		text := st.Text()
		st.Close()

		replay, err := c.ChatStream(context.Background(), hello)
		require.NoError(t, err)
		n := drain(t, replay)
		require.NoError(t, replay.Err())
		assert.GreaterOrEqual(t, n, 2)
		assert.Equal(t, text, replay.Text(), "a cached response replays as a stream")
		assert.True(t, replay.Meta.FromCache)
		assert.NotNil(t, replay.Usage())

		resp, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.True(t, resp.Meta.FromCache, "a complete stream was stored as a response")
		assert.Equal(t, text, resp.Text())
		assert.Equal(t, 1, srv.Stats().Requests)
	})
}

func TestBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The bubble starts at midnight UTC, 2000-01-01.
		c, srv := sim(t, nil, groq.WithDailyTokenBudget(200), groq.WithCompletionReserve(20))
		ctx := context.Background()
		calls := 0
		var err error
		for ; calls < 100; calls++ {
			if _, err = c.Chat(ctx, hello); err != nil {
				break
			}
		}
		require.ErrorIs(t, err, groq.ErrBudgetExceeded)
		var be *groq.BudgetError
		require.True(t, errors.As(err, &be))
		assert.Equal(t, int64(200), be.Limit)
		assert.Greater(t, be.Used+be.Requested, int64(200))
		assert.True(t, be.ResetAt.Equal(time.Now().Add(24*time.Hour).Truncate(24*time.Hour)), "reset at %v", be.ResetAt)
		assert.Equal(t, calls, srv.Stats().Requests, "refused before any network call")

		b := c.Budget()
		assert.Equal(t, be.Used, b.Used)
		assert.Equal(t, int64(200)-b.Used, b.Remaining)
		assert.Equal(t, int64(0), b.Reserved)

		time.Sleep(time.Until(b.ResetAt))
		_, err = c.Chat(ctx, hello)
		require.NoError(t, err, "the budget resets at midnight UTC")
		assert.Less(t, c.Budget().Used, b.Used)
	})
}

func TestBudgetZoneAndPersistence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "budget.json")
		zone := time.FixedZone("UTC+10", 10*3600)
		srv := groqtest.NewUnstartedServer()
		mk := func() *groq.Client {
			c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
				groq.WithDailyTokenBudget(10000), groq.WithBudgetZone(zone), groq.WithBudgetFile(path))
			require.NoError(t, err)
			return c
		}
		c := mk()
		resp, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, int64(resp.Usage.TotalTokens), c.Budget().Used)
		reset := c.Budget().ResetAt
		assert.Equal(t, 0, reset.In(zone).Hour(), "midnight in the budget's zone")
		assert.Equal(t, 14*time.Hour, time.Until(reset), "the bubble's midnight UTC is 10:00 in UTC+10")
		c.Close()

		c = mk()
		assert.Equal(t, int64(resp.Usage.TotalTokens), c.Budget().Used, "the budget survives a restart")
		c.Close()
	})
}

func TestBudgetBesideTheCacheFile(t *testing.T) {
	dir := t.TempDir()
	srv := groqtest.NewUnstartedServer()
	mk := func() *groq.Client {
		c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDailyTokenBudget(10000), groq.WithCacheFile(filepath.Join(dir, "c.json"), time.Hour))
		require.NoError(t, err)
		return c
	}
	c := mk()
	_, err := c.Chat(context.Background(), hello)
	require.NoError(t, err)
	used := c.Budget().Used
	require.Greater(t, used, int64(0))
	c.Close()
	_, err = os.Stat(filepath.Join(dir, "c.json.budget"))
	require.NoError(t, err)
	c = mk()
	defer c.Close()
	assert.Equal(t, used, c.Budget().Used)
}

func TestContextWindow(t *testing.T) {
	c, srv := sim(t, nil, groq.WithModelLimits("small", groq.Limits{ContextWindow: 100}))
	_, err := c.Chat(context.Background(), []groq.Message{groq.User(strings.Repeat("word ", 200))}, groq.WithModel("small"))
	require.ErrorIs(t, err, groq.ErrContextWindowExceeded)
	var cw *groq.ContextWindowError
	require.True(t, errors.As(err, &cw))
	assert.Equal(t, 100, cw.ContextWindow)
	assert.Greater(t, cw.PromptTokens, 100)
	assert.Contains(t, err.Error(), "context window of 100")
	_, err = c.Chat(context.Background(), hello, groq.WithModel("small"), groq.WithMaxTokens(99))
	require.ErrorIs(t, err, groq.ErrContextWindowExceeded, "the requested completion counts")
	assert.Equal(t, 0, srv.Stats().Requests)
}

func TestTokenizerIsPluggable(t *testing.T) {
	calls := 0
	tok := groq.TokenizerFunc(func(model string, msgs []groq.Message) int { calls++; return 5000 })
	c, srv := sim(t, nil, groq.WithTokenizer(tok), groq.WithModelLimits("m", groq.Limits{TPM: 4000}))
	assert.Equal(t, 5000, c.CountTokens("m", hello))
	_, err := c.Chat(context.Background(), hello, groq.WithModel("m"))
	require.ErrorIs(t, err, groq.ErrRequestTooLarge, "the plugged tokenizer's count is what is reserved")
	assert.Equal(t, 2, calls)
	assert.Equal(t, 0, srv.Stats().Requests)

	d, _ := sim(t, nil)
	assert.Greater(t, d.CountTokens("", []groq.Message{groq.User("What is red teaming?")}), 8)
}

// TestCacheHitAllocatesOnlyTheCopy: a hit through Chat allocates exactly what the
// cache's own copy of the response does.
func TestCacheHitAllocatesOnlyTheCopy(t *testing.T) {
	cache := groq.NewMemoryCache(time.Hour, 0)
	c, srv := sim(t, nil, groq.WithCache(cache))
	ctx := context.Background()
	_, err := c.Chat(ctx, hello)
	require.NoError(t, err)
	key := groq.CacheKey(srv.URL()+"/chat/completions", &groq.ChatRequest{Model: groq.DefaultModel, Messages: hello})
	copyAllocs := testing.AllocsPerRun(100, func() { cache.Get(ctx, key) })
	hitAllocs := testing.AllocsPerRun(100, func() {
		if resp, _ := c.Chat(ctx, hello); !resp.Meta.FromCache {
			t.Fatal("not a hit")
		}
	})
	assert.Greater(t, copyAllocs, 0.0)
	assert.Equal(t, copyAllocs, hitAllocs, "a hit allocates only the response copy")
}

// FuzzFileCacheLoad: whatever the snapshot and journal hold, opening the cache
// neither panics nor hangs, and what it serves decodes.
func FuzzFileCacheLoad(f *testing.F) {
	good, _ := json.Marshal(map[string]any{"version": 1, "generation": 3, "entries": []map[string]any{
		{"key": "k1", "created": "2026-01-01T00:00:00Z", "expires": "2999-01-01T00:00:00Z", "response": map[string]any{"id": "x", "choices": []any{}}},
	}})
	f.Add(good, []byte(`{"op":"gen","gen":3}`+"\n"+`{"op":"set","key":"k2","created":"2026-01-01T00:00:00Z","expires":"2999-01-01T00:00:00Z","response":{"id":"y"}}`+"\n"))
	f.Add([]byte(`{"version":2}`), []byte(`{"op":"del","key":"k1"}`+"\n"+`{"op":"gen"`))
	f.Add([]byte{}, []byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, snapshot, journal []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "c.json")
		if len(snapshot) > 0 {
			require.NoError(t, os.WriteFile(path, snapshot, 0o600))
		}
		require.NoError(t, os.WriteFile(path+".journal", journal, 0o600))
		fc, err := groq.OpenFileCache(path, time.Hour, 100, nil)
		require.NoError(t, err)
		for _, k := range []string{"k1", "k2", ""} {
			if resp, ok := fc.Get(context.Background(), k); ok && resp == nil {
				t.Fatalf("Get(%q) = nil, true", k)
			}
		}
		require.NoError(t, fc.Set(context.Background(), "k3", &groq.ChatResponse{ID: "z"}))
		fc.Close()
	})
}
