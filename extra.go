package groq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// This file keeps the JSON fields that the client's types do not declare, so that
// a request decoded from JSON and sent, or a response decoded and encoded again,
// loses nothing: a field Groq adds next month passes through. A type that keeps
// them has an Extra map of the field names to their raw JSON.

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
