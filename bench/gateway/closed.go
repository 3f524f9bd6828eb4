package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/groqkit/groq/internal/serve"
)

// The closed-loop mode: C callers each send a call and wait for its answer,
// again and again, to a zero-latency upstream on loopback, first directly (the
// direct row), then through "groq serve" run as a child process (so that its
// CPU and memory are its own, and it can be given one core), then through each
// -other gateway. Per row: added p50 and p99 (over the direct row's at the same
// C), calls/s, the gateway's CPU per call (user + system, from /proc), the
// connections the upstream accepted, and the gateway's RSS at the end.

// others are the -other NAME=URL values.
type others []struct{ name, url string }

func (o *others) String() string { return fmt.Sprint(len(*o)) }

func (o *others) Set(v string) error {
	name, u, ok := strings.Cut(v, "=")
	if !ok || name == "" || !strings.HasPrefix(u, "http") {
		return fmt.Errorf("-other %q: NAME=URL, the URL of its chat completions endpoint (http://127.0.0.1:8081/v1/chat/completions)", v)
	}
	*o = append(*o, struct{ name, url string }{name, u})
	return nil
}

// closedConfig is the closed-loop mode's flags.
type closedConfig struct {
	n           int
	conc        []int
	others      others
	upstream    string // the upstream's listen address (fixed, for -other gateways to point at)
	maxProcs    int
	taskset     string
	cpuProfile  string
	gatewayArgs string
}

// upstreamServer is the zero-latency upstream, counting accepted connections.
type upstreamServer struct {
	srv   *httptest.Server
	conns atomic.Int64
}

func newUpstream(addr string) (*upstreamServer, error) {
	u := &upstreamServer{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req_1")
		if strings.HasSuffix(r.URL.Path, "/models") {
			io.WriteString(w, `{"object":"list","data":[{"id":"m","object":"model","owned_by":"bench","active":true,"context_window":131072}]}`)
			return
		}
		io.WriteString(w, answer)
	}))
	u.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		u.srv.Listener.Close()
		u.srv.Listener = ln
	}
	u.srv.Start()
	return u, nil
}

// row is one line of the table.
type row struct {
	name      string
	c         int
	res       result
	cpu       time.Duration // the gateway's, over the row
	upConns   int64
	rss       int64 // bytes; 0: unknown
	hasGW     bool
	knownProc bool
}

func runClosed(cfg closedConfig) error {
	up, err := newUpstream(cfg.upstream)
	if err != nil {
		return err
	}
	defer up.srv.Close()
	gwURL, child, err := startGateway(cfg, up.srv.URL)
	if err != nil {
		return err
	}
	defer stopGateway(child)
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"What is red teaming?"}]}`)
	directURL := up.srv.URL + "/chat/completions"
	// Warm: the gateways' model lists, connections, heaps.
	load(gwURL, "gw_bench", body, 2000, 16, nil)
	load(directURL, "gsk_bench", body, 2000, 16, nil)
	for _, o := range cfg.others {
		load(o.url, "gw_bench", body, 2000, 16, nil)
	}
	var rows []row
	for _, c := range cfg.conc {
		direct := measure("direct (no gateway)", directURL, "gsk_bench", body, cfg.n, c, up, 0)
		rows = append(rows, direct)
		rows = append(rows, measure("groq serve", gwURL, "gw_bench", body, cfg.n, c, up, child.Process.Pid))
		for _, o := range cfg.others {
			rows = append(rows, measure(o.name, o.url, "gw_bench", body, cfg.n, c, up, pidListening(o.url)))
		}
	}
	printRows(cfg, rows)
	for _, r := range rows {
		if r.res.failed > 0 {
			return fmt.Errorf("%s at C=%d: %d calls failed", r.name, r.c, r.res.failed)
		}
	}
	return nil
}

// measure runs one row: n calls from c closed-loop callers.
func measure(name, url, token string, body []byte, n, c int, up *upstreamServer, pid int) row {
	r := row{name: name, c: c, hasGW: name != "direct (no gateway)"}
	conns0 := up.conns.Load()
	cpu0, ok := procCPU(pid)
	r.res = load(url, token, body, n, c, nil)
	cpu1, ok1 := procCPU(pid)
	r.upConns = up.conns.Load() - conns0
	r.knownProc = ok && ok1
	r.cpu = cpu1 - cpu0
	r.rss = procRSS(pid)
	return r
}

func printRows(cfg closedConfig, rows []row) {
	fmt.Printf("closed loop: zero-latency upstream on loopback, %d calls a row, the gateway at GOMAXPROCS=%d%s\n", cfg.n, cfg.maxProcs, map[bool]string{true: " (taskset " + cfg.taskset + ")", false: ""}[cfg.taskset != ""])
	fmt.Printf("| gateway | C | added p50 | added p99 | calls/s | CPU per call | upstream connections opened | RSS |\n|---|---|---|---|---|---|---|---|\n")
	var direct row
	for _, r := range rows {
		if !r.hasGW {
			direct = r
			fmt.Printf("| %s | %d | – | – | %.0f | – | %d | – |\n", r.name, r.c, r.res.rate, r.upConns)
			continue
		}
		cpu, rss := "–", "–"
		if r.knownProc {
			cpu = fmt.Sprintf("%.0f µs", float64(r.cpu.Microseconds())/float64(len(r.res.lat)))
		}
		if r.rss > 0 {
			rss = fmt.Sprintf("%.1f MB", float64(r.rss)/1e6)
		}
		fmt.Printf("| %s | %d | %s | %s | %.0f | %s | %d | %s |\n", r.name, r.c, signed(r.res.p(50)-direct.res.p(50)), signed(r.res.p(99)-direct.res.p(99)), r.res.rate, cpu, r.upConns, rss)
	}
}

// startGateway runs this program again as "groq serve" on upstream, with
// GOMAXPROCS (and taskset), and returns its chat URL.
func startGateway(cfg closedConfig, upstream string) (string, *exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	args := []string{self, "-serve-child", "-cpuprofile", cfg.cpuProfile, "--", "--listen", "127.0.0.1:0", "--token", "gw_bench", "--rpm", "0", "--max-queue", "0"}
	args = append(args, strings.Fields(cfg.gatewayArgs)...)
	if cfg.taskset != "" {
		args = append([]string{"taskset", "-c", cfg.taskset}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(cfg.maxProcs), "GROQ_API_KEY=gsk_bench", "GROQ_BASE_URL="+upstream, "GROQ_API_KEYS=")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return "", nil, fmt.Errorf("the gateway did not start: %v", err)
	}
	return "http://" + strings.TrimSpace(line) + "/openai/v1/chat/completions", cmd, nil
}

func stopGateway(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// serveChild is the child: groq serve, printing its address on standard
// output, with a CPU profile of its whole run when asked.
func serveChild(args []string, cpuProfile string) int {
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	var once sync.Once
	return serve.Run(args, serve.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: os.Getenv,
		Ready: func(addr string) { once.Do(func() { fmt.Println(addr) }) }}, serve.Hooks{})
}

// procCPU is process pid's user and system CPU so far (Linux /proc).
func procCPU(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// Fields after the command's closing parenthesis: state is field 3;
	// utime and stime are fields 14 and 15, in clock ticks (100 a second).
	i := bytes.LastIndexByte(data, ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, true
}

// procRSS is process pid's resident set size (0: unknown).
func procRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// pidListening is the process listening on rawURL's loopback port, found
// through /proc/net/tcp and the processes' sockets (0: not found, as for a
// process of another user).
func pidListening(rawURL string) int {
	_, rest, _ := strings.Cut(rawURL, "://")
	hostport, _, _ := strings.Cut(rest, "/")
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(port)
	want := fmt.Sprintf(":%04X", p)
	var inodes []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(data), "\n") {
			fs := strings.Fields(l)
			if len(fs) > 9 && strings.HasSuffix(fs[1], want) && fs[3] == "0A" { // LISTEN
				inodes = append(inodes, "socket:["+fs[9]+"]")
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := os.ReadDir("/proc")
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", d.Name(), "fd"))
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join("/proc", d.Name(), "fd", fd.Name())); err == nil && slices.Contains(inodes, link) {
				return pid
			}
		}
	}
	return 0
}

// signed is d in µs with its sign (an added p99 can be negative in a noisy run).
func signed(d time.Duration) string {
	if d < 0 {
		return "−" + us(-d)
	}
	return "+" + us(d)
}
