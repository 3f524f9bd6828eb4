// Package tokencheck measures the groq client's default token estimate against
// real BPE vocabularies (OpenAI's cl100k_base and o200k_base, embedded in
// github.com/tiktoken-go/tokenizer, so nothing is downloaded). It is its own
// module so that the client does not depend on a tokenizer.
package tokencheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tiktoken-go/tokenizer"

	"github.com/groqkit/groq"
)

// estimate is the client's estimate for text alone (one user message, minus the
// fixed message and reply overhead).
func estimate(text string) int {
	return groq.EstimateTokens("", []groq.Message{groq.User(text)}) -
		groq.EstimateTokens("", []groq.Message{groq.User("")})
}

type sample struct{ kind, name, text string }

func samples(t *testing.T) []sample {
	var out []sample
	eng, err := os.ReadFile("testdata/english.txt")
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range strings.Split(strings.TrimSpace(string(eng)), "\n\n") {
		out = append(out, sample{"English", fmt.Sprintf("paragraph %d", i+1), p})
	}
	other, err := os.ReadFile("testdata/other.txt")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(strings.TrimSpace(string(other)), "\n") {
		out = append(out, sample{"other scripts", fmt.Sprintf("line %d", i+1), l})
	}
	// Real code: the client's own Go sources.
	files, _ := filepath.Glob("../*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sample{"Go code", filepath.Base(f), string(b)})
	}
	if len(out) < 15 {
		t.Fatalf("only %d samples", len(out))
	}
	return out
}

// TestEstimateOverestimates: for every sample, the estimate is at least the real
// count in both vocabularies. It prints the ratios the package documentation quotes.
func TestEstimateOverestimates(t *testing.T) {
	for _, enc := range []tokenizer.Encoding{tokenizer.Cl100kBase, tokenizer.O200kBase} {
		codec, err := tokenizer.Get(enc)
		if err != nil {
			t.Fatal(err)
		}
		type agg struct {
			est, real, n int
			minR, maxR   float64
		}
		by := map[string]*agg{}
		for _, s := range samples(t) {
			real, err := codec.Count(s.text)
			if err != nil {
				t.Fatal(err)
			}
			est := estimate(s.text)
			if est < real {
				t.Errorf("%s %s %q: estimate %d < real %d", enc, s.kind, s.name, est, real)
			}
			a := by[s.kind]
			if a == nil {
				a = &agg{minR: 1e9}
				by[s.kind] = a
			}
			r := float64(est) / float64(real)
			a.est += est
			a.real += real
			a.n++
			a.minR, a.maxR = min(a.minR, r), max(a.maxR, r)
		}
		for _, kind := range []string{"English", "Go code", "other scripts"} {
			a := by[kind]
			t.Logf("%-11s %-13s samples %2d  real %6d  estimate %6d  ratio %.2f (min %.2f, max %.2f)",
				enc, kind, a.n, a.real, a.est, float64(a.est)/float64(a.real), a.minR, a.maxR)
		}
	}
}
