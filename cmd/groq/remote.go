package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/internal/batchapi"
)

// Remote mode: the work list goes through Groq's Batch API. The lines not yet
// answered in OUT are uploaded as one file and run as one batch; the batch's id is
// kept beside OUT (OUT.batch) until its results are in OUT, so that running the
// same command again picks the batch up instead of starting another (nothing is
// paid for twice).

// pendingPath is where a remote batch's id waits for its results.
func pendingPath(output string) string { return output + ".batch" }

// runRemote is "groq batch --remote IN.jsonl -o OUT.jsonl".
func runRemote(o *options, e env, client *groq.Client, lines []batchLine, done map[string]bool, inName string) int {
	defModel := o.chatModel()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if id, err := os.ReadFile(pendingPath(o.output)); err == nil && strings.TrimSpace(string(id)) != "" {
		batchID := strings.TrimSpace(string(id))
		fmt.Fprintf(e.stderr, "groq: %s has batch %s from an earlier run; picking it up (nothing is uploaded)\n", pendingPath(o.output), batchID)
		return awaitRemote(ctx, o, e, client, batchID)
	}
	var data bytes.Buffer
	n := 0
	for _, l := range lines {
		if done[l.CustomID] {
			continue
		}
		var b []byte
		var err error
		if l.audio != nil {
			a := *l.audio
			a.Model = a.model(l.URL)
			b, err = json.Marshal(struct {
				CustomID string     `json:"custom_id"`
				Method   string     `json:"method"`
				URL      string     `json:"url"`
				Body     *audioLine `json:"body"`
			}{l.CustomID, "POST", "/v1" + audioEndpoint(l.URL), &a})
		} else {
			b, err = remoteChatLine(l, defModel)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "groq: line %d: %v\n", l.line, err)
			return exitUsage
		}
		data.Write(b)
		data.WriteByte('\n')
		n++
	}
	if n == 0 {
		fmt.Fprintf(e.stderr, "groq: every line already has an answer in %s; nothing to send\n", o.output)
		return exitOK
	}
	if data.Len() > groq.MaxBatchFileBytes {
		fmt.Fprintf(e.stderr, "groq: the %d lines make %d bytes, more than the %d of one Groq batch file; split the input\n", n, data.Len(), groq.MaxBatchFileBytes)
		return exitUsage
	}
	if o.dryRun {
		fmt.Fprintf(e.stdout, "would upload %d lines (%d bytes; %d already done in %s) and run them as one Groq batch with a %s completion window; nothing was sent\n",
			n, data.Len(), len(done), o.output, o.window)
		return exitOK
	}
	f, err := client.UploadFile(ctx, filepath.Base(inName), data.Bytes(), groq.FilePurposeBatch)
	if err != nil {
		fmt.Fprintln(e.stderr, describeError(err))
		return exitAPI
	}
	b, err := client.CreateBatch(ctx, groq.BatchParams{InputFileID: f.ID, CompletionWindow: o.window})
	if err != nil {
		fmt.Fprintln(e.stderr, describeError(err))
		return exitAPI
	}
	if !o.simulated { // the simulator's batch ends with this process: nothing to pick up later
		if err := os.WriteFile(pendingPath(o.output), []byte(b.ID+"\n"), 0o600); err != nil {
			fmt.Fprintf(e.stderr, "groq: batch %s was created, but its id could not be kept: %v\n", b.ID, err)
		}
	}
	fmt.Fprintf(e.stderr, "groq: uploaded %d lines as %s; batch %s created (completion window %s)\n", n, f.ID, b.ID, b.CompletionWindow)
	if !o.wait && o.simulated {
		fmt.Fprintln(e.stderr, "groq: the built-in simulator's batches end with this command, so --wait=false has nothing to leave running; waiting instead")
	} else if !o.wait {
		fmt.Fprintln(e.stdout, b.ID)
		fmt.Fprintf(e.stderr, "groq: `groq batch status %s` tells where it stands; `groq batch results %s -o %s` (or this command again) fetches the results\n", b.ID, b.ID, o.output)
		return exitOK
	}
	return awaitRemote(ctx, o, e, client, b.ID)
}

// awaitRemote polls a batch until it ends, with a line each time it moves, and
// writes its results into OUT.
func awaitRemote(ctx context.Context, o *options, e env, client *groq.Client, id string) int {
	last := ""
	b, err := client.WaitBatch(ctx, id, o.poll, func(b *groq.Batch) {
		line := describeBatch(b)
		if line != last {
			fmt.Fprintf(e.stderr, "groq: %s\n", line)
			last = line
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(e.stderr, "groq: stopped waiting; batch %s goes on at Groq: `groq batch results %s -o %s` (or the same command) fetches its results\n", id, id, o.output)
			return exitInterrupted
		}
		var apiErr *groq.APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
			os.Remove(pendingPath(o.output))
			fmt.Fprintf(e.stderr, "groq: batch %s is not known to this organization; %s is removed, so the same command sends the lines again\n", id, pendingPath(o.output))
			return exitAPI
		}
		fmt.Fprintln(e.stderr, describeError(err))
		return exitAPI
	}
	return writeResults(ctx, e, client, b, o.output)
}

// describeBatch is one line on a batch: status and counts.
func describeBatch(b *groq.Batch) string {
	c := b.RequestCounts
	return fmt.Sprintf("batch %s: %s, %d/%d done, %d failed", b.ID, b.Status, c.Completed+c.Failed, c.Total, c.Failed)
}

// writeResults downloads a finished batch's output and error files into OUT:
// successes are kept (a custom_id that already has one is not written again) and
// each failed line replaces an earlier failure, so that running the local or
// remote command again retries just those.
func writeResults(ctx context.Context, e env, client *groq.Client, b *groq.Batch, output string) int {
	if !b.Status.Done() {
		fmt.Fprintf(e.stderr, "groq: %s; no results yet\n", describeBatch(b))
		return exitAPI
	}
	if b.Status == groq.BatchFailed {
		fmt.Fprintf(e.stderr, "groq: batch %s failed validation:\n", b.ID)
		if b.Errors != nil {
			for _, x := range b.Errors.Data {
				fmt.Fprintf(e.stderr, "  line %d: %s (%s)\n", x.Line, x.Message, x.Code)
			}
		}
		os.Remove(pendingPath(output))
		return exitAPI
	}
	prev, err := readOutput(output, true)
	if err != nil {
		fmt.Fprintf(e.stderr, "groq: reading %s: %v\n", output, err)
		return exitUsage
	}
	done := prev.done
	out, err := openAppend(output)
	if err != nil {
		fmt.Fprintf(e.stderr, "groq: %v\n", err)
		return exitUsage
	}
	defer out.Close()
	ok, failed := 0, 0
	for _, fileID := range []string{b.OutputFileID, b.ErrorFileID} {
		if fileID == "" {
			continue
		}
		data, err := client.FileContent(ctx, fileID)
		if err != nil {
			fmt.Fprintln(e.stderr, describeError(err))
			return exitAPI
		}
		lines, err := groq.ParseBatchOutput(data)
		if err != nil {
			fmt.Fprintf(e.stderr, "groq: file %s: %v\n", fileID, err)
			return exitAPI
		}
		var buf bytes.Buffer
		for _, l := range lines {
			if done[l.CustomID] {
				continue
			}
			if l.OK() {
				done[l.CustomID] = true
				ok++
			} else {
				failed++
			}
			line, _ := json.Marshal(l)
			buf.Write(line)
			buf.WriteByte('\n')
		}
		if _, err := out.Write(buf.Bytes()); err != nil {
			fmt.Fprintf(e.stderr, "groq: writing %s: %v\n", output, err)
			return exitAPI
		}
	}
	if err := out.Sync(); err != nil {
		fmt.Fprintf(e.stderr, "groq: writing %s: %v\n", output, err)
		return exitAPI
	}
	os.Remove(pendingPath(output))
	fmt.Fprintf(e.stderr, "groq: batch %s %s: %d answered, %d failed, written to %s\n", b.ID, b.Status, ok, failed, output)
	switch {
	case failed > 0:
		fmt.Fprintf(e.stderr, "groq: run the same command again to retry the failed lines\n")
		return exitAPI
	case b.Status != groq.BatchCompleted:
		fmt.Fprintf(e.stderr, "groq: the batch ended %s before every line ran; run the same command again to send the rest\n", b.Status)
		return exitAPI
	}
	return exitOK
}

// batchCommand is "groq batch status ID" and "groq batch results ID -o OUT".
func batchCommand(o *options, e env, verb, id string) int {
	if verb == "results" && o.output == "" {
		fmt.Fprintln(e.stderr, "groq: usage: groq batch results ID -o OUT.jsonl")
		return exitUsage
	}
	o.noCache = true
	client, closeClient, code := newClient(o, e)
	if client == nil {
		return code
	}
	defer closeClient()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := client.Batch(ctx, id)
	if err != nil {
		fmt.Fprintln(e.stderr, describeError(err))
		return exitAPI
	}
	if verb == "results" {
		return writeResults(ctx, e, client, b, o.output)
	}
	if o.jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(b)
		return exitOK
	}
	fmt.Fprintln(e.stdout, describeBatch(b))
	for _, f := range []struct {
		name string
		at   int64
	}{{"created", b.CreatedAt}, {"in progress", b.InProgressAt}, {"completed", b.CompletedAt}, {"failed", b.FailedAt},
		{"cancelled", b.CancelledAt}, {"expired", b.ExpiredAt}, {"expires", b.ExpiresAt}} {
		if f.at > 0 {
			fmt.Fprintf(e.stdout, "  %s: %s\n", f.name, time.Unix(f.at, 0).UTC().Format(time.RFC3339))
		}
	}
	if b.OutputFileID != "" || b.ErrorFileID != "" {
		fmt.Fprintf(e.stdout, "  output file: %s, error file: %s\n", orNone(b.OutputFileID), orNone(b.ErrorFileID))
	}
	return exitOK
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// oneModelEach says why lines cannot go through Groq's Batch API, which runs
// each line on the one model it names: a list of models (--model a,b or a
// line's "models") needs the client's choice, made as each call is sent.
func oneModelEach(o *options, lines []batchLine) string {
	if o.models != nil {
		return fmt.Sprintf("--remote sends each line to one model; --model %s is a list (run without --remote, where each call goes to the first model that can serve it)", o.model)
	}
	for _, l := range lines {
		if l.Body != nil && len(l.models(nil)) > 1 {
			return fmt.Sprintf("line %d: --remote sends each line to one model; its \"models\" is a list (run without --remote, where each call goes to the first model that can serve it)", l.line)
		}
	}
	return ""
}

// remoteChatLine is a chat line as Groq's Batch API takes it: one model (the
// line's, "models": ["m"] read as "model": "m", else defModel).
func remoteChatLine(l batchLine, defModel string) ([]byte, error) {
	body := *l.Body
	if list := l.models(nil); len(list) == 1 {
		body.Model, body.Models = list[0], nil
	}
	if body.Model == "" {
		body.Model = defModel
	}
	return json.Marshal(groq.BatchLine{CustomID: l.CustomID, Method: "POST", URL: batchapi.ChatEndpoint, Body: &body})
}
