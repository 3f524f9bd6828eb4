// Budget: a daily token budget of 300 tokens. Calls go through until the next one
// would pass the cap; that one is refused before any network call, with how much
// was used and when the budget resets.
//
//	go run ./examples/budget
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/examples/internal/exsim"
)

func main() {
	client, _ := exsim.Client(nil, groq.WithDailyTokenBudget(300), groq.WithCompletionReserve(40))
	defer client.Close()
	for i := 1; ; i++ {
		resp, err := client.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprintf("question %d", i))}, groq.WithMaxTokens(40))
		var be *groq.BudgetError
		if errors.As(err, &be) {
			fmt.Printf("call %d refused: %d used + %d needed > %d; resets at %s\n", i, be.Used, be.Requested, be.Limit, be.ResetAt.Format("2006-01-02 15:04 MST"))
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		b := client.Budget()
		fmt.Printf("call %d: %d tokens; budget %d used, %d remaining\n", i, resp.Usage.TotalTokens, b.Used, b.Remaining)
	}
}
