package groq

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readAllEvents(r io.Reader) ([]string, error) {
	s := newSSEReader(r)
	var out []string
	for {
		data, err := s.next()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out = append(out, string(data))
	}
}

func TestSSEReader(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	tests := []struct {
		name string
		in   string
		want []string
		err  error
	}{
		{"plain", "data: a\n\ndata: b\n\n", []string{"a", "b"}, nil},
		{"no space after colon", "data:a\n\n", []string{"a"}, nil},
		{"CRLF", "data: a\r\n\r\ndata: b\r\n\r\n", []string{"a", "b"}, nil},
		{"comments and blank lines", ": keep-alive\n\n\n\ndata: a\n: note\n\n", []string{"a"}, nil},
		{"multi-line data", "data: {\"a\":\ndata: 1}\n\n", []string{"{\"a\":\n1}"}, nil},
		{"other fields ignored", "event: message\nid: 7\nretry: 100\ndata: a\n\n", []string{"a"}, nil},
		{"event with no data skipped", "event: ping\n\ndata: a\n\n", []string{"a"}, nil},
		{"very long line", "data: " + long + "\n\n", []string{long}, nil},
		{"done", "data: a\n\ndata: [DONE]\n\n", []string{"a", "[DONE]"}, nil},
		{"cut inside an event", "data: a\n\ndata: b", []string{"a"}, errIncompleteEvent},
		{"cut after data line", "data: a\n\ndata: b\n", []string{"a"}, errIncompleteEvent},
		{"empty", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAllEvents(strings.NewReader(tt.in))
			assert.Equal(t, tt.err, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// chunkedReader returns its data in pieces of random sizes, as a network does.
type chunkedReader struct {
	data []byte
	rnd  *rand.Rand
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data), 1+r.rnd.IntN(7))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzSSEReader: the reader never panics on any input, and never loses a complete
// event, however the bytes are split.
func FuzzSSEReader(f *testing.F) {
	f.Add([]byte("data: a\n\ndata: b\n\n"), uint64(1))
	f.Add([]byte("data: {\"x\":1}\r\n\r\n: c\ndata: [DONE]\n\n"), uint64(2))
	f.Add([]byte("data:\ndata\n\n\r\r\n"), uint64(3))
	f.Fuzz(func(t *testing.T, raw []byte, seed uint64) {
		// Any input: no panic.
		readAllEvents(&chunkedReader{data: raw, rnd: rand.New(rand.NewPCG(seed, 1))})

		// Payloads made from the input, framed properly: all come back, in order.
		var payloads []string
		for _, p := range bytes.Split(raw, []byte{0}) {
			p = bytes.Map(func(r rune) rune {
				if r == '\n' || r == '\r' {
					return -1
				}
				return r
			}, p)
			payloads = append(payloads, string(p))
		}
		var framed bytes.Buffer
		for _, p := range payloads {
			framed.WriteString("data: " + p + "\n\n")
		}
		got, err := readAllEvents(&chunkedReader{data: framed.Bytes(), rnd: rand.New(rand.NewPCG(seed, 2))})
		require.NoError(t, err)
		require.Len(t, got, len(payloads))
		for i := range payloads {
			if got[i] != payloads[i] {
				t.Fatalf("event %d = %q; want %q", i, got[i], payloads[i])
			}
		}
	})
}

// benchEvents is 1 MiB of typical chunk events.
func benchEvents() []byte {
	chunk := `{"id":"chatcmpl-b610d559","object":"chat.completion.chunk","created":1770770843,"model":"llama-3.3-70b-versatile","system_fingerprint":"fp_f8b414701e","choices":[{"index":0,"delta":{"content":" some words of the answer"},"logprobs":null,"finish_reason":null}]}`
	var buf bytes.Buffer
	for buf.Len() < 1<<20 {
		buf.WriteString("data: " + chunk + "\n\n")
	}
	return buf.Bytes()
}

func BenchmarkSSEParse(b *testing.B) {
	data := benchEvents()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s := newSSEReader(bytes.NewReader(data))
		for {
			if _, err := s.next(); err != nil {
				break
			}
		}
	}
}

// BenchmarkStreamDecode measures SSE framing plus JSON decoding of each chunk, the
// whole cost of reading a stream.
func BenchmarkStreamDecode(b *testing.B) {
	data := benchEvents()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s := &Stream{ctx: context.Background(), sse: newSSEReader(bytes.NewReader(data))}
		for {
			if _, _, err := s.read(); err != nil {
				break
			}
		}
	}
}
