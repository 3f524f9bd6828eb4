// Ratelimit: 35 requests against a 30-requests-per-minute limit. The client
// sends the first 30 at once (the bucket's burst), then one every 2 seconds as it
// refills: all 35 succeed and the server answers no 429. It prints the limit
// snapshot before and after.
//
//	go run ./examples/ratelimit
package main

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/examples/internal/exsim"
	"github.com/groqkit/groq/groqtest"
)

const model = "llama-3.1-8b-instant"

func main() {
	client, srv := exsim.Client(
		[]groqtest.Option{groqtest.WithModel(model, groqtest.Limits{RPM: 30, TPM: 60000})},
		groq.WithModelLimits(model, groq.Limits{RPM: 30, TPM: 60000}), groq.WithMaxConcurrency(35),
	)
	defer client.Close()
	show("before", client.RateLimits(model))

	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := range 35 {
		wg.Go(func() {
			_, err := client.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprintf("question %d", i))})
			if err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
				log.Printf("call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	fmt.Printf("35 calls in %v, %d failed\n", time.Since(start).Round(time.Millisecond), failed)
	show("after", client.RateLimits(model))
	if srv != nil {
		st := srv.Stats()
		fmt.Printf("server: %d requests, %d successes, %d 429s, %d violations\n", st.Requests, st.Successes, st.RateLimited, st.Violations)
	}
}

func show(when string, s groq.RateLimitSnapshot) {
	for _, q := range s.Quotas {
		fmt.Printf("%-6s %s: %d of %d requests used this minute\n", when, q.Name, max(q.RequestsThisMinute, 0), q.Limits.RPM)
	}
}
