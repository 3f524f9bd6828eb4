package groq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/groqkit/groq/internal/retry"
)

// This file holds the wire types: what a chat request, its answer and a model
// are in JSON, with their checks (Validate); the x-ratelimit-* headers read into
// RateLimitInfo; and, at its end, the JSON fields a type does not declare, which
// pass through in its Extra map.

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
	// ExecutedTools are the tools a compound model ran on the server (web search,
	// code, a browser), in an answer's message.
	ExecutedTools []ExecutedTool `json:"executed_tools,omitempty"`
	// Annotations are an answer's citations of the request's documents or of
	// function results.
	Annotations []Annotation `json:"annotations,omitempty"`
	// Extra holds the fields of a decoded message that Message does not declare,
	// as their raw JSON; they are encoded again as they came.
	Extra map[string]json.RawMessage `json:"-"`
}

// ExecutedTool is one tool a compound model ran on the server. The results are
// kept as raw JSON (their shape depends on the tool).
type ExecutedTool struct {
	Index          int             `json:"index"`
	Type           string          `json:"type"` // search, visit, python, browser_automation, wolfram_alpha...
	Arguments      string          `json:"arguments,omitempty"`
	Output         string          `json:"output,omitempty"`
	SearchResults  json.RawMessage `json:"search_results,omitempty"`
	CodeResults    json.RawMessage `json:"code_results,omitempty"`
	BrowserResults json.RawMessage `json:"browser_results,omitempty"`
}

// Annotation is a citation in an answer: Type "document_citation" (with
// DocumentCitation) or "function_citation" (with FunctionCitation), each kept as
// raw JSON.
type Annotation struct {
	Type             string          `json:"type"`
	DocumentCitation json.RawMessage `json:"document_citation,omitempty"`
	FunctionCitation json.RawMessage `json:"function_citation,omitempty"`
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
	data, err := m.marshal()
	if err != nil {
		return nil, err
	}
	return withExtra(data, m.Extra, messageWireType)
}

var messageWireType = reflect.TypeFor[messageWire]()

func (m Message) marshal() ([]byte, error) {
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

// UnmarshalJSON reads content given as a string, an array of parts, or null, and
// keeps undeclared fields in Extra.
func (m *Message) UnmarshalJSON(data []byte) error {
	var w messageWire
	extra, err := decodeKeeping(data, &w)
	if err != nil {
		return err
	}
	*m = Message(w.messageAlias)
	m.Extra = extra
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

// Tool describes a tool the model may use: a function (Type "function", with
// Function), or one of Groq's built-in tools ("browser_search",
// "code_interpreter"), which take no function.
type Tool struct {
	Type     string       `json:"type"` // "function", "browser_search", "code_interpreter"
	Function ToolFunction `json:"function"`
}

// Built-in tool types (Groq's), beside "function".
const (
	ToolBrowserSearch   = "browser_search"
	ToolCodeInterpreter = "code_interpreter"
)

// MarshalJSON omits the function of a built-in tool that has none.
func (t Tool) MarshalJSON() ([]byte, error) {
	if t.Type != "" && t.Type != "function" && t.Function.Name == "" && t.Function.Description == "" && t.Function.Parameters == nil && t.Function.Strict == nil {
		return json.Marshal(struct {
			Type string `json:"type"`
		}{t.Type})
	}
	type plain Tool
	return json.Marshal(plain(t))
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
	Model string `json:"model"`
	// Models is an ordered list of the models the caller accepts, the first
	// preferred (OpenRouter's "models"): the call goes to the first that can take
	// it now (see WithModels). It is never sent to Groq, which is sent one model,
	// the one chosen. A Model that is set, is no route and is not in the list is
	// tried first (and counts toward MaxModels); one in the list keeps its place.
	Models              []string        `json:"models,omitempty"`
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

	// Groq's own fields.
	Documents             []Document      `json:"documents,omitempty"`        // context the answer may cite
	CitationOptions       string          `json:"citation_options,omitempty"` // "enabled" or "disabled"
	SearchSettings        *SearchSettings `json:"search_settings,omitempty"`
	CompoundCustom        *CompoundCustom `json:"compound_custom,omitempty"`
	DisableToolValidation *bool           `json:"disable_tool_validation,omitempty"`

	// Extra holds fields the type does not declare: those of a request decoded
	// from JSON, and those set with SetExtra. They are sent as they are, after the
	// declared fields; a declared field's name is never taken from Extra.
	Extra map[string]json.RawMessage `json:"-"`
}

// Document is a piece of context for the answer to cite: a text or a JSON value.
type Document struct {
	ID     string         `json:"id,omitempty"`
	Source DocumentSource `json:"source"`
}

// DocumentSource is a document's content: Type "text" with Text, or "json" with
// Data.
type DocumentSource struct {
	Type string          `json:"type"`
	Text string          `json:"text,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// TextDocument is a document of plain text.
func TextDocument(id, text string) Document {
	return Document{ID: id, Source: DocumentSource{Type: "text", Text: text}}
}

// SearchSettings steers a compound model's web search.
type SearchSettings struct {
	Country        string   `json:"country,omitempty"`
	IncludeDomains []string `json:"include_domains,omitempty"`
	ExcludeDomains []string `json:"exclude_domains,omitempty"`
	IncludeImages  *bool    `json:"include_images,omitempty"`
}

// CompoundCustom configures a compound system: its inner models and its tools.
type CompoundCustom struct {
	Models *CompoundModels `json:"models,omitempty"`
	Tools  *CompoundTools  `json:"tools,omitempty"`
}

// CompoundModels names a compound system's inner models.
type CompoundModels struct {
	AnsweringModel string `json:"answering_model,omitempty"`
	ReasoningModel string `json:"reasoning_model,omitempty"`
}

// CompoundTools chooses a compound system's tools.
type CompoundTools struct {
	EnabledTools    []string         `json:"enabled_tools,omitempty"`
	WolframSettings *WolframSettings `json:"wolfram_settings,omitempty"`
}

// WolframSettings holds the Wolfram Alpha key a compound system uses.
type WolframSettings struct {
	Authorization string `json:"authorization,omitempty"`
}

type chatRequestAlias ChatRequest

var chatRequestType = reflect.TypeFor[chatRequestAlias]()

// MarshalJSON writes the declared fields, then Extra's.
func (r ChatRequest) MarshalJSON() ([]byte, error) {
	return encodeKeeping(chatRequestAlias(r), r.Extra)
}

// UnmarshalJSON reads a request and keeps the fields it does not declare in
// Extra.
func (r *ChatRequest) UnmarshalJSON(data []byte) error {
	var a chatRequestAlias
	extra, err := decodeKeeping(data, &a)
	if err != nil {
		return err
	}
	*r = ChatRequest(a)
	r.Extra = extra
	return nil
}

// SetExtra sets a field the type does not declare (a Groq field newer than this
// client): value is encoded as JSON, or used as it is when it is a
// json.RawMessage. Naming a declared field is an error (set the field instead),
// and so is a value that does not encode.
func (r *ChatRequest) SetExtra(name string, value any) error {
	if name == "" || known(chatRequestType)[name] {
		return &RequestError{Field: name, Reason: "a declared field (or empty); set it on the struct"}
	}
	raw, ok := value.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(value); err != nil {
			return &RequestError{Field: name, Reason: err.Error()}
		}
	} else if !json.Valid(raw) {
		return &RequestError{Field: name, Reason: "not valid JSON"}
	}
	if r.Extra == nil {
		r.Extra = map[string]json.RawMessage{}
	}
	r.Extra[name] = raw
	return nil
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
	UsageBreakdown    *UsageBreakdown `json:"usage_breakdown,omitempty"` // a compound call's inner models
	SystemFingerprint string          `json:"system_fingerprint,omitempty"`
	ServiceTier       string          `json:"service_tier,omitempty"`
	XGroq             *XGroq          `json:"x_groq,omitempty"`

	// Extra holds the fields of the answer that ChatResponse does not declare, as
	// their raw JSON; they are encoded again as they came.
	Extra map[string]json.RawMessage `json:"-"`

	Meta ResponseMeta `json:"-"`

	body []byte // the answer as the server sent it (Body)
}

// Body is the answer's JSON exactly as the server sent it, for a caller that
// passes it on unchanged (a gateway), saving its encoding again. It is nil for
// an answer from the cache or assembled from a stream, and for one built by
// hand. The bytes are shared: do not modify them.
func (r *ChatResponse) Body() []byte { return r.body }

// UsageBreakdown is the usage of each model a compound call ran.
type UsageBreakdown struct {
	Models []ModelUsage `json:"models"`
}

// ModelUsage is one inner model's usage in a compound call.
type ModelUsage struct {
	Model string `json:"model"`
	Usage Usage  `json:"usage"`
}

type chatResponseAlias ChatResponse

// MarshalJSON writes the declared fields, then Extra's.
func (r ChatResponse) MarshalJSON() ([]byte, error) {
	return encodeKeeping(chatResponseAlias(r), r.Extra)
}

// UnmarshalJSON reads an answer and keeps the fields it does not declare in
// Extra.
func (r *ChatResponse) UnmarshalJSON(data []byte) error {
	var a chatResponseAlias
	extra, err := decodeKeeping(data, &a)
	if err != nil {
		return err
	}
	*r = ChatResponse(a)
	r.Extra = extra
	return nil
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
	// Extra holds the fields Choice does not declare, as their raw JSON.
	Extra map[string]json.RawMessage `json:"-"`
}

type choiceAlias Choice

// MarshalJSON writes the declared fields, then Extra's.
func (c Choice) MarshalJSON() ([]byte, error) {
	return encodeKeeping(choiceAlias(c), c.Extra)
}

// UnmarshalJSON keeps the fields Choice does not declare in Extra.
func (c *Choice) UnmarshalJSON(data []byte) error {
	var a choiceAlias
	extra, err := decodeKeeping(data, &a)
	if err != nil {
		return err
	}
	*c = Choice(a)
	c.Extra = extra
	return nil
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
	// DramCachedTokens and SramCachedTokens are the prompt tokens served from
	// Groq's caches, as x_groq.usage reports them.
	DramCachedTokens int `json:"dram_cached_tokens,omitempty"`
	SramCachedTokens int `json:"sram_cached_tokens,omitempty"`
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

// Model is one of the API's models, as GET /models describes it.
type Model struct {
	ID            string `json:"id"`
	Object        string `json:"object,omitempty"`
	Created       int64  `json:"created,omitempty"`
	OwnedBy       string `json:"owned_by,omitempty"`
	Active        bool   `json:"active"`
	ContextWindow int    `json:"context_window,omitempty"` // tokens, prompt and completion together
}

// RateLimitInfo is what Groq's x-ratelimit-* headers said on one response, with
// Groq's meanings: the request figures are per day (RPD), the token figures per
// minute (TPM). OpenAI's headers of the same names mean per-minute requests; these
// do not. A figure the response did not carry is -1 (counts) or 0 (durations), and
// Present is false when none of the headers was there.
type RateLimitInfo struct {
	Present bool

	RequestsPerDay     int           // x-ratelimit-limit-requests
	RequestsLeftToday  int           // x-ratelimit-remaining-requests
	RequestsResetIn    time.Duration // x-ratelimit-reset-requests: until the RPD bucket is full
	TokensPerMinute    int           // x-ratelimit-limit-tokens
	TokensLeftInMinute int           // x-ratelimit-remaining-tokens
	TokensResetIn      time.Duration // x-ratelimit-reset-tokens: until the TPM bucket is full

	// ObservedAt is when the response carrying these values arrived.
	ObservedAt time.Time
}

// Validate checks r as the client does before any network call (roles, content,
// sampling ranges, max tokens, stop sequences, tools) and returns a *RequestError
// naming the first field that is wrong. An empty model is allowed: the client's
// default model applies to it.
func (r *ChatRequest) Validate() error {
	if strings.TrimSpace(r.Model) == "" {
		cp := *r
		cp.Model = DefaultModel
		return validateRequest(&cp)
	}
	return validateRequest(r)
}

func validateRequest(r *ChatRequest) error {
	if strings.TrimSpace(r.Model) == "" {
		return &RequestError{Field: "model", Reason: "empty"}
	}
	if len(r.Messages) == 0 {
		return &RequestError{Field: "messages", Reason: "no messages"}
	}
	for i, m := range r.Messages {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant, RoleTool:
		case "":
			return &RequestError{Field: fmt.Sprintf("messages[%d].role", i), Reason: "empty role"}
		default:
			return &RequestError{Field: fmt.Sprintf("messages[%d].role", i), Reason: fmt.Sprintf("unknown role %q", m.Role)}
		}
		if (m.Role == RoleUser || m.Role == RoleSystem) && strings.TrimSpace(m.Content) == "" && len(m.Parts) == 0 {
			return &RequestError{Field: fmt.Sprintf("messages[%d].content", i), Reason: "empty " + m.Role + " message"}
		}
		if m.Role == RoleTool && m.ToolCallID == "" {
			return &RequestError{Field: fmt.Sprintf("messages[%d].tool_call_id", i), Reason: "a tool message needs the id of the call it answers"}
		}
		// JSON would send U+FFFD for each bad byte while the cache key kept them:
		// refused, so that what is sent, cached and billed is what was written.
		if !utf8.ValidString(m.Content) {
			return &RequestError{Field: fmt.Sprintf("messages[%d].content", i), Reason: "not valid UTF-8"}
		}
		for j, p := range m.Parts {
			if !utf8.ValidString(p.Text) {
				return &RequestError{Field: fmt.Sprintf("messages[%d].content[%d].text", i, j), Reason: "not valid UTF-8"}
			}
		}
	}
	if r.Temperature != nil && !(*r.Temperature >= 0 && *r.Temperature <= 2) {
		return &RequestError{Field: "temperature", Reason: fmt.Sprintf("%v is outside [0, 2]", *r.Temperature)}
	}
	if r.TopP != nil && !(*r.TopP >= 0 && *r.TopP <= 1) {
		return &RequestError{Field: "top_p", Reason: fmt.Sprintf("%v is outside [0, 1]", *r.TopP)}
	}
	if n := r.completionLimit(); n < 0 || (n == 0 && (r.MaxCompletionTokens != nil || r.MaxTokens != nil)) {
		return &RequestError{Field: "max_completion_tokens", Reason: fmt.Sprintf("%d is not positive", n)}
	}
	if len(r.Stop) > 4 {
		return &RequestError{Field: "stop", Reason: fmt.Sprintf("%d stop sequences; Groq takes at most 4", len(r.Stop))}
	}
	if len(r.Tools) > 128 {
		return &RequestError{Field: "tools", Reason: fmt.Sprintf("%d tools; Groq takes at most 128", len(r.Tools))}
	}
	return nil
}

// The rate-limit headers.

// parseRateLimitHeaders reads Groq's x-ratelimit-* headers. Values that do not parse
// are left unknown rather than guessed.
func parseRateLimitHeaders(h http.Header, now time.Time) RateLimitInfo {
	info := RateLimitInfo{
		RequestsPerDay: -1, RequestsLeftToday: -1,
		TokensPerMinute: -1, TokensLeftInMinute: -1,
		ObservedAt: now,
	}
	num := func(name string, dst *int) {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			return
		}
		info.Present = true
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			*dst = n
		}
	}
	dur := func(name string, dst *time.Duration) {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			return
		}
		info.Present = true
		if d, ok := parseResetDuration(v); ok {
			*dst = d
		}
	}
	num("X-Ratelimit-Limit-Requests", &info.RequestsPerDay)
	num("X-Ratelimit-Remaining-Requests", &info.RequestsLeftToday)
	dur("X-Ratelimit-Reset-Requests", &info.RequestsResetIn)
	num("X-Ratelimit-Limit-Tokens", &info.TokensPerMinute)
	num("X-Ratelimit-Remaining-Tokens", &info.TokensLeftInMinute)
	dur("X-Ratelimit-Reset-Tokens", &info.TokensResetIn)
	return info
}

// parseResetDuration reads Groq's reset values ("2m59.56s", "7.66s", "150ms"); a
// bare number is taken as seconds.
func parseResetDuration(v string) (time.Duration, bool) {
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d, true
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && retry.SaneSeconds(s) {
		return retry.SecondsToDuration(s), true
	}
	return 0, false
}

// Unknown fields. The client keeps the JSON fields that its types do not
// declare, so that a request decoded from JSON and sent, or a response decoded
// and encoded again, loses nothing: a field Groq adds next month passes through.
// A type that keeps them has an Extra map of the field names to their raw JSON.

// knownFields are the JSON names a struct type declares, by type.
var knownFields sync.Map // reflect.Type -> map[string]bool

// known is t's declared JSON field names (embedded structs' included).
func known(t reflect.Type) map[string]bool {
	if m, ok := knownFields.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && name == "":
			for k := range known(f.Type) {
				m[k] = true
			}
		case name != "":
			m[name] = true
		case f.IsExported():
			m[f.Name] = true
		}
	}
	knownFields.Store(t, m)
	return m
}

// decodeKeeping decodes data into v (a struct without its own UnmarshalJSON) and
// returns the fields T does not declare (nil when there are none). The common
// case, no such field, costs a scan of the object's keys beside the decoding.
func decodeKeeping[T any](data []byte, v *T) (map[string]json.RawMessage, error) {
	if err := json.Unmarshal(data, v); err != nil {
		return nil, err
	}
	k := known(reflect.TypeFor[T]())
	if !hasUnknownKey(data, k) {
		return nil, nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	for name := range all {
		if k[name] {
			delete(all, name)
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	return all, nil
}

// hasUnknownKey reports whether the JSON object data (already decoded, so
// valid) has a key that is not in known. A key written with an escape counts as
// unknown: the slow path then reads it properly.
func hasUnknownKey(data []byte, known map[string]bool) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i++
	for {
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != '"' {
			return false // "}" or the end
		}
		start := i + 1
		end := start
		for end < len(data) && data[end] != '"' {
			if data[end] == '\\' {
				return true
			}
			end++
		}
		if end >= len(data) {
			return false
		}
		if !known[string(data[start:end])] { // no allocation: the compiler looks the bytes up as they are
			return true
		}
		i = skipSpace(data, end+1)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipValue(data, skipSpace(data, i+1))
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != ',' {
			return false
		}
		i++
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value at i.
func skipValue(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		switch c := data[i]; c {
		case '"':
			i++
			for i < len(data) && data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
			i++
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

// encodeKeeping encodes v (a struct without its own MarshalJSON), then extra's
// fields that T does not declare.
func encodeKeeping[T any](v T, extra map[string]json.RawMessage) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return withExtra(data, extra, reflect.TypeFor[T]())
}

// withExtra appends extra's fields (those t does not declare) to data, the JSON
// object of a value of type t, in name order.
func withExtra(data []byte, extra map[string]json.RawMessage, t reflect.Type) ([]byte, error) {
	if len(extra) == 0 {
		return data, nil
	}
	k := known(t)
	names := make([]string, 0, len(extra))
	for name := range extra {
		if !k[name] {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := bytes.TrimRight(data, " \n")
	if len(out) == 0 || out[len(out)-1] != '}' {
		return nil, fmt.Errorf("groq: %s did not encode as a JSON object", t)
	}
	out = out[:len(out)-1]
	for _, name := range names {
		v := extra[name]
		if !json.Valid(v) {
			return nil, fmt.Errorf("groq: extra field %q is not valid JSON", name)
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		key, _ := json.Marshal(name)
		out = append(append(append(out, key...), ':'), v...)
	}
	return append(out, '}'), nil
}
