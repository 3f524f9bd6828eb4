// Command callwalk makes one Chat call (a cache miss with a file cache, answered
// by the in-memory simulator) after a first call has warmed the client, and,
// when built with coverage, writes the counters of that one call alone to
// $GOCOVERDIR. Its test builds it with coverage of the root package and lists
// the files whose code the call ran (doc.go's "The walk of a call"):
//
//	go test -v ./internal/callwalk
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/coverage"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

func main() {
	if err := run(os.Getenv("GOCOVERDIR")); err != nil {
		fmt.Fprintln(os.Stderr, "callwalk:", err)
		os.Exit(1)
	}
}

func run(coverDir string) error {
	tmp, err := os.MkdirTemp("", "callwalk")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	srv := groqtest.NewUnstartedServer()
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_walk_key"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithCacheFile(filepath.Join(tmp, "cache.json"), time.Hour))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Chat(ctx, []groq.Message{groq.User("warm up")}); err != nil {
		return err
	}
	if coverDir != "" {
		if err := coverage.ClearCounters(); err != nil {
			return err
		}
	}
	resp, err := c.Chat(ctx, []groq.Message{groq.User("one call")})
	if err != nil {
		return err
	}
	if len(resp.Choices) == 0 || resp.Meta.FromCache {
		return fmt.Errorf("the call was not answered by the server: %+v", resp)
	}
	if coverDir != "" {
		return coverage.WriteCountersDir(coverDir)
	}
	return nil
}
