package groq_test

import (
	"bytes"
	"context"
	"encoding/binary"
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

// The client's state at a glance: each model's buckets, where each limit came
// from, its queue and its recent 429s; json.Marshal(st) is what the gateway's
// GET /status serves (with its tokens).
func ExampleClient_Status() {
	srv := groqtest.NewUnstartedServer()
	client, _ := groq.NewClient(groq.WithAPIKeys("gsk_a"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithModelLimits("llama-3.1-8b-instant", groq.Limits{RPM: 30, TPM: 6000}))
	defer client.Close()
	if _, err := client.Chat(context.Background(), []groq.Message{groq.User("hi")}); err != nil {
		log.Fatal(err)
	}
	for _, m := range client.Status().Models {
		fmt.Printf("%s: %d queued, %d 429s in the last %s\n", m.Model, len(m.Queued), m.RateLimited, groq.StatusWindow)
		for _, b := range m.Quotas[0].Buckets {
			fmt.Printf("  %s limit %d (%s), depth %d\n", b.Name, b.Limit, b.Source, b.Depth)
		}
	}
	// Output:
	// llama-3.1-8b-instant: 0 queued, 0 429s in the last 5m0s
	//   RPM limit 30 (configured), depth 30
	//   RPD limit 14400 (headers), depth 14400
	//   TPM limit 6000 (configured), depth 6000
}

// A paid organization: its headers show limits above the built-in table (Groq's
// free plan), so the client paces at its figures, and says where each came from.
func ExampleQuotaSnapshot_sources() {
	srv := groqtest.NewUnstartedServer(groqtest.WithModel("llama-3.1-8b-instant",
		groqtest.Limits{RPM: 1000, RPD: 500_000, TPM: 250_000}))
	client, _ := groq.NewClient(groq.WithAPIKeys("gsk_paid"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
	defer client.Close()
	if _, err := client.Chat(context.Background(), []groq.Message{groq.User("hi")}); err != nil {
		log.Fatal(err)
	}
	q := client.RateLimits("llama-3.1-8b-instant").Quotas[0]
	fmt.Printf("RPD %d (%s), TPM %d (%s), RPM %d (%q: until a 429 names it)\n",
		q.Limits.RPD, q.Sources.RPD, q.Limits.TPM, q.Sources.TPM, q.Limits.RPM, q.Sources.RPM)
	// Output:
	// RPD 500000 (headers), TPM 250000 (headers), RPM 0 ("": until a 429 names it)
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

// Transcribing a file: Transcribe goes through the same queue, limits (including
// seconds of audio per hour and per day), retries and errors as Chat. Here the
// simulator answers; with a key, the same call reaches Groq.
func ExampleClient_Transcribe() {
	srv := groqtest.NewUnstartedServer()
	client, _ := groq.NewClient(srv.ClientOptions()...)
	defer client.Close()

	f := bytes.NewReader(silentWAV(12)) // an *os.File works the same
	tr, err := client.Transcribe(context.Background(), &groq.TranscriptionRequest{
		File: f, FileName: "meeting.wav", Language: "en",
		ResponseFormat: "verbose_json", TimestampGranularities: []string{"segment"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tr.Text)
	fmt.Println("duration", tr.Duration, "segments", len(tr.Segments), "attempts", tr.Meta.Attempts)
	// Output:
	// A simulated transcription of 12.0 seconds of audio.
	// duration 12 segments 2 attempts 1
}

// Synthesizing speech: the audio's bytes and their content type.
func ExampleClient_Speech() {
	srv := groqtest.NewUnstartedServer()
	client, _ := groq.NewClient(srv.ClientOptions()...)
	defer client.Close()

	sp, err := client.Speech(context.Background(), &groq.SpeechRequest{Input: "Welcome to the show.", Voice: "autumn", ResponseFormat: "wav"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sp.ContentType, string(sp.Audio[:4])) // os.WriteFile("out.wav", sp.Audio, 0o644)
	// Output:
	// audio/wav RIFF
}

// A compound call with documents and citations: Groq's own fields are typed, the
// answer carries the tools the model ran and what it cited, and any field the
// client does not know yet passes through (SetExtra, Extra).
func ExampleChatRequest_documents() {
	srv := groqtest.NewUnstartedServer()
	client, _ := groq.NewClient(srv.ClientOptions()...)
	defer client.Close()

	req := &groq.ChatRequest{
		Model:           "groq/compound",
		Messages:        []groq.Message{groq.User("What colour is the sky?")},
		Documents:       []groq.Document{groq.TextDocument("d1", "The sky is blue on a clear day.")},
		CitationOptions: "enabled",
		SearchSettings:  &groq.SearchSettings{IncludeDomains: []string{"example.org"}},
	}
	req.SetExtra("a_field_from_next_month", true) // sent as it is
	resp, err := client.ChatCompletion(context.Background(), req)
	if err != nil {
		log.Fatal(err)
	}
	m := resp.Choices[0].Message
	fmt.Println("tools run:", m.ExecutedTools[0].Type)
	fmt.Println("cited:", m.Annotations[0].Type)
	fmt.Println("inner models:", resp.UsageBreakdown.Models[0].Model)
	// Output:
	// tools run: search
	// cited: document_citation
	// inner models: openai/gpt-oss-120b
}

// silentWAV is a WAV file of the given seconds of silence (16-bit mono, 8 kHz).
func silentWAV(seconds int) []byte {
	n := seconds * 8000
	b := make([]byte, 44+2*n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], 8000)
	binary.LittleEndian.PutUint32(b[28:], 16000)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	return b
}

// A service that calls on behalf of several users names each call's caller, so
// that users waiting at one priority take turns, and scopes the cache to each
// user, so that no user is answered from another's call.
func ExampleWithCaller() {
	srv := groqtest.NewUnstartedServer()
	client, err := groq.NewClient(groq.WithAPIKeys("gsk_example"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithCache(groq.NewMemoryCache(time.Hour, 1000)))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	for _, user := range []string{"ann", "bob", "ann"} {
		resp, err := client.Chat(context.Background(), []groq.Message{groq.User("Hello")},
			groq.WithCaller(user), groq.WithCacheScope(user))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(user, "from the cache:", resp.Meta.FromCache)
	}
	// Output:
	// ann from the cache: false
	// bob from the cache: false
	// ann from the cache: true
}

// Several models, one call: the preferred model's day is spent (its quota of 3
// requests a day), so the fourth call and those after it go to the next model of
// the list, which the headers showed had room; nothing is sent to the spent model.
func ExampleWithModels() {
	srv := groqtest.NewUnstartedServer(
		groqtest.WithModel("llama-3.3-70b-versatile", groqtest.Limits{RPM: 30, RPD: 3}),
		groqtest.WithModel("llama-3.1-8b-instant", groqtest.Limits{RPM: 30, RPD: 14_400}))
	client, _ := groq.NewClient(groq.WithAPIKeys("gsk_example"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
	defer client.Close()
	for i := range 5 {
		resp, err := client.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprintf("question %d", i))},
			groq.WithModels("llama-3.3-70b-versatile", "llama-3.1-8b-instant"))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(i, resp.Model)
	}
	fmt.Println("429s:", srv.Stats().RateLimited)
	// Output:
	// 0 llama-3.3-70b-versatile
	// 1 llama-3.3-70b-versatile
	// 2 llama-3.3-70b-versatile
	// 3 llama-3.1-8b-instant
	// 4 llama-3.1-8b-instant
	// 429s: 0
}
