// Audio: transcribe a file, synthesize speech, and a compound call with documents
// and citations, all through one client (one set of limits, retries and
// priorities). With no GROQ_API_KEY the built-in simulator answers.
//
//	go run ./examples/audio [FILE]
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

func main() {
	var opts []groq.Option
	if os.Getenv("GROQ_API_KEY")+os.Getenv("GROQ_API_KEYS") == "" {
		fmt.Println("(no GROQ_API_KEY: answering from the built-in Groq simulator)")
		opts = groqtest.NewUnstartedServer().ClientOptions()
	}
	client, err := groq.NewClient(opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	// Speech to text: a file given on the command line, or a spoken sentence.
	sp, err := client.Speech(ctx, &groq.SpeechRequest{Input: "Hello from the Go client for Groq."})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("speech: %d bytes of %s\n", len(sp.Audio), sp.ContentType)
	var file io.Reader = bytes.NewReader(sp.Audio)
	name := "speech.wav"
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		file, name = f, os.Args[1]
	}
	tr, err := client.Transcribe(ctx, &groq.TranscriptionRequest{File: file, FileName: name, ResponseFormat: "verbose_json"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("transcription (%.1f s of audio): %s\n", tr.Duration, tr.Text)
	snap := client.RateLimits(groq.DefaultTranscriptionModel).Quotas[0]
	fmt.Printf("seconds of audio this hour: %d of %d\n", snap.AudioThisHour, snap.Limits.ASH)

	// A compound call with a document to cite.
	resp, err := client.ChatCompletion(ctx, &groq.ChatRequest{
		Model:           "groq/compound",
		Messages:        []groq.Message{groq.User("What does the document say about the sky?")},
		Documents:       []groq.Document{groq.TextDocument("d1", "The sky is blue on a clear day.")},
		CitationOptions: "enabled",
	})
	if err != nil {
		log.Fatal(err)
	}
	m := resp.Choices[0].Message
	fmt.Println("answer:", resp.Text())
	for _, t := range m.ExecutedTools {
		fmt.Println("tool run:", t.Type, t.Arguments)
	}
	for _, a := range m.Annotations {
		fmt.Println("citation:", a.Type, string(a.DocumentCitation))
	}
}
