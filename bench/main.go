// Command bench runs one workload against a groqtest server on loopback with this
// module's client and with the clients people use instead (openai-go, go-openai,
// a plain net/http loop, and an x/time/rate limiter with a Retry-After loop), in
// the same run, and prints one table: calls that succeeded and failed, HTTP
// attempts, 429s (in all, and on the worst key), requests the server saw before a
// Retry-After it had sent had passed, and the makespan against the theoretical
// minimum.
//
//	go run . -preset all -runs 3          # the README's four scenarios, medians of 3
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
}

var presetOrder = []string{"shallow-known", "shallow-unknown", "groq-shape", "faults"}

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
	if sc.Requests < 1 || sc.Keys < 1 || sc.RPM < 1 || sc.Concurrency < 1 || *runs < 1 || sc.Burst < 0 {
		return fmt.Errorf("-n, -keys, -rpm, -concurrency and -runs must be positive, -burst not negative")
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
	return fmt.Sprintf("%d requests, %d keys, RPM %d, %s (%s), latency %v, arrival jitter %v, first-connection delay %v, faults %.0f %%, %d callers, %s",
		sc.Requests, sc.Keys, sc.RPM, depth, shape, sc.Latency, sc.Jitter, sc.FirstConn, sc.FaultRate*100, sc.Concurrency, known)
}

func printTable(out io.Writer, sc Scenario, rows []Result, runs int) {
	fmt.Fprintf(out, "\n%s: %s; theoretical minimum %v", sc.Name, sc.describe(), sc.Minimum().Round(time.Millisecond))
	if runs > 1 {
		fmt.Fprintf(out, "; medians of %d runs", runs)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "client\tok\tfailed\tHTTP attempts\t429s\t429s worst key\tsent before Retry-After\tmakespan\tratio\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%.3f\t\n", r.Client, r.OK, r.Failed, r.Attempts, r.Limited, r.MaxPerKey, r.Early,
			r.Makespan.Round(time.Millisecond), r.Ratio)
	}
	tw.Flush()
}
