package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/internal/gateway"
)

// This file is "groq status URL": a gateway's GET /status drawn in a terminal,
// redrawn every second as top does (--once: drawn once).

// statusEvery is how often groq status redraws.
const statusEvery = time.Second

// clearScreen moves the cursor home and clears the terminal.
const clearScreen = "\x1b[H\x1b[2J"

// statusCommand is "groq status URL [--once] [--json] [--admin-token T]".
func statusCommand(o *options, args []string, e env) int {
	if len(args) != 1 {
		fmt.Fprintf(e.stderr, "groq: status takes one gateway URL (as http://127.0.0.1:8080), got %q\n", args)
		return exitUsage
	}
	url, err := statusURL(args[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "groq: status: %v\n", err)
		return exitUsage
	}
	token := o.adminToken
	if token == "" {
		token = strings.TrimSpace(e.getenv("GROQ_GATEWAY_ADMIN_TOKEN"))
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if o.once || o.jsonOut {
		return statusOnce(hc, url, token, o.jsonOut, e)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	watchStatus(ctx, hc, url, token, statusEvery, e.stdout)
	return exitOK
}

// watchStatus clears the screen and draws the status every interval until ctx
// ends; a gateway that does not answer is said so on the screen, and asked again.
func watchStatus(ctx context.Context, hc *http.Client, url, token string, every time.Duration, w io.Writer) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		v, _, err := fetchStatus(hc, url, token)
		var b strings.Builder
		b.WriteString(clearScreen)
		if err != nil {
			fmt.Fprintf(&b, "groq status %s: %v (asking again every %s; Ctrl-C ends)\n", url, err, every)
		} else {
			drawStatus(&b, url, v)
		}
		io.WriteString(w, b.String())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// statusOnce prints the status once, drawn or as the gateway's JSON.
func statusOnce(hc *http.Client, url, token string, raw bool, e env) int {
	v, data, err := fetchStatus(hc, url, token)
	if err != nil {
		fmt.Fprintf(e.stderr, "groq: status: %v\n", err)
		return exitAPI
	}
	if raw {
		e.stdout.Write(append(data, '\n'))
		return exitOK
	}
	var b strings.Builder
	drawStatus(&b, url, v)
	io.WriteString(e.stdout, b.String())
	return exitOK
}

// statusURL is the gateway's /status URL from what the user gave: a URL or
// host:port, with or without /status.
func statusURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return "", fmt.Errorf("%q is not an http(s) URL of a gateway", s)
	}
	s = strings.TrimSuffix(strings.TrimRight(s, "/"), "/status")
	if len(s) <= len("https://") {
		return "", fmt.Errorf("%q names no host", s)
	}
	return s + "/status", nil
}

// fetchStatus asks the gateway for its status; a refusal is an error with the
// gateway's message.
func fetchStatus(hc *http.Client, url, token string) (gateway.StatusView, []byte, error) {
	var v gateway.StatusView
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return v, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return v, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return v, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		return v, nil, fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, msg)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, nil, fmt.Errorf("%s: not a gateway's status: %v", url, err)
	}
	return v, data, nil
}

// drawStatus writes the status as text: the gateway's totals, then per model
// its buckets as bars, its 429s and retries and its queue by priority (most
// urgent first), then each token's day.
func drawStatus(b *strings.Builder, url string, v gateway.StatusView) {
	fmt.Fprintf(b, "groq gateway %s   %s   serving %d   in flight %d   queued %d", strings.TrimSuffix(url, "/status"),
		v.Time.Local().Format(time.TimeOnly), v.Gateway.Serving, v.InFlight, total(v.Queued))
	if v.Gateway.Draining {
		b.WriteString("   DRAINING")
	}
	b.WriteString("\n")
	for _, m := range v.Models {
		fmt.Fprintf(b, "\n%s   in flight %d   429s %d   retries %d (last %d min)\n", m.Model, m.InFlight, m.RateLimited, m.Retries, v.WindowSeconds/60)
		for _, q := range m.Quotas {
			drawQuota(b, q)
		}
		drawQueue(b, m.Queued)
	}
	b.WriteString("\ntokens (today, UTC)\n")
	fmt.Fprintf(b, "  %-16s %8s %10s %10s %8s\n", "NAME", "CALLS", "TOKENS", "BUDGET", "SERVING")
	for _, t := range v.Tokens {
		budget := "none"
		if t.DailyTokens > 0 {
			budget = strconv.FormatInt(t.DailyTokens, 10)
		}
		fmt.Fprintf(b, "  %-16s %8d %10d %10s %8d\n", t.Name, t.CallsToday, t.TokensToday, budget, t.Serving)
	}
}

// drawQuota writes one quota's buckets.
func drawQuota(b *strings.Builder, q groq.QuotaStatus) {
	fmt.Fprintf(b, "  quota %s", q.Name)
	if q.CoolingUntil != nil {
		fmt.Fprintf(b, "   cooling down until %s", q.CoolingUntil.Local().Format(time.TimeOnly))
	}
	b.WriteString("\n")
	for _, k := range q.Buckets {
		frac := 0.0
		if k.Depth > 0 {
			frac = float64(k.Level) / float64(k.Depth)
		}
		src := string(k.Source)
		if src == "" {
			src = "none"
		}
		fmt.Fprintf(b, "    %-3s [%s] %9d used %9d left of %-9d %s\n", k.Name, meter(frac, 20), k.Used, k.Level, k.Depth, src)
	}
	if f := q.Foreign; f.RequestsPerMinute > 0 || f.TokensPerMinute > 0 {
		fmt.Fprintf(b, "    others spend %.1f requests and %.0f tokens a minute (left for them: %d requests, %d tokens)\n",
			f.RequestsPerMinute, f.TokensPerMinute, f.ReserveRequests, f.ReserveTokens)
	}
}

// drawQueue writes a queue by priority, most urgent first.
func drawQueue(b *strings.Builder, q map[int]int) {
	n := total(q)
	if n == 0 {
		b.WriteString("  queue: nobody waits\n")
		return
	}
	fmt.Fprintf(b, "  queue: %d waiting\n", n)
	prios := make([]int, 0, len(q))
	for p := range q {
		prios = append(prios, p)
	}
	slices.Sort(prios)
	for _, p := range prios {
		fmt.Fprintf(b, "    p%-2d [%s] %d\n", p, meter(float64(q[p])/float64(n), 20), q[p])
	}
}

// meter is a bar of width characters, frac of it filled.
func meter(frac float64, width int) string {
	full := int(frac*float64(width) + 0.5)
	full = min(max(full, 0), width)
	return strings.Repeat("#", full) + strings.Repeat(".", width-full)
}

func total(q map[int]int) int {
	n := 0
	for _, v := range q {
		n += v
	}
	return n
}
