package groq

import "unicode/utf8"

// Tokenizer counts the prompt tokens of messages for a model. The client reserves
// tokens against the rate limits and checks the context window with it before a
// request is sent, so a count should err on the high side. Implementations must be
// safe for concurrent use.
type Tokenizer interface {
	CountTokens(model string, msgs []Message) int
}

// TokenizerFunc adapts a function to the Tokenizer interface.
type TokenizerFunc func(model string, msgs []Message) int

// CountTokens calls f.
func (f TokenizerFunc) CountTokens(model string, msgs []Message) int { return f(model, msgs) }

// EstimateTokens is the default token count (TokenizerFunc(EstimateTokens) is the
// default Tokenizer): a cheap estimate that overestimates on ordinary text and
// code (the package documentation's "Token estimation" says how far off it is
// against real BPE vocabularies). It counts per message a fixed overhead plus,
// for the text, the larger of bytes/3 and words plus punctuation, so that dense
// code and non-Latin scripts are not underestimated. It is safe for concurrent
// use.
func EstimateTokens(model string, msgs []Message) int { return estimateMessages(model, msgs) }

const (
	tokensPerMessage = 4 // role and separators
	tokensPerReply   = 3 // the assistant's reply priming
	imageTokens      = 1024
)

// estimateText bounds the tokens of s from above for ordinary BPE vocabularies.
func estimateText(s string) int {
	if s == "" {
		return 0
	}
	byBytes := (len(s) + 2) / 3
	// Words, punctuation and symbols each tend to be at least one token.
	pieces, inWord := 0, false
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			// Two-byte runes (Latin accents, Cyrillic, Greek) merge into words;
			// three- and four-byte runes (CJK, emoji) often take two tokens each.
			_, size := utf8.DecodeRuneInString(s[i:])
			if size >= 3 {
				pieces += 2
				inWord = false
			} else if !inWord {
				pieces++
				inWord = true
			}
			i += size
			continue
		}
		switch {
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			inWord = false
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_':
			if !inWord {
				pieces++
				inWord = true
			}
		default: // punctuation and symbols
			pieces++
			inWord = false
		}
		i++
	}
	return max(byBytes, pieces)
}

func estimateMessages(_ string, msgs []Message) int {
	n := tokensPerReply
	for i := range msgs {
		m := &msgs[i]
		n += tokensPerMessage + estimateText(m.Content) + estimateText(m.Reasoning)
		for _, p := range m.Parts {
			n += estimateText(p.Text)
			if p.ImageURL != nil {
				n += imageTokens // Groq publishes no image cost; reserve generously
			}
		}
		for _, tc := range m.ToolCalls {
			n += tokensPerMessage + estimateText(tc.Function.Name) + estimateText(tc.Function.Arguments)
		}
	}
	return n
}

// estimateTools estimates the prompt tokens that tool definitions add.
func estimateTools(tools []Tool) int {
	n := 0
	for _, t := range tools {
		n += tokensPerMessage + estimateText(t.Function.Name) + estimateText(t.Function.Description) +
			estimateText(string(t.Function.Parameters))
	}
	return n
}
