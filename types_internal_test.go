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
	assert.Equal(t, want, got, "re-encoded %s differs", file)
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
