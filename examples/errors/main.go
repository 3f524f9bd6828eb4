// Errors: the typed errors a call can return, and how to branch on them with
// errors.Is and errors.As. Against the simulator, each case is provoked on purpose.
//
//	go run ./examples/errors
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

func main() {
	srv := groqtest.NewUnstartedServer(groqtest.WithKeys("gsk_good"))
	client := func(key string, opts ...groq.Option) *groq.Client {
		c, err := groq.NewClient(append([]groq.Option{groq.WithAPIKeys(key), groq.WithBaseURL(srv.URL()),
			groq.WithHTTPClient(srv.Client()), groq.WithBackoff(time.Millisecond, 10*time.Millisecond)}, opts...)...)
		if err != nil {
			panic(err)
		}
		return c
	}
	ctx := context.Background()
	hi := []groq.Message{groq.User("hi")}

	explain := func(what string, err error) {
		var rl *groq.RateLimitError
		var api *groq.APIError
		var re *groq.RetryError
		var req *groq.RequestError
		switch {
		case errors.As(err, &req):
			fmt.Printf("%-28s bad request before any network call: field %s (%s)\n", what, req.Field, req.Reason)
		case errors.As(err, &rl):
			fmt.Printf("%-28s rate limited: wait %v (local: %v)\n", what, rl.RetryAfter, rl.Local)
		case errors.As(err, &re):
			fmt.Printf("%-28s gave up after %d attempts; last: %v\n", what, re.Attempts, re.Last)
		case errors.Is(err, groq.ErrRequestTooLarge):
			fmt.Printf("%-28s too large for the token limit: %v\n", what, err)
		case errors.As(err, &api):
			fmt.Printf("%-28s API error %d %s: %s (request %s)\n", what, api.StatusCode, api.Code, api.Message, api.RequestID)
		case errors.Is(err, context.DeadlineExceeded):
			fmt.Printf("%-28s the context expired\n", what)
		default:
			fmt.Printf("%-28s %v\n", what, err)
		}
	}

	_, err := client("gsk_wrong").Chat(ctx, hi)
	explain("wrong key:", err)

	good := client("gsk_good", groq.WithMaxRetries(2), groq.WithMaxRetryDelay(time.Minute))
	_, err = good.Chat(ctx, nil)
	explain("no messages:", err)

	srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "600"})
	_, err = good.Chat(ctx, hi)
	explain("429, wait too long:", err)

	srv.Script(groqtest.Fault{Kind: groqtest.Fault503}, groqtest.Fault{Kind: groqtest.Fault503}, groqtest.Fault{Kind: groqtest.Fault503})
	_, err = client("gsk_good", groq.WithMaxRetries(2)).Chat(ctx, hi)
	explain("outage:", err)

	small := client("gsk_good", groq.WithModelLimits("llama-3.1-8b-instant", groq.Limits{TPM: 100}))
	_, err = small.Chat(ctx, []groq.Message{groq.User(strings.Repeat("long prompt ", 100))})
	explain("too large:", err)

	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	srv.Script(groqtest.Fault{Kind: groqtest.FaultSlow, Delay: time.Second})
	_, err = client("gsk_good").Chat(tctx, hi)
	explain("slow answer, short ctx:", err)
}
