package groq_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

func benchResponse(i int) *groq.ChatResponse {
	return &groq.ChatResponse{ID: fmt.Sprintf("chatcmpl-%d", i), Object: "chat.completion", Model: "llama-3.1-8b-instant",
		Choices: []groq.Choice{{Message: groq.Assistant(strings.Repeat("an answer of some length ", 8)), FinishReason: "stop"}},
		Usage:   &groq.Usage{PromptTokens: 20, CompletionTokens: 50, TotalTokens: 70}}
}

// BenchmarkCacheHit is a whole Chat call answered by the cache: the key, the
// lookup and the copy handed to the caller.
func BenchmarkCacheHit(b *testing.B) {
	srv := groqtest.NewUnstartedServer()
	c, _ := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithCache(groq.NewMemoryCache(time.Hour, 0)))
	defer c.Close()
	msgs := []groq.Message{groq.System("be brief"), groq.User("What is red teaming?")}
	ctx := context.Background()
	if _, err := c.Chat(ctx, msgs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Chat(ctx, msgs)
		if err != nil || !resp.Meta.FromCache {
			b.Fatal("not a hit", err)
		}
	}
}

// BenchmarkCacheGet is the cache's own lookup and copy.
func BenchmarkCacheGet(b *testing.B) {
	m := groq.NewMemoryCache(time.Hour, 0)
	ctx := context.Background()
	m.Set(ctx, "k", benchResponse(0))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := m.Get(ctx, "k"); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkFileCacheSet stores new entries in a file cache already holding n (the
// bound keeps it at n); the cost must not grow with n.
func BenchmarkFileCacheSet(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			fc, err := groq.OpenFileCache(filepath.Join(b.TempDir(), "c.json"), time.Hour, n, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			resp := benchResponse(0)
			for i := range n {
				fc.Set(ctx, fmt.Sprintf("seed-%d", i), resp)
			}
			fc.Flush()
			i := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				i++
				if err := fc.Set(ctx, fmt.Sprintf("new-%d", i), resp); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			fc.Close()
		})
	}
}

// BenchmarkFileCacheLoad opens a file of 100,000 entries.
func BenchmarkFileCacheLoad(b *testing.B) {
	path := filepath.Join(b.TempDir(), "c.json")
	fc, _ := groq.OpenFileCache(path, time.Hour, 0, nil)
	ctx := context.Background()
	for i := range 100_000 {
		fc.Set(ctx, fmt.Sprintf("k-%d", i), benchResponse(i))
	}
	fc.Close()
	b.ReportAllocs()
	for b.Loop() {
		fc, err := groq.OpenFileCache(path, time.Hour, 0, nil)
		if err != nil || fc.Len() != 100_000 {
			b.Fatal("bad load", err)
		}
		fc.Close()
	}
}
