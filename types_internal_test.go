package groq

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundTrip decodes a real payload into v, encodes it again and checks that nothing
// was lost or changed.
func roundTrip(t *testing.T, file string, v any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, v))
	out, err := json.Marshal(v)
	require.NoError(t, err)
	var want, got any
	require.NoError(t, json.Unmarshal(raw, &want))
	require.NoError(t, json.Unmarshal(out, &got))
	assert.Equal(t, dropNulls(want), dropNulls(got), "re-encoded %s differs", file)
}

// dropNulls removes the object fields whose value is null: a null and an absent
// field say the same (a nil pointer field is omitted).
func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
			} else {
				x[k] = dropNulls(e)
			}
		}
	case []any:
		for i := range x {
			x[i] = dropNulls(x[i])
		}
	}
	return v
}

// TestUnknownFieldsPassThrough: a request's and a response's undeclared fields,
// at the top, in a choice and in a message, survive decoding and encoding, and
// SetExtra adds one by hand.
func TestUnknownFieldsPassThrough(t *testing.T) {
	reqJSON := `{"model":"groq/compound","messages":[{"role":"user","content":"hi","future_msg":1}],` +
		`"documents":[{"id":"d1","source":{"type":"text","text":"The sky is blue."}}],"citation_options":"enabled",` +
		`"search_settings":{"country":"fr","include_domains":["a.org"]},"compound_custom":{"models":{"answering_model":"m"}},` +
		`"disable_tool_validation":true,"tools":[{"type":"browser_search"}],"brand_new":{"x":[1,2]}}`
	var r ChatRequest
	require.NoError(t, json.Unmarshal([]byte(reqJSON), &r))
	assert.Equal(t, "The sky is blue.", r.Documents[0].Source.Text)
	assert.Equal(t, "fr", r.SearchSettings.Country)
	assert.JSONEq(t, `{"x":[1,2]}`, string(r.Extra["brand_new"]))
	out, err := json.Marshal(r)
	require.NoError(t, err)
	assert.JSONEq(t, reqJSON, string(out), "nothing lost")

	require.NoError(t, r.SetExtra("later", map[string]int{"n": 3}))
	require.Error(t, r.SetExtra("model", "x"), "a declared field")
	require.Error(t, r.SetExtra("raw", json.RawMessage(`{bad`)))
	out, _ = json.Marshal(r)
	assert.Contains(t, string(out), `"later":{"n":3}`)

	respJSON := `{"id":"c1","object":"chat.completion","created":1,"model":"groq/compound","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"Blue.","executed_tools":[{"index":0,"type":"search","arguments":"{}","output":"o","search_results":{"results":[]}}],` +
		`"annotations":[{"type":"document_citation","document_citation":{"document_id":"d1","start_index":0,"end_index":5}}],"msg_new":true},` +
		`"finish_reason":"stop","choice_new":"c"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},` +
		`"usage_breakdown":{"models":[{"model":"m","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}]},` +
		`"x_groq":{"id":"req_1","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"dram_cached_tokens":4,"sram_cached_tokens":5}},"top_new":[1]}`
	var resp ChatResponse
	require.NoError(t, json.Unmarshal([]byte(respJSON), &resp))
	m := resp.Choices[0].Message
	assert.Equal(t, "search", m.ExecutedTools[0].Type)
	assert.Equal(t, "document_citation", m.Annotations[0].Type)
	assert.Equal(t, "m", resp.UsageBreakdown.Models[0].Model)
	assert.Equal(t, 4, resp.XGroq.Usage.DramCachedTokens)
	out, err = json.Marshal(resp)
	require.NoError(t, err)
	assert.JSONEq(t, respJSON, string(out), "nothing lost")
	cp := cloneResponse(&resp)
	out2, _ := json.Marshal(cp)
	assert.JSONEq(t, respJSON, string(out2), "a copy loses nothing either")
}

func TestFixtureToolCallRoundTrips(t *testing.T) {
	var r ChatResponse
	roundTrip(t, "testdata/tool-call.json", &r)
	require.Len(t, r.Choices, 1)
	assert.Equal(t, "tool_calls", r.Choices[0].FinishReason)
	assert.Equal(t, "weather", r.Choices[0].Message.ToolCalls[0].Function.Name)
	assert.Equal(t, int64(1790130236), r.XGroq.Seed)
	assert.Equal(t, "on_demand", r.ServiceTier)
	assert.Equal(t, 233, r.Usage.TotalTokens)
	assert.InDelta(t, 0.179481775, r.Usage.QueueTime, 1e-12)
	assert.Equal(t, "", r.Text(), "a tool call has no text")
}

func TestFixtureEmptyChoices(t *testing.T) {
	var r ChatResponse
	roundTrip(t, "testdata/empty-choices.json", &r)
	assert.Equal(t, "", r.Text())
	var nilResp *ChatResponse
	assert.Equal(t, "", nilResp.Text())
}

func TestMessageContentForms(t *testing.T) {
	var m Message
	require.NoError(t, json.Unmarshal([]byte(`{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}`), &m))
	assert.Len(t, m.Parts, 2)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	assert.JSONEq(t, `{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}`, string(out))

	out, err = json.Marshal(User(""))
	require.NoError(t, err)
	assert.JSONEq(t, `{"role":"user","content":""}`, string(out), "an empty user message still sends content")

	require.NoError(t, json.Unmarshal([]byte(`{"role":"assistant","content":null}`), &m))
	assert.Equal(t, "", m.Content)
	assert.Error(t, json.Unmarshal([]byte(`{"role":"user","content":42}`), &m))

	var r ChatRequest
	require.NoError(t, json.Unmarshal([]byte(`{"model":"m","messages":[],"stop":"END"}`), &r))
	assert.Equal(t, StopSequences{"END"}, r.Stop)
}
