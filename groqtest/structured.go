package groqtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// This file makes the simulator answer as Groq does when a request asks for tools
// or structured output: a tool call whose arguments fit the function's schema, or
// JSON content that fits the response format.

// toolCall is one tool call of an answer.
type toolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// toolChoice reads tool_choice: "none", "auto", "required", or a named function
// (name set). A missing choice is "auto".
func (r *request) toolChoice() (mode, name string, err error) {
	if len(r.ToolChoice) == 0 || string(r.ToolChoice) == "null" {
		return "auto", "", nil
	}
	var s string
	if json.Unmarshal(r.ToolChoice, &s) == nil {
		switch s {
		case "none", "auto", "required":
			return s, "", nil
		}
		return "", "", fmt.Errorf("'tool_choice' : value must be one of none, auto, required, or a function, got %q", s)
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(r.ToolChoice, &named) != nil || named.Function.Name == "" {
		return "", "", fmt.Errorf("'tool_choice' : must name a function")
	}
	return "function", named.Function.Name, nil
}

// validateStructure returns Groq's 400 message for tools and formats it rejects.
func (r *request) validateStructure() (msg, param string) {
	mode, name, err := r.toolChoice()
	if err != nil {
		return err.Error(), "tool_choice"
	}
	if (mode == "required" || mode == "function") && len(r.Tools) == 0 {
		return "`tool_choice` is only allowed when `tools` are specified", "tool_choice"
	}
	if mode == "function" && !slices.ContainsFunc(r.Tools, func(t tool) bool { return t.Function.Name == name }) {
		return fmt.Sprintf("`tool_choice` names function %q, which is not in `tools`", name), "tool_choice"
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text", "json_object":
		case "json_schema":
			if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
				return "'response_format.json_schema.schema' : property 'schema' is missing", "response_format"
			}
		default:
			return fmt.Sprintf("'response_format.type' : value must be one of text, json_object, json_schema, got %q", rf.Type), "response_format"
		}
	}
	return "", ""
}

// structuredAnswer decides the form of the answer to text: tool calls when the
// request requires them, JSON for a JSON response format, else text as it is.
func (r *request) structuredAnswer(text, reqID string) (content string, calls []toolCall) {
	mode, name, _ := r.toolChoice()
	if mode == "required" || mode == "function" {
		t := r.Tools[0]
		for _, c := range r.Tools {
			if c.Function.Name == name {
				t = c
			}
		}
		var call toolCall
		call.ID, call.Type, call.Function.Name = "call_"+shortHash(reqID+t.Function.Name), "function", t.Function.Name
		call.Function.Arguments = string(mustJSON(exampleValue(schemaOf(t.Function.Parameters), text, 0)))
		return "", []toolCall{call}
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			return string(mustJSON(map[string]any{"answer": text})), nil
		case "json_schema":
			return string(mustJSON(exampleValue(schemaOf(rf.JSONSchema.Schema), text, 0))), nil
		}
	}
	return text, nil
}

func schemaOf(raw json.RawMessage) map[string]any {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return map[string]any{"type": "object"}
	}
	return m
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("{}")
	}
	return b
}

// schemaType is the schema's type: its "type" (the first that is not "null" of
// a list), else "object" when it declares properties.
func schemaType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if xs, ok := x.(string); ok && xs != "null" {
				return xs
			}
		}
	}
	if _, ok := s["properties"]; ok {
		return "object"
	}
	return ""
}

// exampleValue builds a value that fits the JSON schema s: every declared property
// of an object, the first of an enum or of anyOf/oneOf, the minimum of a number,
// and text (within maxLength) for a string.
func exampleValue(s map[string]any, text string, depth int) any {
	if depth > 8 {
		return nil
	}
	if v, ok := s["const"]; ok {
		return v
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if alts, ok := s[k].([]any); ok && len(alts) > 0 {
			if m, ok := alts[0].(map[string]any); ok {
				return exampleValue(m, text, depth+1)
			}
		}
	}
	switch schemaType(s) {
	case "object":
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		names := make([]string, 0, len(props))
		for n := range props {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if p, ok := props[n].(map[string]any); ok {
				out[n] = exampleValue(p, text, depth+1)
			}
		}
		return out
	case "array":
		item, _ := s["items"].(map[string]any)
		n := 1
		if m, ok := s["minItems"].(float64); ok && int(m) > n {
			n = int(m)
		}
		if m, ok := s["maxItems"].(float64); ok && int(m) < n {
			n = int(m)
		}
		out := make([]any, n)
		for i := range out {
			out[i] = exampleValue(item, text, depth+1)
		}
		return out
	case "integer", "number":
		if m, ok := s["minimum"].(float64); ok {
			return m
		}
		if m, ok := s["exclusiveMinimum"].(float64); ok {
			return m + 1
		}
		return 0
	case "boolean":
		return true
	case "null":
		return nil
	case "string":
		if m, ok := s["maxLength"].(float64); ok && len(text) > int(m) {
			return strings.ToValidUTF8(text[:int(m)], "")
		}
		return text
	}
	return map[string]any{}
}
