package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/serve"
)

const model = "llama-3.1-8b-instant"

// chromium is the browser to drive: $GROQ_CHROMIUM, else the first of
// Debian's and Google's names on the PATH. Without one the test is skipped,
// unless CI is set: there it fails (CI installs chromium with apt-get).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GROQ_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set and no Chromium was found (chromium, chromium-browser, google-chrome or $GROQ_CHROMIUM): install it with apt-get install chromium")
	}
	t.Skip("SKIPPED: no Chromium found (chromium, chromium-browser, google-chrome or $GROQ_CHROMIUM); install it with apt-get install chromium to run the browser test")
	return ""
}

// console keeps the page's console errors and uncaught exceptions.
type console struct {
	mu   sync.Mutex
	errs []string
}

func (c *console) add(m chromedp.ConsoleMessage) {
	if m.Type != chromedp.ConsoleError && !m.IsException() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
}

// take returns the errors so far and forgets them.
func (c *console) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	errs := c.errs
	c.errs = nil
	return errs
}

// browser starts headless Chromium with a fresh profile and the flags a closed
// network needs, and returns its tab and the tab's console errors.
func browser(t *testing.T) (context.Context, *console) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	base, stop := context.WithTimeout(context.Background(), 3*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancel := chromedp.NewContext(actx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); cancelAlloc(); stop(); wg.Wait() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1000)); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	c := &console{}
	msgs := chromedp.Console(ctx)
	wg.Go(func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.add(m)
		}
	})
	return ctx, c
}

// gateway runs groq serve in this process with args, in front of a started
// simulator whose model is limited to 2 requests a minute by the config file,
// until the test ends; it returns the simulator and the address served.
func gateway(t *testing.T, args ...string) (*groqtest.Server, string) {
	t.Helper()
	up := groqtest.NewServer()
	t.Cleanup(up.Close)
	cfg := filepath.Join(t.TempDir(), "groq.json")
	if err := os.WriteFile(cfg, []byte(`{"models":{"`+model+`":{"api_key":"gsk_browser","req_per_minute":2}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"GROQ_BASE_URL": up.URL()}
	sigs := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	done := make(chan int, 1)
	var logs bytes.Buffer
	var mu sync.Mutex
	stderr := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	go func() {
		done <- serve.Run(append(args, "--config", cfg, "--shutdown-grace", "1s"), serve.Env{Stdout: io.Discard, Stderr: stderr,
			Getenv: func(k string) string { return vars[k] }, Signals: sigs, Ready: func(a string) { ready <- a }}, serve.Hooks{})
	}()
	t.Cleanup(func() {
		sigs <- syscall.SIGTERM
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("groq serve still runs after SIGTERM")
		}
	})
	select {
	case a := <-ready:
		_, port, _ := net.SplitHostPort(a)
		return up, "127.0.0.1:" + port
	case code := <-done:
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("groq serve exited %d: %s", code, logs.String())
	}
	return nil, ""
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// chat sends a chat call through the gateway at base with priority p (0: the
// default) and the caller's bearer token (none: ""), and returns its status.
func chat(ctx context.Context, base, bearer string, p int) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/openai/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hello"}]}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if p > 0 {
		req.Header.Set("X-Groq-Priority", fmt.Sprint(p))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitFor polls the page until the JavaScript expression is true.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond),
		chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("waiting for %s (%s): %v; the page shows:\n%s", what, expr, err, body)
	}
}

// card is a selector within the model's card on the page.
func card(sel string) string {
	return `document.querySelector('[data-model="` + model + `"] ` + sel + `')`
}

// screenshot saves the tab as a PNG in $GROQ_SCREENSHOT_DIR (default: a new
// temporary directory, kept) and prints where.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("the screenshot is not a PNG (%d bytes)", len(png))
	}
	dir := os.Getenv("GROQ_SCREENSHOT_DIR")
	if dir == "" {
		if dir, err = os.MkdirTemp("", "groq-screenshots-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestStatusPageOnLoopback: with the gateway on loopback the page is open; it
// loads with no console error, its numbers move when calls are made (the RPM
// bucket, the token's calls, a 429 and its retry), and an urgent call queued
// behind a backlog shows above it.
func TestStatusPageOnLoopback(t *testing.T) {
	ctx, cons := browser(t)
	up, addr := gateway(t, "--listen", "127.0.0.1:0")
	base := "http://" + addr
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the first poll", `document.getElementById("updated").textContent !== "never"`)
	waitFor(t, ctx, "an empty RPM bucket", card(`.bucket[data-limit="RPM"] .used`)+`?.textContent === "0"`)

	if code, err := chat(ctx, base, "", 0); err != nil || code != http.StatusOK {
		t.Fatalf("first call: %d, %v", code, err)
	}
	up.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "1"})
	if code, err := chat(ctx, base, "", 0); err != nil || code != http.StatusOK {
		t.Fatalf("second call (a 429, then a retry): %d, %v", code, err)
	}
	waitFor(t, ctx, "the RPM bucket spent", card(`.bucket[data-limit="RPM"] .used`)+`?.textContent === "2"`)
	waitFor(t, ctx, "the token's calls", `document.querySelector('tr[data-token="anonymous"] .calls')?.textContent === "2"`)
	waitFor(t, ctx, "the 429", card(`.rate-limited`)+`?.textContent === "1"`)
	waitFor(t, ctx, "the retry", card(`.retries`)+`?.textContent === "1"`)

	// The bucket is empty: a backlog of 3 at priority 9 waits, then 1 urgent call.
	calls, stopCalls := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stopCalls(); wg.Wait() }()
	for range 3 {
		wg.Go(func() { chat(calls, base, "", 9) })
	}
	waitFor(t, ctx, "the backlog", card(`.queue [data-priority="9"] .count`)+`?.textContent === "3"`)
	wg.Go(func() { chat(calls, base, "", 1) })
	waitFor(t, ctx, "the urgent call", card(`.queue [data-priority="1"] .count`)+`?.textContent === "1"`)
	above, err := chromedp.Run(ctx, chromedp.Evaluate[bool](card(`.queue [data-priority="1"]`)+`.getBoundingClientRect().bottom <= `+
		card(`.queue [data-priority="9"]`)+`.getBoundingClientRect().top`))
	if err != nil || !above {
		t.Fatalf("the urgent call does not show above the backlog (%v, %v)", above, err)
	}
	screenshot(t, ctx, "status-page.png")
	if errs := cons.take(); len(errs) > 0 {
		t.Fatalf("the page wrote %d console errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// TestStatusPageOffLoopbackNeedsTheAdminToken: with the gateway on every
// address, the page is refused without the admin token and with a caller's;
// the admin token, given once in ?token=, opens it (a cookie) and leaves the
// address.
func TestStatusPageOffLoopbackNeedsTheAdminToken(t *testing.T) {
	ctx, cons := browser(t)
	_, addr := gateway(t, "--listen", "0.0.0.0:0", "--token", "name=web,secret=gw_web", "--admin-token", "gw_admin")
	base := "http://" + addr
	for _, url := range []string{base + "/", base + "/?token=gw_web", base + "/status"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
			t.Fatal(err)
		}
		body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("models") !== null`))
		if page || !strings.Contains(body, "admin token") || strings.Contains(body, `"models"`) {
			t.Fatalf("%s without the admin token shows the status (page %v):\n%s", url, page, body)
		}
	}
	cons.take() // the refusals' 401s
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?token=gw_admin")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the first poll", `document.getElementById("updated").textContent !== "never" && document.getElementById("error").textContent === ""`)
	waitFor(t, ctx, "the token's row", `document.querySelector('tr[data-token="web"]') !== null`)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || loc != base+"/" {
		t.Fatalf("after ?token= the address is %q (%v); want %q, without the token", loc, err, base+"/")
	}
	if errs := cons.take(); len(errs) > 0 {
		t.Fatalf("the page wrote %d console errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}
