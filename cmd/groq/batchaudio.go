package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/groqkit/groq"
)

// audioLine is the body of a batch line for /v1/audio/transcriptions or
// /v1/audio/translations: audio by URL (a batch carries no file), as Groq's Batch
// API takes it.
type audioLine struct {
	Model                  string   `json:"model,omitempty"`
	URL                    string   `json:"url"`
	Language               string   `json:"language,omitempty"`
	Prompt                 string   `json:"prompt,omitempty"`
	ResponseFormat         string   `json:"response_format,omitempty"`
	Temperature            *float64 `json:"temperature,omitempty"`
	TimestampGranularities []string `json:"timestamp_granularities,omitempty"`
}

// audioEndpoint is the endpoint ("/audio/transcriptions" or
// "/audio/translations") a line's url names, or "".
func audioEndpoint(url string) string {
	for _, e := range []string{"/audio/transcriptions", "/audio/translations"} {
		if url == "/v1"+e || url == "/openai/v1"+e {
			return e
		}
	}
	return ""
}

// UnmarshalJSON reads a line strictly (an unknown field of the line is an error)
// and its body as the endpoint's: an audio body strictly, a chat body keeping
// every field (a Groq field newer than the client passes through).
func (l *batchLine) UnmarshalJSON(data []byte) error {
	var w struct {
		CustomID string          `json:"custom_id"`
		Method   string          `json:"method,omitempty"`
		URL      string          `json:"url,omitempty"`
		Body     json.RawMessage `json:"body"`
		Priority int             `json:"priority,omitempty"`
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return err
	}
	*l = batchLine{CustomID: w.CustomID, Method: w.Method, URL: w.URL, Priority: w.Priority}
	if len(w.Body) == 0 || string(w.Body) == "null" {
		return nil
	}
	if audioEndpoint(w.URL) != "" {
		l.audio = new(audioLine)
		d := json.NewDecoder(bytes.NewReader(w.Body))
		d.DisallowUnknownFields()
		if err := d.Decode(l.audio); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		return nil
	}
	l.Body = new(groq.ChatRequest)
	return json.Unmarshal(w.Body, l.Body)
}

// check says what is wrong with an audio body ("" when nothing).
func (a *audioLine) check() string {
	if !strings.HasPrefix(a.URL, "https://") && !strings.HasPrefix(a.URL, "http://") {
		return "an audio line needs the audio's http(s) url (a batch carries no file)"
	}
	return ""
}

// model is the line's model, or the endpoint's default.
func (a *audioLine) model(url string) string {
	switch {
	case a.Model != "":
		return a.Model
	case audioEndpoint(url) == "/audio/translations":
		return groq.DefaultTranslationModel
	}
	return groq.DefaultTranscriptionModel
}

// request is the line as the client's request.
func (a *audioLine) request(url string) *groq.TranscriptionRequest {
	return &groq.TranscriptionRequest{Model: a.model(url), URL: a.URL, Language: a.Language, Prompt: a.Prompt,
		ResponseFormat: a.ResponseFormat, Temperature: a.Temperature, TimestampGranularities: a.TimestampGranularities}
}

// callAudio sends an audio line and writes its output line.
func (b *batchRun) callAudio(ctx context.Context, l batchLine, opts []groq.CallOption) {
	req := l.audio.request(l.URL)
	var tr *groq.Transcription
	var err error
	if audioEndpoint(l.URL) == "/audio/translations" {
		tr, err = b.client.Translate(ctx, req, opts...)
	} else {
		tr, err = b.client.Transcribe(ctx, req, opts...)
	}
	var meta *groq.ResponseMeta
	if tr != nil {
		meta = &tr.Meta
	}
	b.writeLine(ctx, l.CustomID, tr, meta, err)
}
