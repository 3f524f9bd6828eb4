package groqtest

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const weatherTool = `"tools":[{"type":"function","function":{"name":"weather","description":"the weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1},"unit":{"type":"string","enum":["c","f"]}},"required":["city","days"]}}},{"type":"function","function":{"name":"time","parameters":{"type":"object","properties":{}}}}]`

// TestToolCalls: a required (or named) tool choice gets a tool call whose
// arguments fit the function's schema, streamed as a tool-call delta.
func TestToolCalls(t *testing.T) {
	forms(t, nil, func(t *testing.T, s *Server, hc *http.Client, base string) {
		for choice, want := range map[string]string{
			`"required"`: "weather",
			`{"type":"function","function":{"name":"time"}}`: "time",
		} {
			r := post(t, hc, base, "k", chatBody("llama-3.1-8b-instant", "weather in Paris?", ","+weatherTool+`,"tool_choice":`+choice))
			require.Equal(t, 200, r.status, r.raw)
			var resp struct {
				Choices []struct {
					Message struct {
						Content   *string    `json:"content"`
						ToolCalls []toolCall `json:"tool_calls"`
					} `json:"message"`
					FinishReason string `json:"finish_reason"`
				} `json:"choices"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.raw), &resp))
			ch := resp.Choices[0]
			assert.Equal(t, "tool_calls", ch.FinishReason)
			assert.Nil(t, ch.Message.Content)
			require.Len(t, ch.Message.ToolCalls, 1)
			call := ch.Message.ToolCalls[0]
			assert.Equal(t, want, call.Function.Name)
			assert.Equal(t, "function", call.Type)
			assert.NotEmpty(t, call.ID)
			var args map[string]any
			require.NoError(t, json.Unmarshal([]byte(call.Function.Arguments), &args))
			if want == "weather" {
				assert.IsType(t, "", args["city"])
				assert.Equal(t, 1.0, args["days"], "the minimum")
				assert.Equal(t, "c", args["unit"], "the first of the enum")
			}
		}
		r := post(t, hc, base, "k", chatBody("llama-3.1-8b-instant", "hi", ","+weatherTool+`,"tool_choice":"auto"`))
		assert.NotContains(t, r.raw, "tool_calls", "auto answers in text")

		// Streamed: one delta carries the whole call.
		req, _ := http.NewRequest(http.MethodPost, base+"/chat/completions",
			strings.NewReader(chatBody("llama-3.1-8b-instant", "weather?", ","+weatherTool+`,"tool_choice":"required","stream":true`)))
		req.Header.Set("Authorization", "Bearer k")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var deltas, finish []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var ch struct {
				Choices []struct {
					Delta        json.RawMessage `json:"delta"`
					FinishReason *string         `json:"finish_reason"`
				} `json:"choices"`
			}
			require.NoError(t, json.Unmarshal([]byte(data), &ch))
			if strings.Contains(string(ch.Choices[0].Delta), "tool_calls") {
				deltas = append(deltas, string(ch.Choices[0].Delta))
			}
			if f := ch.Choices[0].FinishReason; f != nil {
				finish = append(finish, *f)
			}
		}
		require.Len(t, deltas, 1)
		assert.Contains(t, deltas[0], `"name":"weather"`)
		assert.Equal(t, []string{"tool_calls"}, finish)
	})
}

// TestJSONModes: json_object answers a JSON object; json_schema answers JSON that
// fits the schema.
func TestJSONModes(t *testing.T) {
	forms(t, nil, func(t *testing.T, s *Server, hc *http.Client, base string) {
		content := func(r reply) string {
			ch := r.body["choices"].([]any)[0].(map[string]any)
			return ch["message"].(map[string]any)["content"].(string)
		}
		r := post(t, hc, base, "k", chatBody("llama-3.1-8b-instant", "hi", `,"response_format":{"type":"json_object"}`))
		require.Equal(t, 200, r.status, r.raw)
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(content(r)), &obj), "json_object content is JSON: %s", content(r))

		schema := `{"type":"object","properties":{"name":{"type":"string","maxLength":5},"tags":{"type":"array","items":{"type":"string"},"minItems":2},"score":{"type":"number"},"ok":{"type":"boolean"},"nested":{"type":"object","properties":{"n":{"type":["integer","null"]}}}},"required":["name","tags"],"additionalProperties":false}`
		r = post(t, hc, base, "k", chatBody("llama-3.1-8b-instant", "hi", `,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":`+schema+`}}`))
		require.Equal(t, 200, r.status, r.raw)
		var got struct {
			Name   string         `json:"name"`
			Tags   []string       `json:"tags"`
			Score  float64        `json:"score"`
			OK     bool           `json:"ok"`
			Nested map[string]any `json:"nested"`
		}
		dec := json.NewDecoder(strings.NewReader(content(r)))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&got), content(r))
		assert.LessOrEqual(t, len(got.Name), 5)
		assert.Len(t, got.Tags, 2)
		assert.Contains(t, got.Nested, "n")
	})
}

// TestStructureErrors: Groq's 400s for what it rejects.
func TestStructureErrors(t *testing.T) {
	forms(t, nil, func(t *testing.T, s *Server, hc *http.Client, base string) {
		for name, extra := range map[string]string{
			"required without tools": `,"tool_choice":"required"`,
			"unknown function":       "," + weatherTool + `,"tool_choice":{"type":"function","function":{"name":"nope"}}`,
			"bad tool choice":        "," + weatherTool + `,"tool_choice":"always"`,
			"bad format":             `,"response_format":{"type":"yaml"}`,
			"schema missing":         `,"response_format":{"type":"json_schema","json_schema":{"name":"x"}}`,
			"n":                      `,"n":2`,
			"logprobs":               `,"logprobs":true`,
		} {
			r := post(t, hc, base, "k", chatBody("llama-3.1-8b-instant", "hi", extra))
			assert.Equal(t, 400, r.status, "%s: %s", name, r.raw)
			assert.Equal(t, "invalid_request_error", errField(r, "type"), name)
		}
		r := post(t, hc, base, "k", `{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"hi","name":"bob"}]}`)
		assert.Equal(t, 400, r.status, "messages[].name")
		r = post(t, hc, base, "k", chatBody("no-such-model", "hi", ""))
		assert.Equal(t, 404, r.status)
		assert.Equal(t, "model_not_found", errField(r, "code"))
	})
}
