package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/groqkit/groq"
)

// A subcommand: its help text and the flags it reads (listed under its --help).
type subcommand struct {
	name, text string
	flags      []string
}

// The flags every call through the client reads.
var clientFlags = []string{"model", "priority", "rpm", "concurrency", "config", "metrics", "v"}

// subcommands are the words the command reads as a subcommand when they come
// first; anything else is a prompt ("groq -- WORD" sends any word as one).
var subcommands = []subcommand{
	{name: "help", text: `usage: groq help [COMMAND]

Prints the command's help, or COMMAND's.`},
	{name: "version", text: `usage: groq version (or groq --version)

Prints the command's version (the module's, "(devel)" when built from a
checkout), the Go version and the platform.`},
	{name: "models", text: `usage: groq models [--json]

Lists the models the key serves (GET /models): id, context window, owner, and
whether the model is active; --json prints them as JSON.`,
		flags: append([]string{"json"}, clientFlags...)},
	{name: "serve", text: `usage: groq serve [--listen ADDR] [--token SPEC]... (groq serve -h lists its flags)

An OpenAI-compatible gateway: one scheduler for every service on the quota.`},
	{name: "status", text: `usage: groq status URL [--once] [--json] [--admin-token T]

Shows what a gateway (groq serve at URL, as http://127.0.0.1:8080) is doing,
from its GET /status, redrawn every second as top does (Ctrl-C ends): per model
each quota's buckets (used, left, depth, and where each limit came from), the
429s and retries of the last minutes, the queue by priority, what other programs
spend, and each token's calls and tokens today against its budget. --once prints
it once and exits; --json prints the gateway's JSON once. Off loopback the
gateway needs its admin token (--admin-token or GROQ_GATEWAY_ADMIN_TOKEN), never
a caller's.`,
		flags: []string{"once", "json", "admin-token"}},
	{name: "transcribe", text: `usage: groq transcribe FILE|URL [--language en] [--format text|json|verbose_json] [--timestamps word,segment] [--model M]

Turns speech into text (POST /audio/transcriptions, default model ` + groq.DefaultTranscriptionModel + `), through the
client's limits (RPM, RPD and seconds of audio per hour and per day), retries and
priorities. FILE is flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav or webm; a URL is sent
as it is. It prints the text; --format json or verbose_json, or --json, prints the
whole answer as JSON.`,
		flags: append([]string{"language", "format", "timestamps", "json"}, clientFlags...)},
	{name: "translate", text: `usage: groq translate FILE|URL [--format text|json|verbose_json] [--timestamps word,segment] [--model M]

Turns speech in any language into English text (POST /audio/translations, default
model ` + groq.DefaultTranslationModel + `; whisper-large-v3-turbo does not translate). FILE and the
output are as for groq transcribe; there is no --language: the target is English.`,
		flags: append([]string{"format", "timestamps", "json"}, clientFlags...)},
	{name: "speak", text: `usage: groq speak TEXT -o out.wav [--voice V] [--format wav|mp3|flac|ogg|mulaw] [--model M]

Turns text into speech (POST /audio/speech, default model ` + groq.DefaultSpeechModel + `, voice ` + groq.DefaultSpeechVoice + `) and
writes the audio to -o, replaced whole (a regular file or absent; created
owner-only, mode 0600). The format is --format, else -o's extension.`,
		flags: append([]string{"o", "voice", "format"}, clientFlags...)},
	{name: "batch", text: `usage: groq batch [flags] IN.jsonl -o OUT.jsonl
       groq batch --remote [--wait=false] [--completion-window 24h] [--poll 30s] IN.jsonl -o OUT.jsonl
       groq batch status ID [--json]
       groq batch results ID -o OUT.jsonl

IN holds one request a line: {"custom_id", "body": {chat request}} (Groq's batch
input, with "method" and "url", is read too), optionally "priority". A body may
carry "models": [...], the models it accepts in order (a line that names no model
takes --model's, which may be a list a,b,c): each call goes to the first that can
serve it now, and its output line's body names the one that did ("model"); with
--remote, each line names one model. Every line is checked before anything is sent. Here, the lines go through the client (its
limits, priorities and retries), --concurrency times two at once; with --remote,
through Groq's Batch API. OUT is appended to, never rewritten, and must be a
regular file or absent, created owner-only (mode 0600); a file with a line that
is not batch output (the input, another batch's input) is refused. Run the same
command again to resume: it says how many lines are done and how many are left
(the last line of a custom_id wins). --dry-run checks and predicts, and writes
nothing. The first SIGINT or SIGTERM stops the sending; calls on the wire get 5 s
to finish (exit 130 or 143), a second signal ends them; lines never answered are
not written, and the next run sends them. --report run.svg draws the run when
it ends: per model, the requests admitted over time against the limits in force
(the client's RPM, and TPM in calls of the run's mean size), 429s and failed
lines marked.`,
		flags: append([]string{"o", "dry-run", "report", "remote", "wait", "completion-window", "poll", "cache", "budget", "json"}, clientFlags...)},
}

// audioModels are the audio subcommands' default models (--model's default is
// the chat model's).
var audioModels = map[string]string{
	"transcribe": groq.DefaultTranscriptionModel, "translate": groq.DefaultTranslationModel, "speak": groq.DefaultSpeechModel,
}

// findSubcommand is the subcommand called name, or nil.
func findSubcommand(name string) *subcommand {
	for i := range subcommands {
		if subcommands[i].name == name {
			return &subcommands[i]
		}
	}
	return nil
}

// subcommandUsage prints the help of a subcommand with its own flags, and
// reports whether name is one.
func subcommandUsage(w io.Writer, fs *flag.FlagSet, name string) bool {
	sc := findSubcommand(name)
	if sc == nil || name == "serve" {
		return false
	}
	fmt.Fprintln(w, sc.text)
	if len(sc.flags) == 0 {
		return true
	}
	fmt.Fprintln(w, "\nFlags:")
	sub := flag.NewFlagSet(name, flag.ContinueOnError)
	for _, n := range sc.flags {
		usage := fs.Lookup(n).Usage
		if m := audioModels[name]; n == "model" && m != "" {
			usage = "model (default " + m + ")"
		}
		sub.Var(fs.Lookup(n).Value, n, usage)
		sub.Lookup(n).DefValue = fs.Lookup(n).DefValue
	}
	sub.SetOutput(w)
	sub.PrintDefaults()
	return true
}

// closeSubcommand is the subcommand that word looks like a mistyped or
// mis-cased form of, or "": a first word within a small edit distance of one
// ("modles", "transcrib"), or a lone word that names one in other letters
// ("Models"). A word that names one exactly is that subcommand, not this.
func closeSubcommand(word string, lone bool) string {
	lower := strings.ToLower(word)
	if len(lower) < 4 || strings.ContainsFunc(lower, func(r rune) bool { return r < 'a' || r > 'z' }) {
		return ""
	}
	for _, sc := range subcommands {
		limit := 1
		if len(sc.name) > 5 {
			limit = 2
		}
		switch d := editDistance(lower, sc.name); {
		case d == 0 && lone && word != sc.name:
			return sc.name
		case d > 0 && d <= limit:
			return sc.name
		}
	}
	return ""
}

// editDistance is the optimal-string-alignment distance between a and b (ASCII):
// insertions, deletions, substitutions and swaps of neighbours each cost one.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// dispatch runs the subcommand positional names, and reports whether it named
// one; a word that looks like a mistyped subcommand is refused (it would be a
// billed prompt).
func dispatch(o *options, fs *flag.FlagSet, positional []string, e env) (int, bool) {
	name, rest := positional[0], positional[1:]
	switch name {
	case "help":
		return helpCommand(fs, rest, e), true
	case "version":
		if len(rest) > 0 {
			return noArguments(e, positional), true
		}
		return printVersion(e.stdout), true
	case "models":
		if len(rest) > 0 {
			return noArguments(e, positional), true
		}
		return listModels(o, e), true
	case "transcribe", "translate", "speak":
		if o.models != nil {
			fmt.Fprintf(e.stderr, "groq: %s takes one --model, not a list (%s); a list is for chat\n", name, o.model)
			return exitUsage, true
		}
		if name == "speak" {
			return speak(o, rest, e), true
		}
		return transcribe(o, rest, e, name == "translate"), true
	case "serve": // after a flag: serve has flags of its own, and comes first
		fmt.Fprintln(e.stderr, "groq: serve comes first, before its flags: groq serve [--listen ADDR] [-v] ... (see groq serve -h); to send it as a prompt, write groq -- serve")
		return exitUsage, true
	case "status":
		return statusCommand(o, rest, e), true
	case "batch":
		o.noCache = o.noCache || !o.set["cache"] // a batch caches only when --cache is given
		return runBatch(o, rest, e), true
	}
	if sc := closeSubcommand(name, len(positional) == 1); sc != "" {
		fmt.Fprintf(e.stderr, "groq: %q is not a command: did you mean groq %s? (see groq help %s); to send it as a prompt, write groq -- %s\n",
			name, sc, sc, strings.Join(positional, " "))
		return exitUsage, true
	}
	return 0, false
}

func noArguments(e env, positional []string) int {
	fmt.Fprintf(e.stderr, "groq: %s takes no arguments (got %q); to ask the prompt, write groq -- %s\n",
		positional[0], strings.Join(positional[1:], " "), strings.Join(positional, " "))
	return exitUsage
}

// helpCommand is "groq help [COMMAND]".
func helpCommand(fs *flag.FlagSet, args []string, e env) int {
	switch {
	case len(args) == 0:
		usage(e.stdout, fs)
		return exitOK
	case len(args) == 1 && args[0] == "serve":
		fmt.Fprintln(e.stdout, findSubcommand("serve").text)
		return exitOK
	case len(args) == 1 && subcommandUsage(e.stdout, fs, args[0]):
		return exitOK
	}
	names := make([]string, len(subcommands))
	for i, sc := range subcommands {
		names[i] = sc.name
	}
	fmt.Fprintf(e.stderr, "groq: help takes one command (%s), not %q; to send it as a prompt, write groq -- help %s\n",
		strings.Join(names, ", "), strings.Join(args, " "), strings.Join(args, " "))
	return exitUsage
}

// printVersion is "groq version": the module's version as the build recorded it.
func printVersion(w io.Writer) int {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Fprintf(w, "groq %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, `usage: groq [flags] [prompt]                 the prompt: arguments, --prompt-file, --stdin or a pipe
       groq models [--json]                      the models the key serves
       groq serve [--listen ADDR] [--token SPEC]   an OpenAI-compatible gateway: one scheduler for every service
       groq transcribe FILE|URL [--language en] [--format text|json|verbose_json] [--timestamps word,segment]
                                                 speech to text
       groq translate FILE|URL [--format ...]     speech in any language to English text
       groq speak TEXT -o out.wav [--voice V]     text to speech
       groq batch [flags] IN.jsonl -o OUT.jsonl  a work list, here (paced) or with --remote through Groq's Batch API
       groq batch status ID [--json]             where a remote batch stands
       groq batch results ID -o OUT.jsonl        a remote batch's results, appended to OUT
       groq status URL [--once]                  a gateway's quotas, queues and tokens, live (as top)
       groq version                              the command's version
       groq help COMMAND                         a command's help and its flags (also groq COMMAND -h)

A first word that names a command runs it; one that looks like a mistyped
command is refused; groq -- WORDS sends any words as the prompt.

--model a,b,c makes a chat accept several models, in order of preference: it goes
to the first whose limits can take it now (Groq's limits are per model), and
standard error says which answered.

Keys come from GROQ_API_KEYS (comma-separated) or GROQ_API_KEY; with none, the
built-in simulator answers (and says so); a variable set to "" or to blanks is an
error. GROQ_BASE_URL overrides the API root. With no prompt at all, the
self-test runs.

Files: a call with a key caches its answer in .groq_cache.json in the current
directory (with .journal, .lock, and .budget files beside it; --cache moves them,
--no-cache turns this off). The cache, -o and OUT.batch must be regular files or
absent: a device, FIFO, socket or directory is refused before any work. Files
the command creates are owner-only (0600). OUT is appended to, never rewritten:
a run resumes from it (the last line of a custom_id wins), and lines the
simulator answered are sent again to Groq.

Flags:`)
	fs.SetOutput(w)
	fs.PrintDefaults()
}
