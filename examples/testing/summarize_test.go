package main

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// A test of Summarize through an outage, in fake time: the simulator's in-memory
// transport lets synctest skip the waits.
func TestSummarizeRidesOutAnOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer()
		srv.Script(groqtest.Fault{Kind: groqtest.Fault503, RetryAfter: "30"})
		c, err := groq.NewClient(groq.WithAPIKeys("gsk_test"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		summary, tokens, err := Summarize(context.Background(), c, "A long report.")
		if err != nil || summary == "" || tokens == 0 {
			t.Fatalf("Summarize(...) = %q, %d, %v; want a summary", summary, tokens, err)
		}
		if waited := time.Since(start); waited != 30*time.Second {
			t.Errorf("waited %v; the server asked for 30s", waited)
		}
	})
}

// A test of Summarize when Groq keeps refusing: the error must say so.
func TestSummarizeReportsRateLimits(t *testing.T) {
	srv := groqtest.NewUnstartedServer()
	srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "3600"})
	c, _ := groq.NewClient(groq.WithAPIKeys("gsk_test"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
	defer c.Close()
	_, _, err := Summarize(context.Background(), c, "text")
	if !errors.Is(err, groq.ErrRateLimited) {
		t.Fatalf("Summarize(...) error = %v; want ErrRateLimited", err)
	}
}
