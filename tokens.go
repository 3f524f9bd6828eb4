package groq

// Token estimation. The client reserves tokens before a request is sent, so the
// estimate must be cheap and must err on the high side: an estimate below the
// server's count would let the client send more than the limit allows.

const (
	tokensPerMessage = 4 // role and separators
	tokensPerReply   = 3 // the assistant's reply priming
)

// estimateText bounds the tokens of s from above for ordinary BPE vocabularies:
// one token per three bytes, rounded up.
func estimateText(s string) int {
	return (len(s) + 2) / 3
}

// estimatePrompt estimates the prompt tokens of a request's messages and tools.
func estimatePrompt(msgs []Message, tools []Tool) int {
	n := tokensPerReply
	for i := range msgs {
		m := &msgs[i]
		n += tokensPerMessage + estimateText(m.Content) + estimateText(m.Reasoning)
		for _, p := range m.Parts {
			n += estimateText(p.Text)
			if p.ImageURL != nil {
				n += 1024 // Groq does not publish an image cost; reserve generously
			}
		}
		for _, tc := range m.ToolCalls {
			n += tokensPerMessage + estimateText(tc.Function.Name) + estimateText(tc.Function.Arguments)
		}
	}
	for _, t := range tools {
		n += tokensPerMessage + estimateText(t.Function.Name) + estimateText(t.Function.Description) +
			estimateText(string(t.Function.Parameters))
	}
	return n
}
