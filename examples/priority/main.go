// Priority: a backlog of 10 low-priority calls is waiting for capacity when an
// urgent call arrives; the urgent call is sent next, ahead of the whole backlog.
//
//	go run ./examples/priority
package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/examples/internal/exsim"
	"github.com/groqkit/groq/groqtest"
)

const model = "llama-3.1-8b-instant"

func main() {
	// 120 requests per minute: one every half second once the burst is spent.
	client, _ := exsim.Client(
		[]groqtest.Option{groqtest.WithModel(model, groqtest.Limits{RPM: 120})},
		groq.WithModelLimits(model, groq.Limits{RPM: 120}),
	)
	defer client.Close()
	ctx := context.Background()

	// Spend the burst.
	var wg sync.WaitGroup
	for range 120 {
		wg.Go(func() { client.Chat(ctx, []groq.Message{groq.User("warm-up")}, groq.WithoutCache()) })
	}
	wg.Wait()

	start := time.Now()
	var mu sync.Mutex
	var order []string
	record := func(name string) {
		mu.Lock()
		order = append(order, fmt.Sprintf("%-8s done after %v", name, time.Since(start).Round(10*time.Millisecond)))
		mu.Unlock()
	}
	for i := range 10 {
		wg.Go(func() {
			client.Chat(ctx, []groq.Message{groq.User(fmt.Sprintf("backlog %d", i))}, groq.WithPriority(10))
			record(fmt.Sprintf("low %d", i))
		})
	}
	time.Sleep(100 * time.Millisecond) // the backlog is queued
	fmt.Println("queued:", client.RateLimits(model).Queued)
	wg.Go(func() {
		client.Chat(ctx, []groq.Message{groq.User("urgent")}, groq.WithPriority(1))
		record("URGENT")
	})
	wg.Wait()
	for _, line := range order {
		fmt.Println(line)
	}
}
