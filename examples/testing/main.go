package main

import (
	"context"
	"fmt"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// go run ./examples/testing
func main() {
	srv := groqtest.NewServer(groqtest.WithKeys("gsk_test"))
	defer srv.Close()
	// The next two requests fail with 503: Summarize must still succeed.
	srv.Script(groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "0"}, groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "0"})
	c, _ := groq.NewClient(groq.WithAPIKeys("gsk_test"), groq.WithBaseURL(srv.URL()), groq.WithBackoff(time.Millisecond, 10*time.Millisecond))
	defer c.Close()
	summary, tokens, err := Summarize(context.Background(), c, "A long report about red teaming.")
	fmt.Printf("summary: %q, %d tokens, error: %v\n", summary, tokens, err)
	st := srv.Stats()
	fmt.Printf("the simulator saw %d requests: %d faults injected, %d successes, %d Retry-After violations\n",
		st.Requests, st.Faults, st.Successes, st.Violations)
}
