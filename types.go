package groq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Roles a Message may carry.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one entry of a chat conversation.
//
// Content holds plain text. Parts, when non-nil, replaces Content on the wire with
// an array of content parts (text and images); a decoded message whose content was
// an array has Parts set and Content empty. Groq rejects a message name, so Message
// has none.
type Message struct {
	Role       string        `json:"role"`
	Content    string        `json:"-"`
	Parts      []ContentPart `json:"-"`
	Reasoning  string        `json:"reasoning,omitempty"`
	ToolCalls  []ToolCall    `json:"tool_calls,omitempty"`
	ToolCallID string        `json:"tool_call_id,omitempty"`
}

// ContentPart is one part of a multi-part message content.
type ContentPart struct {
	Type     string    `json:"type"` // "text" or "image_url"
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// ImageURL points at an image for a vision model: an https URL or a data URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// System returns a system message with the given text.
func System(text string) Message { return Message{Role: RoleSystem, Content: text} }

// User returns a user message with the given text.
func User(text string) Message { return Message{Role: RoleUser, Content: text} }

// Assistant returns an assistant message with the given text.
func Assistant(text string) Message { return Message{Role: RoleAssistant, Content: text} }

// ToolResult returns a tool message that answers the tool call with the given id.
func ToolResult(toolCallID, content string) Message {
	return Message{Role: RoleTool, Content: content, ToolCallID: toolCallID}
}

type messageAlias Message

type messageWire struct {
	messageAlias
	Content json.RawMessage `json:"content,omitempty"`
}

// MarshalJSON writes Content as a string, or Parts as an array when set. An
// assistant message that only carries tool calls omits content.
func (m Message) MarshalJSON() ([]byte, error) {
	w := messageWire{messageAlias: messageAlias(m)}
	switch {
	case m.Parts != nil:
		b, err := json.Marshal(m.Parts)
		if err != nil {
			return nil, err
		}
		w.Content = b
	case m.Content == "" && len(m.ToolCalls) > 0:
		// no content
	default:
		b, err := json.Marshal(m.Content)
		if err != nil {
			return nil, err
		}
		w.Content = b
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads content given as a string, an array of parts, or null.
func (m *Message) UnmarshalJSON(data []byte) error {
	var w messageWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*m = Message(w.messageAlias)
	c := bytes.TrimSpace(w.Content)
	switch {
	case len(c) == 0 || bytes.Equal(c, []byte("null")):
	case c[0] == '"':
		return json.Unmarshal(c, &m.Content)
	case c[0] == '[':
		return json.Unmarshal(c, &m.Parts)
	default:
		return fmt.Errorf("groq: message content must be a string or an array, got %.20s", c)
	}
	return nil
}

// Tool describes a function the model may call.
type Tool struct {
	Type     string       `json:"type"` // "function"
	Function ToolFunction `json:"function"`
}

// ToolFunction is the function a Tool offers: its JSON-schema parameters are kept raw.
type ToolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolCall is a call the model asked for, in a response message.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall names a function and carries its arguments as a JSON string.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// StreamOptions configures a streamed request.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage,omitempty"`
}

// ResponseFormat asks for plain text, any JSON object, or JSON matching a schema.
type ResponseFormat struct {
	Type       string      `json:"type"` // "text", "json_object" or "json_schema"
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the schema of a "json_schema" response format.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// StopSequences is a list of up to four stop sequences. It decodes from a single string too.
type StopSequences []string

// UnmarshalJSON accepts a string or an array of strings.
func (s *StopSequences) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var one string
		if err := json.Unmarshal(data, &one); err != nil {
			return err
		}
		*s = StopSequences{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// ChatRequest is the body of POST /chat/completions (Groq's subset of OpenAI's).
//
// Pointer fields are omitted when nil, so the server's default applies. A zero Model
// is filled with the client's default model. Stream is set by ChatStream; Chat
// rejects a request with Stream set.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	MaxTokens           *int            `json:"max_tokens,omitempty"` // deprecated by Groq; still accepted
	Stop                StopSequences   `json:"stop,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          any             `json:"tool_choice,omitempty"` // "none", "auto", "required" or an object
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
	ReasoningEffort     string          `json:"reasoning_effort,omitempty"`
	ReasoningFormat     string          `json:"reasoning_format,omitempty"`
	IncludeReasoning    *bool           `json:"include_reasoning,omitempty"`
	ServiceTier         string          `json:"service_tier,omitempty"` // on_demand, flex, auto, performance
	User                string          `json:"user,omitempty"`
}

// completionLimit is the completion size the request asks for, or 0 when it sets none.
func (r *ChatRequest) completionLimit() int {
	if r.MaxCompletionTokens != nil {
		return *r.MaxCompletionTokens
	}
	if r.MaxTokens != nil {
		return *r.MaxTokens
	}
	return 0
}

// ChatResponse is a chat completion. Meta is filled by the client and never sent or
// decoded as JSON.
type ChatResponse struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	Choices           []Choice        `json:"choices"`
	Usage             *Usage          `json:"usage,omitempty"`
	UsageBreakdown    json.RawMessage `json:"usage_breakdown,omitempty"`
	SystemFingerprint string          `json:"system_fingerprint,omitempty"`
	ServiceTier       string          `json:"service_tier,omitempty"`
	XGroq             *XGroq          `json:"x_groq,omitempty"`

	Meta ResponseMeta `json:"-"`
}

// Text returns the first choice's content, or "" when there is no choice.
func (r *ChatResponse) Text() string {
	if r == nil || len(r.Choices) == 0 {
		return ""
	}
	return r.Choices[0].Message.Content
}

// Choice is one completion of a response.
type Choice struct {
	Index        int             `json:"index"`
	Message      Message         `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	FinishReason string          `json:"finish_reason"` // stop, length, tool_calls
}

// Usage counts tokens and Groq's timings (float seconds) for one request.
type Usage struct {
	QueueTime               float64                  `json:"queue_time,omitempty"`
	PromptTokens            int                      `json:"prompt_tokens"`
	PromptTime              float64                  `json:"prompt_time,omitempty"`
	CompletionTokens        int                      `json:"completion_tokens"`
	CompletionTime          float64                  `json:"completion_time,omitempty"`
	TotalTokens             int                      `json:"total_tokens"`
	TotalTime               float64                  `json:"total_time,omitempty"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails tells how many prompt tokens came from Groq's prompt cache
// (those do not count toward rate limits).
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// CompletionTokensDetails tells how many completion tokens were spent on reasoning.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// XGroq is Groq's extension object: the request id, the seed used, and (in the last
// stream chunk) usage or (in a broken stream) an error.
type XGroq struct {
	ID    string        `json:"id,omitempty"`
	Seed  int64         `json:"seed,omitempty"`
	Usage *Usage        `json:"usage,omitempty"`
	Error *ErrorPayload `json:"error,omitempty"`
}

// ErrorPayload is the "error" object of Groq's error bodies and stream events.
type ErrorPayload struct {
	Message          string `json:"message"`
	Type             string `json:"type,omitempty"`
	Code             string `json:"code,omitempty"`
	Param            string `json:"param,omitempty"`
	FailedGeneration string `json:"failed_generation,omitempty"`
}

// ResponseMeta is what the client learnt while producing a response. It is never
// part of the JSON body.
type ResponseMeta struct {
	// RequestID is the x-request-id header (req_...), or x_groq.id when the header
	// was missing.
	RequestID string
	// Attempts is the number of HTTP requests sent for this call (1 without retries;
	// 0 for an answer from the cache).
	Attempts int
	// KeyIndex is the position, in the keys the client was given, of the key that
	// served the response; -1 when no key was used. The key itself is never exposed.
	KeyIndex int
	// RateLimit holds the x-ratelimit-* headers of the last response, with Groq's
	// meanings.
	RateLimit RateLimitInfo
	// FromCache is true when the response came from the cache without a network call.
	FromCache bool
	// Shared is true when an identical call in flight at the same time made the
	// network call and this caller got a copy of its answer.
	Shared bool
	// Latency is the time from the call's start to its response, queueing included.
	Latency time.Duration
	// Queued is the part of Latency the call spent waiting for admission (its
	// model's queue, the buckets, a cooldown, a concurrency slot), over all its
	// attempts; the rest is the network, the server and the waits between
	// attempts. 0 for an answer from the cache.
	Queued time.Duration
}

// ChatChunk is one event of a streamed completion.
type ChatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"` // chat.completion.chunk
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	ServiceTier       string        `json:"service_tier,omitempty"`
	Choices           []ChunkChoice `json:"choices"`
	// Usage is set on the last chunk when the request asked for
	// stream_options.include_usage.
	Usage *Usage `json:"usage,omitempty"`
	// XGroq carries the request id (first and last chunk), the usage (last chunk)
	// and an error (a stream that stopped early).
	XGroq *XGroq `json:"x_groq,omitempty"`
}

// ChunkChoice is one choice's delta in a chunk.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	FinishReason string          `json:"finish_reason,omitempty"`
}

// Delta is what a chunk adds to a choice.
type Delta struct {
	Role      string          `json:"role,omitempty"`
	Content   string          `json:"content,omitempty"`
	Reasoning string          `json:"reasoning,omitempty"`
	ToolCalls []ToolCallDelta `json:"tool_calls,omitempty"`
}

// ToolCallDelta is a piece of a tool call; pieces with the same Index make one call.
type ToolCallDelta struct {
	Index    int          `json:"index"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}
