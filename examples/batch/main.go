// Batch: 20 questions through the scheduler at once, results in input order, with
// progress and a callback per call.
//
//	go run ./examples/batch
package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/examples/internal/exsim"
)

func main() {
	client, _ := exsim.Client(nil)
	defer client.Close()
	var reqs []*groq.ChatRequest
	for i := range 20 {
		reqs = append(reqs, &groq.ChatRequest{Messages: []groq.Message{groq.User(fmt.Sprintf("What is %d squared?", i))}})
	}
	var tokens atomic.Int64
	results := client.ChatBatch(context.Background(), reqs,
		groq.WithProgress(func(done, total int) {
			if done%5 == 0 {
				fmt.Printf("progress: %d/%d\n", done, total)
			}
		}),
		groq.WithCallback(func(r *groq.ChatResponse, err error) {
			if err == nil {
				tokens.Add(int64(r.Usage.TotalTokens))
			}
		}),
	)
	for _, r := range results[:3] {
		fmt.Printf("#%d: %s\n", r.Index, r.Response.Text())
	}
	fmt.Printf("... %d results in input order, %d tokens in all\n", len(results), tokens.Load())
}
