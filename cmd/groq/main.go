// Command groq answers a prompt with Groq's chat API through the groq client: rate
// limited, retried, and, with no API key in the environment, served by the
// built-in simulator so that the whole pipeline can be seen working offline.
//
//	go run ./cmd/groq "What is red teaming?"
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
}
