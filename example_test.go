package groq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// The README's quick start. With GROQ_API_KEY (or GROQ_API_KEYS) set,
// groq.NewClient() alone calls Groq; here the client is given the built-in
// simulator instead, so that the example runs anywhere, as go test does.
func Example() {
	srv := groqtest.NewUnstartedServer()
	client, err := groq.NewClient(groq.WithAPIKeys("gsk_example"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx := context.Background()
	resp, err := client.Chat(ctx, []groq.Message{
		groq.System("You answer in one sentence."),
		groq.User("What is red teaming?"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Text())
	fmt.Println("attempts", resp.Meta.Attempts, "requests left today", resp.Meta.RateLimit.RequestsLeftToday)
	// Output:
	// Simulated answer to "What is red teaming?" [52cc5d185c2f].
	// attempts 1 requests left today 14399
}

// Branching on errors with errors.Is and errors.As.
func Example_errors() {
	srv := groqtest.NewUnstartedServer()
	srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "600"})
	client, _ := groq.NewClient(groq.WithAPIKeys("gsk_example"), groq.WithBaseURL(srv.URL()),
		groq.WithHTTPClient(srv.Client()), groq.WithMaxRetryDelay(time.Minute))
	defer client.Close()

	_, err := client.Chat(context.Background(), []groq.Message{groq.User("hi")})
	var rl *groq.RateLimitError
	var apiErr *groq.APIError
	switch {
	case errors.As(err, &rl):
		fmt.Println("rate limited; the server asks to wait", rl.RetryAfter)
	case errors.Is(err, groq.ErrRetriesExhausted):
		fmt.Println("gave up:", err)
	case errors.As(err, &apiErr):
		fmt.Println("API error", apiErr.StatusCode, apiErr.Code)
	case err != nil:
		fmt.Println("other error:", err)
	}
	fmt.Println(errors.Is(err, groq.ErrRateLimited))
	// Output:
	// rate limited; the server asks to wait 10m0s
	// true
}

// Limits, priorities and the rate-limit snapshot.
func ExampleClient_RateLimits() {
	srv := groqtest.NewUnstartedServer()
	client, _ := groq.NewClient(
		groq.WithAPIKeys("gsk_a", "gsk_b"),
		groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithModelLimits("llama-3.1-8b-instant", groq.Limits{RPM: 30, TPM: 6000, RPD: 14400}),
		groq.WithMaxConcurrency(4),
	)
	defer client.Close()
	for range 3 {
		if _, err := client.Chat(context.Background(), []groq.Message{groq.User("hi")}, groq.WithPriority(1)); err != nil {
			log.Fatal(err)
		}
	}
	for _, q := range client.RateLimits("llama-3.1-8b-instant").Quotas {
		fmt.Printf("%s: %d of %d requests this minute\n", q.Name, q.RequestsThisMinute, q.Limits.RPM)
	}
	// Output:
	// key#0: 2 of 30 requests this minute
	// key#1: 1 of 30 requests this minute
}

// Watching what the client does: an observer prints each step of a call that
// meets a 429 and is retried once the quota's cooldown has passed.
func ExampleWithObserver() {
	srv := groqtest.NewUnstartedServer()
	srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "0"})
	obs := groq.Observer{
		Admitted: func(_ context.Context, e groq.AdmittedEvent) {
			fmt.Printf("attempt %d admitted on %s\n", e.Attempt, e.Quota)
		},
		AttemptDone: func(_ context.Context, e groq.AttemptEvent) {
			fmt.Printf("attempt %d: HTTP %d\n", e.Attempt, e.Status)
		},
		Retry: func(_ context.Context, e groq.RetryEvent) { fmt.Println("retry:", e.Reason) },
		CallDone: func(_ context.Context, e groq.CallDoneEvent) {
			fmt.Printf("done after %d attempts, %d tokens\n", e.Attempts, e.Usage.TotalTokens)
		},
	}
	client, _ := groq.NewClient(groq.WithAPIKeys("gsk_example"), groq.WithBaseURL(srv.URL()),
		groq.WithHTTPClient(srv.Client()), groq.WithObserver(obs))
	defer client.Close()
	if _, err := client.Chat(context.Background(), []groq.Message{groq.User("hi")}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// attempt 1 admitted on key#0
	// attempt 1: HTTP 429
	// retry: rate_limited
	// attempt 2 admitted on key#0
	// attempt 2: HTTP 200
	// done after 2 attempts, 18 tokens
}

// A work list through Groq's Batch API: upload the lines, create the batch, wait
// for it, and read each line's answer from the output file. Here the simulator
// runs the batch in 50 ms.
func ExampleClient_CreateBatch() {
	srv := groqtest.NewUnstartedServer(groqtest.WithBatchDuration(50 * time.Millisecond))
	client, err := groq.NewClient(groq.WithAPIKeys("gsk_example"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	var input bytes.Buffer
	for i, q := range []string{"What is a token?", "What is a context window?"} {
		line, _ := json.Marshal(groq.BatchLine{CustomID: fmt.Sprintf("q%d", i), Method: "POST", URL: "/v1/chat/completions",
			Body: &groq.ChatRequest{Model: "llama-3.1-8b-instant", Messages: []groq.Message{groq.User(q)}}})
		input.Write(append(line, '\n'))
	}
	file, err := client.UploadFile(ctx, "questions.jsonl", input.Bytes(), groq.FilePurposeBatch)
	if err != nil {
		log.Fatal(err)
	}
	batch, err := client.CreateBatch(ctx, groq.BatchParams{InputFileID: file.ID, CompletionWindow: "24h"})
	if err != nil {
		log.Fatal(err)
	}
	batch, err = client.WaitBatch(ctx, batch.ID, 20*time.Millisecond, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(batch.Status, batch.RequestCounts.Completed, "of", batch.RequestCounts.Total)
	data, err := client.FileContent(ctx, batch.OutputFileID)
	if err != nil {
		log.Fatal(err)
	}
	results, err := groq.ParseBatchOutput(data)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		fmt.Println(r.CustomID, r.OK(), r.Response.Body.Text())
	}
	// Output:
	// completed 2 of 2
	// q0 true Simulated answer to "What is a token?" [033927030551].
	// q1 true Simulated answer to "What is a context window?" [53512d866f85].
}
