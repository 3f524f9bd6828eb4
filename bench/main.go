// Command bench runs one workload against a groqtest server on loopback with this
// module's client and with the clients people use instead (openai-go, go-openai,
// a plain net/http loop, and an x/time/rate limiter with a Retry-After loop), in
// the same run, and prints one table: calls that succeeded and failed, HTTP
// attempts, 429s (in all, and on the worst key), requests the server saw before a
// Retry-After it had sent had passed, and the makespan against the theoretical
// minimum.
//
//	go run . -preset all -runs 3          # the README's six scenarios, medians of 3
//	go run . -preset issue27 -runs 5      # the figures of issue 27's "Done when"
//	go run . -preset robust -runs 3       # every scenario against every server shape, quiet CPU and busy
//	go run . -preset models -runs 3       # calls that accept three models: WithModels against reactive fallback
//	go run . -n 300 -keys 2 -rpm 600 -burst 10 -limits unknown
//
// Each table shows the medians of the runs and the worst run's ratio, 429s and
// failures. It talks only to the loopback server it starts (and, with -cpu-hog,
// starts copies of itself that spin on the cores).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// presets are the scenarios the README's performance section shows, and those
// that measure each "Done when" line of issue 27.
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

	"paid-1000": {Name: "paid organization, RPM 1,000 (RPM in no header), no limits configured", Model: paidModel, Requests: 400, Keys: 1,
		RPM: 1000, RPD: 500_000, TPM: 250_000, Latency: 20 * time.Millisecond, Concurrency: 32, Table: true},
	"paid-240": {Name: "paid organization, RPM 240 (RPM in no header), no limits configured", Model: paidModel, Requests: 300, Keys: 1,
		RPM: 240, RPD: 500_000, TPM: 250_000, Latency: 20 * time.Millisecond, Concurrency: 32, Table: true},
	"second-tpm": {Name: "TPM bucket a second deep, answers out of order, nobody else on the key", Requests: 200, Keys: 1,
		RPM: 600, Burst: 10, RPD: 14_400, TPM: 10_000_000, TokenBurst: 10_000_000 / 60, Latency: 10 * time.Millisecond,
		LatencyJitter: 40 * time.Millisecond, Concurrency: 32, LimitsKnown: true, ShowForeign: true},
	"out-of-order": {Name: "a minute's bucket, answers out of order, nobody else on the key", Requests: 150, Keys: 1,
		RPM: 120, RPD: 14_400, TPM: 100_000, Latency: 10 * time.Millisecond, LatencyJitter: 40 * time.Millisecond, Concurrency: 16,
		LimitsKnown: true, ShowForeign: true},
	"other-rpm-16": {Name: "another program spends 30 % of the key's RPM, 16 callers", Requests: 200, Keys: 1, RPM: 600, Burst: 10,
		RPD: 14_400, Latency: 20 * time.Millisecond, Concurrency: 16, LimitsKnown: true, OtherShare: 0.3},
	"shallow-hog": {Name: "shallow burst, limits known, 2 busy processes on the cores", Requests: 300, Keys: 2, RPM: 600, Burst: 10,
		Latency: 20 * time.Millisecond, Concurrency: 32, LimitsKnown: true, CPUHog: 2},
	"unbound": {Name: "limits that do not bind", Requests: 600, Keys: 2, RPM: 100_000, RPD: 1_000_000, TPM: 10_000_000,
		Latency: 20 * time.Millisecond, Concurrency: 32, LimitsKnown: true, VsNetHTTP: true},
}

// paidModel is a model of the client's built-in table (whose figures are the
// free plan's), for the paid organizations' limits above them.
const paidModel = "llama-3.1-8b-instant"

// presetOrder is -preset all: the README's side-by-side table.
var presetOrder = []string{"shallow-known", "shallow-unknown", "groq-shape", "faults", "other-rpm", "other-tpm"}

// issue27Order is -preset issue27: one preset for each "Done when" line.
var issue27Order = []string{"paid-1000", "paid-240", "second-tpm", "out-of-order", "other-rpm-16", "other-tpm", "shallow-hog", "unbound"}

func main() {
	if spinIfHog() {
		return
	}
	if err := mainErr(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
}

// config is what the flags ask for.
type config struct {
	sc      Scenario // the custom scenario
	preset  string
	runs    int
	chosen  []client
	jsonOut string
	svgDir  string   // -svg: write each scenario's picture here
	cut     string   // -robust-cut
	shapes  []string // -shapes
	set     map[string]bool
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var cfg config
	sc := &cfg.sc
	fs.IntVar(&sc.Requests, "n", 300, "requests")
	fs.IntVar(&sc.Keys, "keys", 2, "API keys, each its own organization")
	fs.IntVar(&sc.RPM, "rpm", 600, "the server's requests per minute per key")
	fs.IntVar(&sc.Burst, "burst", 10, "the server's bucket depth in requests (0: a minute's worth, Groq's shape)")
	fs.DurationVar(&sc.Latency, "latency", 20*time.Millisecond, "the server's answer time")
	fs.DurationVar(&sc.LatencyJitter, "latency-jitter", 0, "the server's answer time varies by up to this much more (several times -latency: answers out of order)")
	fs.DurationVar(&sc.Jitter, "jitter", 0, "arrival jitter: random delay before the server counts a request")
	fs.DurationVar(&sc.FirstConn, "first-conn", 0, "extra delay of each connection's first request")
	fs.Float64Var(&sc.FaultRate, "faults", 0, "fraction of requests that meet a fault (500, 502, 503, 498, dropped connection, slow)")
	window := fs.String("window", "bucket", "the server's limiter: bucket (token bucket) or rolling (sliding window)")
	limits := fs.String("limits", "known", "known: clients that take limits get the RPM (and TPM); unknown: they get none; table: groqkit gets no option at all (its built-in table for -model), the rest as known")
	fs.IntVar(&sc.Concurrency, "concurrency", 32, "callers")
	fs.IntVar(&sc.RPD, "rpd", 0, "the server's requests per day per key (0: none)")
	fs.IntVar(&sc.TPM, "tpm", 0, "the server's tokens per minute per key (0: none)")
	fs.IntVar(&sc.TokenBurst, "token-burst", 0, "the server's TPM bucket depth in tokens (0: a minute's worth; -tpm/60: a second's)")
	fs.Float64Var(&sc.TokenScale, "token-scale", 1, "the server counts a prompt's tokens this many times its usual count (e.g. 0.6, 1.7)")
	fs.StringVar(&sc.Model, "model", benchModel, "the model's name (one of the client's built-in table, e.g. "+paidModel+", makes -limits table use its entry)")
	fs.IntVar(&sc.PromptSize, "prompt", 0, "characters of each prompt (0: \"question N\")")
	fs.Float64Var(&sc.OtherShare, "other", 0, "another program spends this share of each key's RPM (or with -other-tokens, of its TPM)")
	fs.IntVar(&sc.OtherTokens, "other-tokens", 0, "tokens of each of the other program's requests")
	fs.IntVar(&sc.CPUHog, "cpu-hog", 0, "busy processes that take the cores during each run (started before it, stopped after it)")
	fs.DurationVar(&sc.Deadline, "deadline", 0, "each run ends by then, its calls not done failing (0: 20 times the theoretical minimum, at least 1m)")
	fs.Uint64Var(&sc.Seed, "seed", 1, "the server's random seed")
	fs.DurationVar(&sc.Margin, "margin", -1, "groqkit's pacing margin (negative: its default)")
	fs.StringVar(&cfg.preset, "preset", "", "a named scenario ("+strings.Join(append(append([]string{}, presetOrder...), issue27Order...), ", ")+
		"), all (the README's six), issue27 (the issue's Done-when lines), robust (the matrix) or models (calls that accept three models: WithModels against reactive fallback; -n, -concurrency, -latency and -deadline apply)")
	fs.IntVar(&cfg.runs, "runs", 1, "runs of each client; the table shows medians and the worst run (robust: default 3)")
	only := fs.String("clients", "", "comma-separated clients to run (default all)")
	fs.StringVar(&cfg.jsonOut, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&cfg.svgDir, "svg", "", "also write each scenario's picture, requests admitted over time by each client against the server's limits with 429s marked, as an SVG into this directory (PRESET.svg, or custom.svg)")
	fs.StringVar(&cfg.cut, "robust-cut", "full", "with -preset robust: full (every scenario and shape) or small (CI's cut, under 90 s)")
	shapeList := fs.String("shapes", "", "with -preset robust: comma-separated shapes to run ("+strings.Join(shapeNames(), ", ")+"; default the cut's)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	cfg.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { cfg.set[f.Name] = true })
	switch *window {
	case "bucket":
	case "rolling":
		sc.Rolling = true
	default:
		return cfg, fmt.Errorf("-window %q: want bucket or rolling", *window)
	}
	switch *limits {
	case "known":
		sc.LimitsKnown = true
	case "unknown":
	case "table":
		sc.Table = true
	default:
		return cfg, fmt.Errorf("-limits %q: want known, unknown or table", *limits)
	}
	if sc.TokenScale == 0 {
		return cfg, errors.New("-token-scale 0: want a positive factor (1: the usual count)")
	}
	if strings.TrimSpace(sc.Model) == "" {
		return cfg, errors.New("-model: empty name")
	}
	if err := checkScenario(*sc, cfg.runs); err != nil {
		return cfg, err
	}
	if sc.TokenScale == 1 {
		sc.TokenScale = 0
	}
	var err error
	if cfg.chosen, err = chooseClients(*only); err != nil {
		return cfg, err
	}
	return cfg, checkRobustFlags(&cfg, *shapeList)
}

// checkScenario checks the custom scenario's figures.
func checkScenario(sc Scenario, runs int) error {
	switch {
	case sc.Requests < 1 || sc.Keys < 1 || sc.RPM < 1 || sc.Concurrency < 1 || runs < 1 || sc.Burst < 0 ||
		sc.RPD < 0 || sc.TPM < 0 || sc.PromptSize < 0 || sc.OtherTokens < 0:
		return fmt.Errorf("-n, -keys, -rpm, -concurrency and -runs must be positive; -burst, -rpd, -tpm, -prompt and -other-tokens not negative")
	case !(sc.OtherShare >= 0 && sc.OtherShare < 1):
		return fmt.Errorf("-other %v: want a share in [0, 1)", sc.OtherShare)
	case sc.OtherTokens > 0 && sc.TPM == 0:
		return fmt.Errorf("-other-tokens needs -tpm")
	case !(sc.FaultRate >= 0 && sc.FaultRate < 1):
		return fmt.Errorf("-faults %v: want a fraction in [0, 1)", sc.FaultRate)
	case sc.TokenBurst < 0:
		return fmt.Errorf("-token-burst %d: want 0 (a minute's worth) or a positive depth", sc.TokenBurst)
	case sc.TokenBurst > 0 && sc.TPM == 0:
		return fmt.Errorf("-token-burst needs -tpm")
	case sc.LatencyJitter < 0 || sc.Latency < 0 || sc.Jitter < 0 || sc.FirstConn < 0 || sc.Deadline < 0:
		return fmt.Errorf("-latency, -latency-jitter, -jitter, -first-conn and -deadline must not be negative")
	case !(sc.TokenScale >= 0) || math.IsInf(sc.TokenScale, 0): // 0: the usual count
		return fmt.Errorf("-token-scale %v: want a positive factor (1: the usual count)", sc.TokenScale)
	case sc.CPUHog < 0 || sc.CPUHog > 64:
		return fmt.Errorf("-cpu-hog %d: want 0 to 64 busy processes", sc.CPUHog)
	}
	return nil
}

// chooseClients is the clients -clients names, in table order; all for "".
func chooseClients(only string) ([]client, error) {
	if only == "" {
		return clients, nil
	}
	var chosen []client
	for _, name := range strings.Split(only, ",") {
		found := false
		for _, c := range clients {
			if c.name == strings.TrimSpace(name) {
				chosen, found = append(chosen, c), true
			}
		}
		if !found {
			return nil, fmt.Errorf("-clients: unknown client %q", name)
		}
	}
	return chosen, nil
}

func mainErr(args []string, out io.Writer) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	var all any
	switch cfg.preset {
	case "robust":
		all, err = runRobust(out, cfg)
	case "models":
		all, err = runModelsTable(out, cfg)
	default:
		all, err = runTables(out, cfg)
	}
	if err != nil {
		return err
	}
	if cfg.jsonOut != "" {
		data, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.jsonOut, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// scenarios is what -preset (or the custom flags) names.
func scenarios(cfg config) ([]Scenario, error) {
	sc := cfg.sc
	sc.Name = "custom"
	var names []string
	switch cfg.preset {
	case "":
		return []Scenario{sc}, nil
	case "all":
		names = presetOrder
	case "issue27":
		names = issue27Order
	default:
		if _, ok := presets[cfg.preset]; !ok {
			return nil, fmt.Errorf("-preset %q: want one of %s, %s, or all, issue27, robust, models", cfg.preset,
				strings.Join(presetOrder, ", "), strings.Join(issue27Order, ", "))
		}
		names = []string{cfg.preset}
	}
	var out []Scenario
	for _, n := range names {
		p := presets[n]
		p.Seed, p.Margin, p.File = sc.Seed, sc.Margin, n
		if cfg.set["cpu-hog"] {
			p.CPUHog = sc.CPUHog
		}
		if cfg.set["deadline"] {
			p.Deadline = sc.Deadline
		}
		out = append(out, p)
	}
	return out, nil
}

// runTables runs each scenario with each client, cfg.runs times, and prints a
// table of each.
func runTables(out io.Writer, cfg config) ([]Result, error) {
	scs, err := scenarios(cfg)
	if err != nil {
		return nil, err
	}
	var all []Result
	for _, s := range scs {
		rows, err := runScenario(s, cfg.chosen, cfg.runs)
		if err != nil {
			return nil, err
		}
		printTable(out, s, rows, cfg.runs)
		if err := maybeFigure(out, cfg, s, rows); err != nil {
			return nil, err
		}
		all = append(all, rows...)
	}
	return all, nil
}

// maybeFigure writes the scenario's SVG with -svg, and says where.
func maybeFigure(out io.Writer, cfg config, s Scenario, rows []Result) error {
	if cfg.svgDir == "" {
		return nil
	}
	path, err := writeFigure(cfg.svgDir, s, rows)
	if err == nil {
		fmt.Fprintf(out, "picture: %s\n", path)
	}
	return err
}

// runScenario runs s with each client runs times: the medians, each with its worst.
func runScenario(s Scenario, chosen []client, runs int) ([]Result, error) {
	var rows []Result
	for _, c := range chosen {
		var rs []Result
		for range runs {
			r, err := run(s, c)
			if err != nil {
				return nil, err
			}
			rs = append(rs, r)
		}
		rows = append(rows, median(rs))
	}
	return rows, nil
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
	switch {
	case sc.Table:
		known = "groqkit given no limits (its built-in table)"
	case !sc.LimitsKnown:
		known = "limits unknown"
	}
	d := fmt.Sprintf("%d requests, %d key%s, RPM %d, %s (%s), latency %v", sc.Requests, sc.Keys, plural(sc.Keys), sc.RPM, depth, shape, sc.Latency)
	if sc.LatencyJitter > 0 {
		d += fmt.Sprintf(" to %v (answers out of order)", sc.Latency+sc.LatencyJitter)
	}
	d += fmt.Sprintf(", arrival jitter %v, first-connection delay %v, faults %.0f %%, %d callers, %s",
		sc.Jitter, sc.FirstConn, sc.FaultRate*100, sc.Concurrency, known)
	if sc.Model != "" && sc.Model != benchModel {
		d += ", model " + sc.Model
	}
	if sc.RPD > 0 {
		d += fmt.Sprintf(", RPD %d", sc.RPD)
	}
	if sc.TPM > 0 {
		tdepth := "minute-deep"
		if sc.TokenBurst > 0 {
			tdepth = fmt.Sprintf("bucket of %d", sc.TokenBurst)
		}
		d += fmt.Sprintf(", TPM %d (%s)", sc.TPM, tdepth)
	}
	if sc.PromptSize > 0 {
		d += fmt.Sprintf(", prompts of %d characters", sc.PromptSize)
	}
	if sc.TokenScale > 0 && sc.TokenScale != 1 {
		d += fmt.Sprintf(", the server counts prompts at %g× the usual tokens", sc.TokenScale)
	}
	switch {
	case sc.tokenBound():
		d += fmt.Sprintf(", another program spending %.0f %% of the TPM in requests of %d tokens", sc.OtherShare*100, sc.OtherTokens)
	case sc.OtherShare > 0:
		d += fmt.Sprintf(", another program spending %.0f %% of the RPM", sc.OtherShare*100)
	}
	if sc.CPUHog > 0 {
		d += fmt.Sprintf(", %d busy processes on the cores", sc.CPUHog)
	}
	return d
}

func printTable(out io.Writer, sc Scenario, rows []Result, runs int) {
	least := sc.Minimum()
	if sc.TPM > 0 && len(rows) > 0 {
		least = rows[0].Minimum // from the tokens a call cost in the run
	}
	fmt.Fprintf(out, "\n%s: %s; theoretical minimum %v", sc.Name, sc.describe(), least.Round(time.Millisecond))
	if runs > 1 {
		fmt.Fprintf(out, "; medians of %d runs, and the worst", runs)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	other, foreign := sc.OtherShare > 0, sc.ShowForeign || sc.OtherShare > 0
	var base *Result
	for i := range rows {
		if rows[i].Client == "net/http" && sc.VsNetHTTP {
			base = &rows[i]
		}
	}
	head := "client\tok\tfailed\tHTTP attempts\t429s\t429s worst key\t429 waves\tsent before Retry-After\tmakespan\tratio\t" +
		fmt.Sprintf("worst of %d: ratio\t429s\tfailed\t", runs)
	if other {
		head += "other program refused\t"
	}
	if foreign {
		head += "others' spending estimated (RPM, TPM)\t"
	}
	if base != nil {
		head += "makespan / net/http's\t"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		w := r
		if r.Worst != nil {
			w = *r.Worst
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%.3f\t%.3f\t%d\t%d\t", r.Client, r.OK, r.Failed, r.Attempts, r.Limited, r.MaxPerKey,
			r.Waves, r.Early, r.Makespan.Round(time.Millisecond), r.Ratio, w.Ratio, w.Limited, w.Failed)
		if other {
			fmt.Fprintf(tw, "%d/%d (%.0f %%)\t", r.OtherRefused, r.OtherRequests, 100*r.OtherRefusedShare())
		}
		if foreign {
			fmt.Fprintf(tw, "%s\t", foreignText(r))
		}
		if base != nil {
			fmt.Fprintf(tw, "%.3f\t", float64(r.Makespan)/float64(base.Makespan))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// foreignText is groqkit's highest estimate of others' spending in the worst
// run, in % of the limits ("–" for the clients without one).
func foreignText(r Result) string {
	if r.Client != "groqkit" {
		return "–"
	}
	w := r
	if r.Worst != nil {
		w = *r.Worst
	}
	return fmt.Sprintf("%.1f %%, %.1f %%", w.ForeignRPM, w.ForeignTPM)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
