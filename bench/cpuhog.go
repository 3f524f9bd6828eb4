package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"time"
)

// hogEnv makes the bench binary (or its test binary) a busy process instead:
// see startHog.
const hogEnv = "GROQKIT_BENCH_CPU_HOG"

// hog is a set of busy processes: the bench binary itself, re-executed in its
// spin mode, each spinning on one core until its standard input closes.
type hog struct {
	cmds  []*exec.Cmd
	pipes []io.Closer
}

// startHog starts n busy processes and gives them a moment to take the cores.
// Stop them with stop; each also exits when this process dies (its standard
// input closes).
func startHog(n int) (*hog, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("-cpu-hog: %w", err)
	}
	h := &hog{}
	for range n {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), hogEnv+"=1")
		in, err := cmd.StdinPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			h.stop()
			return nil, fmt.Errorf("-cpu-hog: starting a busy process: %w", err)
		}
		h.cmds, h.pipes = append(h.cmds, cmd), append(h.pipes, in)
	}
	time.Sleep(50 * time.Millisecond)
	return h, nil
}

// stop ends the busy processes and waits for them.
func (h *hog) stop() {
	for i, c := range h.cmds {
		h.pipes[i].Close()
		c.Process.Kill()
		c.Wait()
	}
	h.cmds, h.pipes = nil, nil
}

// spinIfHog makes this process a busy one when hogEnv is set: one thread
// spinning until standard input closes. It reports whether it was one (it then
// has spun and the caller should exit).
func spinIfHog() bool {
	if os.Getenv(hogEnv) != "1" {
		return false
	}
	runtime.GOMAXPROCS(1)
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	for n := uint64(0); ; n++ {
		if n%(1<<20) == 0 {
			select {
			case <-done:
				return true
			default:
			}
		}
	}
}
