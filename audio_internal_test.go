package groq

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"testing"

	"github.com/groqkit/groq/internal/audio"
)

// FuzzTranscriptionMultipart: whatever the request's strings, buildTranscription
// refuses them with a *RequestError or writes a body that parses back to exactly
// the fields given, the file intact.
func FuzzTranscriptionMultipart(f *testing.F) {
	f.Add("talk.wav", "a prompt", "en", "verbose_json", "word", "whisper-large-v3", false)
	f.Add("a\"b.mp3", "", "", "", "", "m", true)
	f.Add("x.flac", "line\r\nbreak", "fr", "text", "segment", "whisper-large-v3-turbo", false)
	f.Fuzz(func(t *testing.T, name, prompt, lang, format, gran, model string, useURL bool) {
		r := &TranscriptionRequest{Model: model, FileName: name, Prompt: prompt, Language: lang, ResponseFormat: format}
		if gran != "" {
			r.TimestampGranularities = []string{gran}
		}
		wav := audio.WAV(0.5, 8000)
		if useURL {
			r.URL = "https://example.com/a.wav"
		} else {
			r.File = bytes.NewReader(wav) // read again for each attempt
			if len(prompt)%2 == 1 {
				r.File = io.MultiReader(bytes.NewReader(wav)) // copied into the body
			}
		}
		tb, err := buildTranscription(r, false, func(string) float64 { return defaultAudioRate })
		body, _ := io.ReadAll(tb.open())
		ct, cost := tb.contentType, tb.cost
		if int64(len(body)) != tb.length() {
			t.Fatalf("the body is %d bytes, its length says %d", len(body), tb.length())
		}
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("not a *RequestError: %v", err)
			}
			return
		}
		if cost < MinAudioSeconds {
			t.Fatalf("cost %d", cost)
		}
		_, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("the body does not parse: %v", err)
			}
			data, _ := io.ReadAll(p)
			if p.FormName() == "file" {
				if !bytes.Equal(data, wav) {
					t.Fatal("the file changed")
				}
				if name != "" && p.FileName() != name {
					t.Fatalf("file name %q, want %q", p.FileName(), name)
				}
			}
			got[p.FormName()] = string(data)
		}
		want := map[string]string{"model": model, "language": lang, "prompt": prompt, "response_format": format, "timestamp_granularities[]": gran}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: got %q, want %q", k, got[k], v)
			}
		}
	})
}
