package groq_test

import (
	"context"
	"encoding/json"
	"testing"
	"testing/synctest"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestToolCallsAndJSONAgainstTheSimulator: code that calls tools or asks for JSON
// can be tested against groqtest, plain and streamed.
func TestToolCallsAndJSONAgainstTheSimulator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, nil)
		ctx := context.Background()
		tools := []groq.Tool{{Type: "function", Function: groq.ToolFunction{Name: "lookup",
			Parameters: []byte(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`)}}}
		req := &groq.ChatRequest{Messages: []groq.Message{groq.User("find the docs")}, Tools: tools, ToolChoice: "required"}
		resp, err := c.ChatCompletion(ctx, req)
		require.NoError(t, err)
		require.Len(t, resp.Choices[0].Message.ToolCalls, 1)
		assert.Equal(t, "tool_calls", resp.Choices[0].FinishReason)
		assert.Equal(t, "lookup", resp.Choices[0].Message.ToolCalls[0].Function.Name)
		assert.Contains(t, resp.Choices[0].Message.ToolCalls[0].Function.Arguments, `"query"`)

		st, err := c.ChatCompletionStream(ctx, req)
		require.NoError(t, err)
		for st.Next() {
		}
		require.NoError(t, st.Err())
		require.Len(t, st.ToolCalls(), 1)
		assert.Equal(t, "lookup", st.ToolCalls()[0].Function.Name)
		st.Close()

		resp, err = c.ChatCompletion(ctx, &groq.ChatRequest{Messages: hello, ResponseFormat: &groq.ResponseFormat{Type: "json_object"}})
		require.NoError(t, err)
		assert.True(t, json.Valid([]byte(resp.Text())), "JSON mode answers JSON: %s", resp.Text())
	})
}
