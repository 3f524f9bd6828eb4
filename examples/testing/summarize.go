// Testing: how a user of the library tests their own code against groqtest. The
// code under test is Summarize; summarize_test.go is the test (go test
// ./examples/testing); main.go runs the same scenario and prints what it shows.
package main

import (
	"context"
	"fmt"

	"github.com/groqkit/groq"
)

// Summarize is "your code": it asks the model for a summary and reports how many
// tokens it spent.
func Summarize(ctx context.Context, c *groq.Client, text string) (string, int, error) {
	resp, err := c.Chat(ctx, []groq.Message{groq.System("Summarize in one line."), groq.User(text)})
	if err != nil {
		return "", 0, fmt.Errorf("summarize: %w", err)
	}
	return resp.Text(), resp.Usage.TotalTokens, nil
}
