// Command callwalk makes one Chat call, answered by the in-memory simulator,
// after a first call has warmed the client, and, when built with coverage,
// writes the counters of that one call alone to $GOCOVERDIR. With no argument
// the client has the library's defaults; with -cache it also has a file cache
// (WithCacheFile) and the measured call is a cache miss. Its test builds it with
// coverage of the module and lists the files whose code the call ran (doc.go's
// "A call, file by file"):
//
//	go test -v ./internal/callwalk
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/coverage"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

func main() {
	cache := flag.Bool("cache", false, "give the client a file cache")
	flag.Parse()
	if err := run(os.Getenv("GOCOVERDIR"), *cache); err != nil {
		fmt.Fprintln(os.Stderr, "callwalk:", err)
		os.Exit(1)
	}
}

func run(coverDir string, cache bool) error {
	srv := groqtest.NewUnstartedServer()
	opts := []groq.Option{groq.WithAPIKeys("gsk_walk_key"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client())}
	if cache {
		tmp, err := os.MkdirTemp("", "callwalk")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		opts = append(opts, groq.WithCacheFile(filepath.Join(tmp, "cache.json"), time.Hour))
	}
	c, err := groq.NewClient(opts...)
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
