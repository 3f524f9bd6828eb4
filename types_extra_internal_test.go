package groq

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

// FuzzHasUnknownKey: on any JSON object, the key scan never misses a key that is
// not known (it may err on the side of the slow path only for escaped keys).
func FuzzHasUnknownKey(f *testing.F) {
	f.Add(`{"id":"x","choices":[{"a":1}],"n":null,"b":true}`)
	f.Add(`{"id":"x\"y","extra":{"id":[1,2,{"z":"}"}]}}`)
	f.Add(`{ "id" : 1 , "obj\u0065ct" : 2 }`)
	f.Add(`{}`)
	known := map[string]bool{"id": true, "object": true, "choices": true}
	f.Fuzz(func(t *testing.T, s string) {
		var all map[string]json.RawMessage
		if json.Unmarshal([]byte(s), &all) != nil {
			return
		}
		truth := false
		for k := range all {
			if !known[k] {
				truth = true
			}
		}
		if got := hasUnknownKey([]byte(s), known); truth && !got {
			t.Fatalf("%s: missed an unknown key", s)
		}
	})
}

func TestHasUnknownKey(t *testing.T) {
	known := map[string]bool{"id": true, "choices": true}
	assert.False(t, hasUnknownKey([]byte(`{"id":"a,}b","choices":[{"x":1},"]"]}`), known))
	assert.True(t, hasUnknownKey([]byte(`{"id":"a","choices":[],"new":1}`), known))
	assert.True(t, hasUnknownKey([]byte(` {"new": {"id": 1}} `), known))
	assert.False(t, hasUnknownKey([]byte(`{}`), known))
}
