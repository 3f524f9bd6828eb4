package groq_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

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

func TestMemoryCacheBadInput(t *testing.T) {
	m := groq.NewMemoryCache(0, 0)
	err := m.Set(context.Background(), "k", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nil response")
	assert.PanicsWithValue(t, "groq: NewMemoryCache: negative TTL -1s", func() { groq.NewMemoryCache(-time.Second, 0) })
	assert.PanicsWithValue(t, "groq: NewMemoryCache: negative maxEntries -1", func() { groq.NewMemoryCache(time.Hour, -1) })
}

// TestCacheScopeSeparatesCallers: a call with another WithCacheScope misses the
// cache; one with the same scope hits it.
func TestCacheScopeSeparatesCallers(t *testing.T) {
	srv := groqtest.NewServer()
	defer srv.Close()
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_scope"), groq.WithBaseURL(srv.URL()), groq.WithCache(groq.NewMemoryCache(time.Hour, 100)))
	require.NoError(t, err)
	defer c.Close()
	for _, scope := range []string{"a", "b", "a", ""} {
		_, err := c.Chat(context.Background(), hello, groq.WithCacheScope(scope))
		require.NoError(t, err, scope)
	}
	assert.Equal(t, 3, srv.Stats().Requests, "a, b and the shared scope each sent once")
}

// TestBodyIsTheServersBytes: a fresh answer's Body is the server's JSON as sent;
// an answer from the cache has none.
func TestBodyIsTheServersBytes(t *testing.T) {
	const answer = `{"id":"c1",  "object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(answer))
	}))
	defer srv.Close()
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_body"), groq.WithBaseURL(srv.URL), groq.WithCache(groq.NewMemoryCache(time.Hour, 10)))
	require.NoError(t, err)
	defer c.Close()
	resp, err := c.Chat(context.Background(), hello)
	require.NoError(t, err)
	assert.Equal(t, answer, string(resp.Body()))
	resp, err = c.Chat(context.Background(), hello)
	require.NoError(t, err)
	require.True(t, resp.Meta.FromCache)
	assert.Nil(t, resp.Body(), "a cached answer has no server bytes")
}
