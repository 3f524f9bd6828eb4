// Command bench runs one workload against a groqtest server on loopback with this
// module's client and with the clients people use instead (openai-go, go-openai,
// a plain net/http loop, and an x/time/rate limiter with a Retry-After loop), in
// the same run, and prints one table: calls that succeeded and failed, HTTP
// attempts, 429s (in all, and on the worst key), requests the server saw before a
// Retry-After it had sent had passed, and the makespan against the theoretical
// minimum.
//
//	go run . -preset all -runs 3          # the README's six scenarios, medians of 3
//	go run . -n 300 -keys 2 -rpm 600 -burst 10 -limits unknown
//
// It talks only to the loopback server it starts.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// presets are the scenarios the README's performance section shows.
var presets = map[string]Scenario{
	"shallow-known": {Name: "shallow burst, limits known", Requests: 300, Keys: 2, RPM: 600, Burst: 10,
		Latency: 20 * time.Millisecond, Concurrency: 32, LimitsKnown: true},
	"shallow-unknown": {Name: "shallow burst, limits unknown", Requests: 300, Keys: 2, RPM: 600, Burst: 10,
		Latency: 20 * time.Millisecond, Concurrency: 32},
	"groq-shape": {Name: "Groq-shaped bucket, 5 ms arrival jitter", Requests: 1400, Keys: 2, RPM: 600,
		Latency: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Concurrency: 32, LimitsKnown: true},
	"faults": {Name: "shallow burst, limits known, 5 % faults", Requests: 300, Keys: 2, RPM: 600, Burst: 10,
		Latency: 20 * time.Millisecond, FaultRate: 0.05, Concurrency: 32, LimitsKnown: true},
	"other-rpm": {Name: "another program spends 30 % of each key's RPM", Requests: 300, Keys: 2, RPM: 600, Burst: 10, RPD: 14_400,
		Latency: 20 * time.Millisecond, Concurrency: 32, LimitsKnown: true, OtherShare: 0.3},
	"other-tpm": {Name: "another program spends a third of the key's TPM", Requests: 200, Keys: 1, RPM: 600, TPM: 9000, PromptSize: 100,
		Latency: 20 * time.Millisecond, Concurrency: 32, LimitsKnown: true, OtherShare: 1.0 / 3, OtherTokens: 60},
}

var presetOrder = []string{"shallow-known", "shallow-unknown", "groq-shape", "faults", "other-rpm", "other-tpm"}

func main() {
	if err := mainErr(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
}

func mainErr(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var sc Scenario
	fs.IntVar(&sc.Requests, "n", 300, "requests")
	fs.IntVar(&sc.Keys, "keys", 2, "API keys, each its own organization")
	fs.IntVar(&sc.RPM, "rpm", 600, "the server's requests per minute per key")
	fs.IntVar(&sc.Burst, "burst", 10, "the server's bucket depth in requests (0: a minute's worth, Groq's shape)")
	fs.DurationVar(&sc.Latency, "latency", 20*time.Millisecond, "the server's answer time")
	fs.DurationVar(&sc.Jitter, "jitter", 0, "arrival jitter: random delay before the server counts a request")
	fs.DurationVar(&sc.FirstConn, "first-conn", 0, "extra delay of each connection's first request")
	fs.Float64Var(&sc.FaultRate, "faults", 0, "fraction of requests that meet a fault (500, 502, 503, 498, dropped connection, slow)")
	window := fs.String("window", "bucket", "the server's limiter: bucket (token bucket) or rolling (sliding window)")
	limits := fs.String("limits", "known", "known: clients that take limits get the RPM; unknown: they get none")
	fs.IntVar(&sc.Concurrency, "concurrency", 32, "callers")
	fs.IntVar(&sc.RPD, "rpd", 0, "the server's requests per day per key (0: none)")
	fs.IntVar(&sc.TPM, "tpm", 0, "the server's tokens per minute per key (0: none)")
	fs.IntVar(&sc.PromptSize, "prompt", 0, "characters of each prompt (0: \"question N\")")
	fs.Float64Var(&sc.OtherShare, "other", 0, "another program spends this share of each key's RPM (or with -other-tokens, of its TPM)")
	fs.IntVar(&sc.OtherTokens, "other-tokens", 0, "tokens of each of the other program's requests")
	fs.Uint64Var(&sc.Seed, "seed", 1, "the server's random seed")
	fs.DurationVar(&sc.Margin, "margin", -1, "groqkit's pacing margin (negative: its default)")
	preset := fs.String("preset", "", "a named scenario ("+strings.Join(presetOrder, ", ")+"), or all")
	runs := fs.Int("runs", 1, "runs of each client; the table shows medians")
	only := fs.String("clients", "", "comma-separated clients to run (default all)")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *window {
	case "bucket":
	case "rolling":
		sc.Rolling = true
	default:
		return fmt.Errorf("-window %q: want bucket or rolling", *window)
	}
	switch *limits {
	case "known":
		sc.LimitsKnown = true
	case "unknown":
	default:
		return fmt.Errorf("-limits %q: want known or unknown", *limits)
	}
	if sc.Requests < 1 || sc.Keys < 1 || sc.RPM < 1 || sc.Concurrency < 1 || *runs < 1 || sc.Burst < 0 ||
		sc.RPD < 0 || sc.TPM < 0 || sc.PromptSize < 0 || sc.OtherTokens < 0 {
		return fmt.Errorf("-n, -keys, -rpm, -concurrency and -runs must be positive; -burst, -rpd, -tpm, -prompt and -other-tokens not negative")
	}
	if !(sc.OtherShare >= 0 && sc.OtherShare < 1) {
		return fmt.Errorf("-other %v: want a share in [0, 1)", sc.OtherShare)
	}
	if sc.OtherTokens > 0 && sc.TPM == 0 {
		return fmt.Errorf("-other-tokens needs -tpm")
	}
	if !(sc.FaultRate >= 0 && sc.FaultRate < 1) {
		return fmt.Errorf("-faults %v: want a fraction in [0, 1)", sc.FaultRate)
	}
	sc.Name = "custom"
	scenarios := []Scenario{sc}
	switch {
	case *preset == "all":
		scenarios = nil
		for _, p := range presetOrder {
			scenarios = append(scenarios, presets[p])
		}
	case *preset != "":
		p, ok := presets[*preset]
		if !ok {
			return fmt.Errorf("-preset %q: want one of %s, or all", *preset, strings.Join(presetOrder, ", "))
		}
		scenarios = []Scenario{p}
	}
	chosen := clients
	if *only != "" {
		chosen = nil
		for _, name := range strings.Split(*only, ",") {
			found := false
			for _, c := range clients {
				if c.name == strings.TrimSpace(name) {
					chosen, found = append(chosen, c), true
				}
			}
			if !found {
				return fmt.Errorf("-clients: unknown client %q", name)
			}
		}
	}

	var all []Result
	for _, s := range scenarios {
		if s.Name != "custom" {
			s.Seed, s.Margin = sc.Seed, sc.Margin
		}
		var rows []Result
		for _, c := range chosen {
			var rs []Result
			for range *runs {
				r, err := run(s, c)
				if err != nil {
					return err
				}
				rs = append(rs, r)
			}
			rows = append(rows, median(rs))
		}
		printTable(out, s, rows, *runs)
		all = append(all, rows...)
	}
	if *jsonOut != "" {
		data, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (sc Scenario) describe() string {
	depth := fmt.Sprintf("burst %d", sc.Burst)
	if sc.Burst == 0 {
		depth = "burst = RPM"
	}
	shape := "token bucket"
	if sc.Rolling {
		shape = "sliding window"
	}
	known := "limits known"
	if !sc.LimitsKnown {
		known = "limits unknown"
	}
	d := fmt.Sprintf("%d requests, %d keys, RPM %d, %s (%s), latency %v, arrival jitter %v, first-connection delay %v, faults %.0f %%, %d callers, %s",
		sc.Requests, sc.Keys, sc.RPM, depth, shape, sc.Latency, sc.Jitter, sc.FirstConn, sc.FaultRate*100, sc.Concurrency, known)
	if sc.RPD > 0 {
		d += fmt.Sprintf(", RPD %d", sc.RPD)
	}
	if sc.TPM > 0 {
		d += fmt.Sprintf(", TPM %d (minute-deep), prompts of %d characters", sc.TPM, sc.PromptSize)
	}
	switch {
	case sc.tokenBound():
		d += fmt.Sprintf(", another program spending %.0f %% of the TPM in requests of %d tokens", sc.OtherShare*100, sc.OtherTokens)
	case sc.OtherShare > 0:
		d += fmt.Sprintf(", another program spending %.0f %% of the RPM", sc.OtherShare*100)
	}
	return d
}

func printTable(out io.Writer, sc Scenario, rows []Result, runs int) {
	least := sc.Minimum()
	if sc.tokenBound() && len(rows) > 0 {
		least = rows[0].Minimum // from the tokens a call cost in the run
	}
	fmt.Fprintf(out, "\n%s: %s; theoretical minimum %v", sc.Name, sc.describe(), least.Round(time.Millisecond))
	if runs > 1 {
		fmt.Fprintf(out, "; medians of %d runs", runs)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	other := sc.OtherShare > 0
	head := "client\tok\tfailed\tHTTP attempts\t429s\t429s worst key\tsent before Retry-After\tmakespan\tratio\t"
	if other {
		head += "other program refused\t"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%.3f\t", r.Client, r.OK, r.Failed, r.Attempts, r.Limited, r.MaxPerKey, r.Early,
			r.Makespan.Round(time.Millisecond), r.Ratio)
		if other {
			fmt.Fprintf(tw, "%d/%d (%.0f %%)\t", r.OtherRefused, r.OtherRequests, 100*r.OtherRefusedShare())
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
