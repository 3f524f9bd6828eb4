// Quickstart: the README's Quick start as it is written there: one question, one
// answer, and what the client learnt on the way. With no GROQ_API_KEY it answers
// from the built-in simulator.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

func main() {
	var opts []groq.Option // keys come from GROQ_API_KEYS or GROQ_API_KEY
	if os.Getenv("GROQ_API_KEY")+os.Getenv("GROQ_API_KEYS") == "" {
		// No key: answer from the built-in simulator (package groqtest) instead of Groq.
		fmt.Println("(no GROQ_API_KEY: answering from the built-in Groq simulator)")
		opts = groqtest.NewUnstartedServer().ClientOptions()
	}
	client, err := groq.NewClient(opts...) // with no key and no simulator: groq.ErrNoAPIKey
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
	fmt.Println("request", resp.Meta.RequestID, "attempts", resp.Meta.Attempts,
		"requests left today", resp.Meta.RateLimit.RequestsLeftToday)
}
