// Command groq-gateway is "groq serve" with --redis: several gateway replicas,
// behind one load balancer, share one quota (and each caller's place in it)
// through Redis, so that N replicas admit what one would, not N times the limit.
//
//	go run ./cmd/groq-gateway --listen 127.0.0.1:8080 --token gw_secret --redis redis://127.0.0.1:6379/0
package main

import (
	"flag"
	"fmt"
	neturl "net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/internal/serve"
	"github.com/groqkit/groq/redisstore"
)

func main() {
	var url, prefix string
	var timeout time.Duration
	os.Exit(serve.Run(os.Args[1:], serve.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}, serve.Hooks{
		Name: "groq-gateway",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&url, "redis", "", "the Redis `URL` (redis://host:port/db) whose quota store every replica shares; empty: this replica alone")
			fs.StringVar(&prefix, "redis-prefix", "groq:", "the prefix of the store's keys (one per Groq organization set)")
			fs.DurationVar(&timeout, "redis-timeout", redisstore.DefaultTimeout, "the longest a Redis operation may take; a slower one counts as a failure and the replica paces at its share of the limits")
		},
		Options: func() ([]groq.Option, func(), error) { return redisOptions(url, prefix, timeout) },
	}))
}

// redisOptions are the client's options for --redis: a QuotaStore on it. An
// invalid URL is an error that names it without its password.
func redisOptions(rawURL, prefix string, timeout time.Duration) ([]groq.Option, func(), error) {
	if rawURL == "" {
		return nil, nil, nil
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		msg := err.Error()
		if p := password(rawURL); p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
		return nil, nil, fmt.Errorf("--redis %q: %s", redacted(rawURL), msg)
	}
	rdb := redis.NewClient(opt)
	store := redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(timeout))
	return []groq.Option{groq.WithQuotaStore(store)}, func() { rdb.Close() }, nil
}

// redacted is rawURL with its user information's password replaced by xxxxx,
// even when the URL does not parse.
func redacted(rawURL string) string {
	if u, err := neturl.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if at := strings.LastIndex(rest, "@"); ok && at >= 0 {
		user, _, _ := strings.Cut(rest[:at], ":")
		return scheme + "://" + user + ":xxxxx" + rest[at:]
	}
	return rawURL
}

// password is the password in rawURL's user information ("" when none).
func password(rawURL string) string {
	_, rest, ok := strings.Cut(rawURL, "://")
	at := strings.LastIndex(rest, "@")
	if !ok || at < 0 {
		return ""
	}
	_, p, _ := strings.Cut(rest[:at], ":")
	return p
}
