// Quickstart: one question, one answer, and what the client learnt on the way.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/examples/internal/exsim"
)

func main() {
	client, _ := exsim.Client(nil)
	defer client.Close()

	resp, err := client.Chat(context.Background(), []groq.Message{
		groq.System("You answer in one sentence."),
		groq.User("What is red teaming?"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Text())
	m := resp.Meta
	fmt.Printf("request %s, %d attempt(s), key #%d, %v\n", m.RequestID, m.Attempts, m.KeyIndex, m.Latency.Round(1e6))
	fmt.Printf("Groq says: %d requests left today, %d tokens left this minute\n",
		m.RateLimit.RequestsLeftToday, m.RateLimit.TokensLeftInMinute)
}
