package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// A shape is a server shape of the robustness matrix (GROQ_API.md, "Servers are
// not all shaped alike"): it reshapes a scenario's server, keeping its workload.
type shape struct {
	name, desc string
	apply      func(sc *Scenario)
}

// tokenCall is about what one robust call costs by the simulator's usual count
// (a 100-character prompt and its answer), to size the token shapes' TPM.
const tokenCall = 50

var shapes = []shape{
	{"minute", "Groq's shape: buckets a minute deep", func(sc *Scenario) { sc.Burst, sc.TokenBurst = 0, 0 }},
	{"burst10", "an RPM bucket of 10", func(sc *Scenario) { sc.Burst, sc.TokenBurst = 10, 0 }},
	{"second-tpm", "a TPM bucket a second deep (TPM/60; TPM 10,000,000 unless the scenario has one), RPM bucket of 10, RPD 14,400",
		func(sc *Scenario) {
			if sc.TPM == 0 {
				sc.TPM = 10_000_000
			}
			sc.TokenBurst, sc.Burst, sc.RPD = sc.TPM/60, 10, max(sc.RPD, 14_400)
		}},
	{"out-of-order", "buckets a minute deep, latency 10 ms plus up to 40 ms (answers out of order), RPD 14,400",
		func(sc *Scenario) {
			sc.Burst, sc.TokenBurst, sc.RPD = 0, 0, max(sc.RPD, 14_400)
			sc.Latency, sc.LatencyJitter = 10*time.Millisecond, 40*time.Millisecond
		}},
	tokenShape(0.6),
	tokenShape(1.7),
	{"paid", "a paid organization on " + paidModel + ": RPM 1,000 (in no header), RPD 500,000, TPM 250,000, buckets a minute deep, 100 calls at least; groqkit given no limits (its table)",
		func(sc *Scenario) {
			if sc.tokenBound() { // the other program keeps its requests a minute
				sc.OtherTokens = sc.OtherTokens * 250_000 / sc.TPM
			}
			sc.Model, sc.RPM, sc.RPD, sc.TPM, sc.Burst, sc.TokenBurst = paidModel, 1000, 500_000, 250_000, 0, 0
			sc.Table, sc.LimitsKnown, sc.Requests = true, false, max(sc.Requests, 100)
		}},
}

// tokenShape is a server that counts prompts at f times the usual tokens, with a
// TPM bucket a second deep that binds: without a TPM of its own, the scenario
// gets 100-character prompts and a TPM of tokenCall × RPM (by the usual count,
// the TPM and the RPM allow as many calls).
func tokenShape(f float64) shape {
	return shape{fmt.Sprintf("tokens-%gx", f),
		fmt.Sprintf("the server counts prompts at %g× the usual tokens; TPM bucket a second deep (TPM %d × RPM unless the scenario has one), RPM a minute deep", f, tokenCall),
		func(sc *Scenario) {
			if sc.TPM == 0 {
				sc.TPM, sc.PromptSize = tokenCall*sc.RPM, 100
			}
			sc.TokenScale, sc.TokenBurst, sc.Burst = f, sc.TPM/60, 0
		}}
}

func shapeNames() []string {
	var out []string
	for _, s := range shapes {
		out = append(out, s.name)
	}
	return out
}

// robustBase is the matrix's workload: small enough that a cell takes seconds.
// Its calls and its deadline are the cut's.
var robustBase = Scenario{Requests: 60, Keys: 2, RPM: 600, Burst: 10, Latency: 20 * time.Millisecond, Concurrency: 32,
	LimitsKnown: true, ShowForeign: true}

// robustScenarios are the side-by-side table's scenarios at the matrix's size
// (their server's shape is the shape's).
func robustScenarios() []Scenario {
	mk := func(name string, f func(sc *Scenario)) Scenario {
		sc := robustBase
		sc.Name = name
		f(&sc)
		return sc
	}
	return []Scenario{
		mk("known", func(sc *Scenario) {}),
		mk("unknown", func(sc *Scenario) { sc.LimitsKnown = false }),
		mk("arrival-jitter", func(sc *Scenario) { sc.Jitter = 5 * time.Millisecond }),
		mk("faults", func(sc *Scenario) { sc.FaultRate = 0.05 }),
		mk("other-rpm", func(sc *Scenario) { sc.OtherShare, sc.RPD = 0.3, 14_400 }),
		mk("other-tpm", func(sc *Scenario) {
			sc.Keys, sc.TPM, sc.PromptSize, sc.OtherShare, sc.OtherTokens = 1, 54_000, 100, 1.0/3, 180
		}),
	}
}

// A robustCut is a -robust-cut value: the scenarios and shapes it runs (nil: all),
// the shapes it also runs on a busy CPU (nil: all), and the size of its runs.
type robustCut struct {
	scenarios, shapes, busy []string
	requests                int
	deadline                time.Duration
}

var robustCuts = map[string]robustCut{
	"full": {requests: 60, deadline: 15 * time.Second},
	// CI's: the shapes of issue 27 with limits known, the busy CPU with the
	// shallow bucket only, smaller runs; under 90 s on 2 cores.
	"small": {scenarios: []string{"known"}, shapes: []string{"burst10", "second-tpm", "out-of-order", "tokens-1.7x", "paid"},
		busy: []string{"burst10"}, requests: 40, deadline: 8 * time.Second},
}

// checkRobustFlags checks -robust-cut and -shapes, and sets the matrix's default
// runs.
func checkRobustFlags(cfg *config, shapeList string) error {
	if _, ok := robustCuts[cfg.cut]; !ok {
		return fmt.Errorf("-robust-cut %q: want full or small", cfg.cut)
	}
	robust := cfg.preset == "robust"
	if !robust && (cfg.set["robust-cut"] || cfg.set["shapes"]) {
		return fmt.Errorf("-robust-cut and -shapes go with -preset robust")
	}
	if shapeList != "" {
		for _, n := range strings.Split(shapeList, ",") {
			n = strings.TrimSpace(n)
			if !slices.Contains(shapeNames(), n) {
				return fmt.Errorf("-shapes: unknown shape %q (want %s)", n, strings.Join(shapeNames(), ", "))
			}
			cfg.shapes = append(cfg.shapes, n)
		}
	}
	if robust && !cfg.set["runs"] {
		cfg.runs = 3
	}
	return nil
}

// robustCells lists the cells cfg asks for, in order: by scenario, by shape,
// quiet CPU then busy.
func robustCells(cfg config) []Scenario {
	cut := robustCuts[cfg.cut]
	wantShapes := cut.shapes
	if len(cfg.shapes) > 0 {
		wantShapes = cfg.shapes
	}
	hog := 2
	if cfg.set["cpu-hog"] && cfg.sc.CPUHog > 0 {
		hog = cfg.sc.CPUHog
	}
	var out []Scenario
	for _, base := range robustScenarios() {
		if cut.scenarios != nil && !slices.Contains(cut.scenarios, base.Name) {
			continue
		}
		for _, sh := range shapes {
			if wantShapes != nil && !slices.Contains(wantShapes, sh.name) {
				continue
			}
			for _, h := range []int{0, hog} {
				if h > 0 && cut.busy != nil && !slices.Contains(cut.busy, sh.name) {
					continue
				}
				sc := base
				sc.Requests, sc.Deadline = cut.requests*sc.Requests/robustBase.Requests, cut.deadline
				sh.apply(&sc)
				sc.Shape, sc.CPUHog, sc.Seed, sc.Margin = sh.name, h, cfg.sc.Seed, cfg.sc.Margin
				if cfg.set["deadline"] {
					sc.Deadline = cfg.sc.Deadline
				}
				sc.Name = fmt.Sprintf("%s × %s, %s", base.Name, sh.name, cpuText(h))
				sc.File = fmt.Sprintf("robust-%s-%s-cpu-hog-%d", base.Name, sh.name, h)
				out = append(out, sc)
			}
		}
	}
	return out
}

func cpuText(hog int) string {
	if hog == 0 {
		return "quiet CPU"
	}
	return fmt.Sprintf("-cpu-hog %d", hog)
}

// runRobust runs the matrix: each cell with each client, cfg.runs times; it
// prints each cell's medians beside its worst run, then each client's worst over
// the matrix.
func runRobust(out io.Writer, cfg config) ([]Result, error) {
	cells := robustCells(cfg)
	fmt.Fprintf(out, "robustness matrix (-robust-cut %s): %d cells, %d runs each, every client in the same run\n", cfg.cut, len(cells), cfg.runs)
	for _, sh := range shapes {
		fmt.Fprintf(out, "  shape %s: %s\n", sh.name, sh.desc)
	}
	var all []Result
	start := time.Now()
	for _, sc := range cells {
		rows, err := runScenario(sc, cfg.chosen, cfg.runs)
		if err != nil {
			return nil, err
		}
		printCell(out, sc, rows, cfg.runs)
		if err := maybeFigure(out, cfg, sc, rows); err != nil {
			return nil, err
		}
		all = append(all, rows...)
	}
	printSummary(out, all, cfg.chosen)
	fmt.Fprintf(out, "matrix took %v\n", time.Since(start).Round(time.Second))
	return all, nil
}

func printCell(out io.Writer, sc Scenario, rows []Result, runs int) {
	least := sc.Minimum()
	if sc.TPM > 0 && len(rows) > 0 {
		least = rows[0].Minimum
	}
	fmt.Fprintf(out, "\n%s: %s; minimum %v; median (worst) of %d runs\n", sc.Name, sc.describe(), least.Round(time.Millisecond), runs)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "client\tfailed\t429s\t429 waves\tsent before Retry-After\tratio\tworst ratio\tother program refused (worst)\tothers' spending estimated (worst; RPM, TPM)\t")
	for _, r := range rows {
		w := *r.Worst
		refused := "–"
		if r.OtherRequests > 0 || w.OtherRequests > 0 {
			refused = fmt.Sprintf("%.0f %%", 100*w.OtherRefusedShare())
		}
		fmt.Fprintf(tw, "%s\t%d (%d)\t%d (%d)\t%d (%d)\t%d (%d)\t%.3f\t%.3f\t%s\t%s\t\n", r.Client, r.Failed, w.Failed, r.Limited, w.Limited,
			r.Waves, w.Waves, r.Early, w.Early, r.Ratio, w.Ratio, refused, foreignText(r))
	}
	tw.Flush()
}

// printSummary is each client's worst over the matrix: the cells where its worst
// run failed a call, and over the others the largest worst ratio; the most 429s,
// waves and early sends in a run; groqkit's highest estimate of others' spending.
func printSummary(out io.Writer, all []Result, chosen []client) {
	fmt.Fprintln(out, "\nsummary, worst run of each cell:")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "client\tcells\tcells with a failed call\tworst ratio (cells without)\tin cell\tmedian ratio, median cell\tmost 429s\tmost waves\tmost sent early\tothers' spending estimated (RPM, TPM)\t")
	for _, c := range chosen {
		var n, failedCells, most429, mostWaves, mostEarly int
		var worstRatio, fr, ft float64
		var where string
		var medians []float64
		for _, r := range all {
			if r.Client != c.name {
				continue
			}
			w := *r.Worst
			n++
			medians = append(medians, r.Ratio)
			most429, mostWaves, mostEarly = max(most429, w.Limited), max(mostWaves, w.Waves), max(mostEarly, w.Early)
			fr, ft = max(fr, w.ForeignRPM), max(ft, w.ForeignTPM)
			if w.Failed > 0 {
				failedCells++
			} else if w.Ratio > worstRatio {
				worstRatio, where = w.Ratio, r.Scenario
			}
		}
		slices.Sort(medians)
		med := 0.0
		if len(medians) > 0 {
			med = medians[len(medians)/2]
		}
		foreign := "–"
		if c.name == "groqkit" {
			foreign = fmt.Sprintf("%.1f %%, %.1f %%", fr, ft)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%s\t%.3f\t%d\t%d\t%d\t%s\t\n", c.name, n, failedCells, worstRatio, where, med, most429, mostWaves, mostEarly, foreign)
	}
	tw.Flush()
}
