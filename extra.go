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

// isUnknownField reports whether err is a strict decoder's refusal of a field.
func isUnknownField(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "json: unknown field ")
}

// decodeKeeping decodes data into v (a pointer to a struct without its own
// UnmarshalJSON) and returns the fields v's type does not declare (nil when
// there are none). The common case, no such field, costs one strict decode.
func decodeKeeping(data []byte, v any, t reflect.Type) (map[string]json.RawMessage, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	err := d.Decode(v)
	if !isUnknownField(err) {
		return nil, err
	}
	reflect.ValueOf(v).Elem().SetZero()
	if err := json.Unmarshal(data, v); err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	k := known(t)
	for name := range all {
		if k[name] {
			delete(all, name)
		}
	}
	return all, nil
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
