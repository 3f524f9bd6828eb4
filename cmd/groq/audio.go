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

// transcribe is "groq transcribe FILE": the file's speech as text, through the
// client (its limits, retries and priorities). --language names the spoken
// language, --format the answer's (text, json, verbose_json), --timestamps
// word,segment asks for timings (and verbose_json). The text is printed; with
// --json, or a verbose answer, the whole answer as JSON.
func transcribe(o *options, args []string, e env) int {
	if len(args) != 1 {
		fmt.Fprintln(e.stderr, "groq: transcribe takes one file (groq transcribe FILE); see groq transcribe -h")
		return exitUsage
	}
	o.noCache = true
	req := &groq.TranscriptionRequest{Model: o.audioModel(""), Language: o.language, ResponseFormat: o.format}
	if o.timestamps != "" {
		req.TimestampGranularities = strings.Split(o.timestamps, ",")
		if req.ResponseFormat == "" {
			req.ResponseFormat = "verbose_json"
		}
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
	tr, err := client.Transcribe(ctx, req, groq.WithPriority(o.priority))
	if err != nil {
		return callFailed(e.stderr, err)
	}
	if o.jsonOut || req.ResponseFormat == "verbose_json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(tr)
		return exitOK
	}
	fmt.Fprintln(e.stdout, tr.Text)
	return exitOK
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
