package groqtest_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// summarize is "your code": it calls Groq through the client it is given.
func summarize(ctx context.Context, c *groq.Client, text string) (string, error) {
	resp, err := c.Chat(ctx, []groq.Message{groq.System("Summarize."), groq.User(text)})
	if err != nil {
		return "", err
	}
	return resp.Text(), nil
}

// Testing your own code against the simulator: an outage of two 503s is ridden
// out by the client's retries, and the server's counters show what happened. In a
// real test, use NewServer for a loopback socket, or NewUnstartedServer with
// Client() inside a testing/synctest bubble.
func Example() {
	srv := groqtest.NewServer(groqtest.WithKeys("gsk_test"))
	defer srv.Close()
	srv.Script(groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "0"}, groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "0"})

	c, err := groq.NewClient(groq.WithAPIKeys("gsk_test"), groq.WithBaseURL(srv.URL()),
		groq.WithBackoff(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	out, err := summarize(context.Background(), c, "A long report about red teaming.")
	fmt.Println(err == nil, strings.Contains(out, "red teaming"))
	st := srv.Stats()
	fmt.Println("requests:", st.Requests, "faults:", st.Faults, "successes:", st.Successes, "violations:", st.Violations)
	// Output:
	// true true
	// requests: 3 faults: 2 successes: 1 violations: 0
}

// A server whose tokenizer counts prompts at 1.7 times the simulator's usual
// count: the usage it reports, and its TPM bucket, show its count, not the
// client's estimate.
func ExampleWithTokenScale() {
	srv := groqtest.NewServer(groqtest.WithKeys("gsk_test"), groqtest.WithTokenScale(1.7),
		groqtest.WithModel("m", groqtest.Limits{TPM: 100_000}))
	defer srv.Close()
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_test"), groq.WithBaseURL(srv.URL()), groq.WithDefaultModel("m"))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	resp, err := c.Chat(context.Background(), []groq.Message{groq.User(strings.Repeat("x", 400))})
	if err != nil {
		panic(err)
	}
	fmt.Println("prompt tokens:", resp.Usage.PromptTokens, "(usually 107)")
	// Output:
	// prompt tokens: 182 (usually 107)
}

// A model whose day was nearly spent before the test began: its last request
// of the day is answered, and the answer's headers (RPD, with Groq's meanings)
// say that nothing is left today.
func ExampleWithSpentToday() {
	srv := groqtest.NewServer(groqtest.WithKeys("gsk_test"),
		groqtest.WithModel("m", groqtest.Limits{RPM: 30, RPD: 1000}), groqtest.WithSpentToday("m", 999, 0))
	defer srv.Close()
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_test"), groq.WithBaseURL(srv.URL()), groq.WithDefaultModel("m"))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	resp, err := c.Chat(context.Background(), []groq.Message{groq.User("hi")})
	if err != nil {
		panic(err)
	}
	rl := resp.Meta.RateLimit
	fmt.Println("requests left today:", rl.RequestsLeftToday, "of", rl.RequestsPerDay)
	// Output:
	// requests left today: 0 of 1000
}
