package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/internal/atomicfile"
)

// transcribe is "groq transcribe FILE" (and, with translate, "groq translate
// FILE"): the file's speech as text, through the client (its limits, retries and
// priorities). --language names the spoken language, --format the answer's
// (text, json, verbose_json), --timestamps word,segment asks for timings (and
// verbose_json). The text is printed; with --json, or a JSON format, the whole
// answer as JSON.
func transcribe(o *options, args []string, e env, translate bool) int {
	name := map[bool]string{false: "transcribe", true: "translate"}[translate]
	if len(args) != 1 {
		fmt.Fprintf(e.stderr, "groq: %s takes one file or URL (groq %s FILE); see groq %s -h\n", name, name, name)
		return exitUsage
	}
	req, msg := o.transcriptionRequest(translate)
	if msg != "" {
		fmt.Fprintf(e.stderr, "groq: %s\n", msg)
		return exitUsage
	}
	if strings.HasPrefix(args[0], "https://") || strings.HasPrefix(args[0], "http://") {
		req.URL = args[0]
	} else {
		f, err := os.Open(args[0])
		if err != nil {
			fmt.Fprintf(e.stderr, "groq: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
			fmt.Fprintf(e.stderr, "groq: %s is not a regular file\n", args[0])
			return exitUsage
		}
		req.File, req.FileName = f, filepath.Base(args[0])
	}
	client, done, code := newClient(o, e)
	if client == nil {
		return code
	}
	defer done()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	call := client.Transcribe
	if translate {
		call = client.Translate
	}
	tr, err := call(ctx, req, groq.WithPriority(o.priority))
	if err != nil {
		return callFailed(e.stderr, err)
	}
	if o.jsonOut || req.ResponseFormat == "verbose_json" || req.ResponseFormat == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(tr)
		return exitOK
	}
	fmt.Fprintln(e.stdout, tr.Text)
	return exitOK
}

// transcriptionRequest is the request the flags make, or why they cannot make
// one, naming the flags.
func (o *options) transcriptionRequest(translate bool) (*groq.TranscriptionRequest, string) {
	req := &groq.TranscriptionRequest{Model: o.audioModel(""), Language: o.language, ResponseFormat: o.format}
	switch o.format {
	case "", "text", "json", "verbose_json":
	default:
		return nil, fmt.Sprintf("--format %q: Groq answers text, json or verbose_json (not srt or vtt)", o.format)
	}
	if translate && o.language != "" {
		return nil, "--language: a translation is always to English; leave --language out"
	}
	if o.timestamps == "" {
		return req, ""
	}
	req.TimestampGranularities = strings.Split(o.timestamps, ",")
	for _, g := range req.TimestampGranularities {
		if g != "word" && g != "segment" {
			return nil, fmt.Sprintf("--timestamps %q: Groq takes word, segment or word,segment", o.timestamps)
		}
	}
	switch req.ResponseFormat {
	case "":
		req.ResponseFormat = "verbose_json"
	case "verbose_json":
	default:
		return nil, fmt.Sprintf("--timestamps needs --format verbose_json (or no --format), not --format %s", req.ResponseFormat)
	}
	return req, ""
}

// flagFields name the command's flags for the request fields the client's
// errors name.
var flagFields = map[string]string{
	"timestamp_granularities": "--timestamps", "response_format": "--format", "language": "--language",
	"model": "--model", "voice": "--voice", "temperature": "--temperature", "max_completion_tokens": "--max-tokens",
	"speed": "--speed", "file": "FILE", "file_name": "FILE", "url": "URL", "input": "TEXT",
}

// flagError is a refused request in the command's words: "--timestamps needs
// --format verbose_json", not the library's field names.
func flagError(e *groq.RequestError) string {
	field, ok := flagFields[e.Field]
	if !ok {
		return strings.TrimPrefix(e.Error(), "groq: ")
	}
	reason := strings.NewReplacer("ResponseFormat", "--format", "File and URL", "a file and a URL").Replace(e.Reason)
	return "invalid request: " + field + ": " + reason
}

// speak is "groq speak TEXT -o out.wav": the text as speech, written to the
// output file (replaced whole, never left half written).
func speak(o *options, args []string, e env) int {
	switch {
	case len(args) == 0:
		fmt.Fprintln(e.stderr, "groq: speak needs the text (groq speak TEXT -o out.wav)")
		return exitUsage
	case o.output == "":
		fmt.Fprintln(e.stderr, "groq: speak needs -o FILE, where the audio goes")
		return exitUsage
	}
	if err := regularOrAbsent("-o", o.output); err != nil {
		fmt.Fprintf(e.stderr, "groq: %v; nothing was done\n", err)
		return exitUsage
	}
	o.noCache = true
	format := o.format
	if format == "" {
		format = strings.TrimPrefix(filepath.Ext(o.output), ".")
		if format == "" {
			format = "wav"
		}
	}
	client, done, code := newClient(o, e)
	if client == nil {
		return code
	}
	defer done()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sp, err := client.Speech(ctx, &groq.SpeechRequest{Model: o.model, Input: strings.Join(args, " "), Voice: o.voice, ResponseFormat: format},
		groq.WithPriority(o.priority))
	if err != nil {
		return callFailed(e.stderr, err)
	}
	if err := atomicfile.Write(o.output, sp.Audio, true); err != nil {
		fmt.Fprintf(e.stderr, "groq: writing %s: %v\n", o.output, err)
		return exitAPI
	}
	note := ""
	if o.simulated {
		note = " (simulated: the built-in simulator's silence)"
	}
	fmt.Fprintf(e.stdout, "%s: %d bytes of %s%s\n", o.output, len(sp.Audio), sp.ContentType, note)
	return exitOK
}

// audioModel is --model, or def.
func (o *options) audioModel(def string) string {
	if o.model != "" {
		return o.model
	}
	return def
}
