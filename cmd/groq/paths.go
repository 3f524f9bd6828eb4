package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/groqkit/groq"
)

// This file keeps the command from destroying what it was not asked to write:
// every path it writes (the cache and the files beside it, -o, the batch id file)
// is a regular file or absent, and an output file is appended to, never rewritten.

// regularOrAbsent refuses a path that exists and is not a regular file (a device
// such as /dev/null, a FIFO, a socket, a directory), naming it and what it is. A
// symbolic link is followed: it is written through, never replaced.
func regularOrAbsent(flagName, path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s %s: %v", flagName, path, err)
	case st.Mode().IsRegular():
		return nil
	}
	return fmt.Errorf("%s %s is %s, not a regular file: give the path of a file (it is created when missing)", flagName, path, kindOf(st.Mode()))
}

func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file (" + m.Type().String() + ")"
}

// checkPaths checks every path the command may write, before any work.
func checkPaths(o *options, batch bool) error {
	var paths [][2]string
	if !o.noCache && o.cachePath != "" {
		for _, suffix := range []string{"", ".journal", ".lock", ".budget", ".budget.lock"} {
			paths = append(paths, [2]string{"--cache", o.cachePath + suffix})
		}
	}
	if batch && o.output != "" {
		paths = append(paths, [2]string{"-o", o.output}, [2]string{"-o", o.output + ".batch"})
	}
	for _, p := range paths {
		if err := regularOrAbsent(p[0], p[1]); err != nil {
			return err
		}
	}
	return nil
}

// outputLine is a line of the command's batch output: Groq's batch output line,
// and whether the built-in simulator answered it (such a line is not done for a
// run against Groq).
type outputLine struct {
	groq.BatchOutput
	Simulated bool `json:"simulated,omitempty"`
}

// existingOutput is what an output file holds already.
type existingOutput struct {
	done      map[string]bool // custom_ids whose last line is a success
	resent    int             // successes that do not count (simulated, for a run against Groq)
	lines     int             // lines read: the next output id follows them
	torn      bool            // the file does not end with a newline (a crash mid-line)
	nonOutput bool            // a non-empty line that is not a batch output line
}

// readOutput reads an output file to resume: the last line of each custom_id
// wins. Nothing is written. A missing file is empty.
func readOutput(path string, simulated bool) (existingOutput, error) {
	out := existingOutput{done: map[string]bool{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	last := map[string]outputLine{}
	for {
		raw, err := r.ReadBytes('\n')
		if len(raw) > 0 && err == io.EOF {
			out.torn = true
		}
		if line := bytes.TrimSpace(raw); len(line) > 0 {
			var o outputLine
			switch {
			case isOutputLine(line) && json.Unmarshal(line, &o) == nil:
				out.lines++
				last[o.CustomID] = o
			case !out.torn: // a torn last line is a crash's, not another file's
				out.nonOutput = true
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, err
		}
	}
	for id, o := range last {
		switch {
		case !o.OK():
		case o.Simulated && !simulated:
			out.resent++
		default:
			out.done[id] = true
		}
	}
	return out, nil
}

// isOutputLine reports whether line is a batch output line: an "id", a
// "custom_id", a "response" or an "error", and none of an input line's "body",
// "method" or "url" (a batch input given as OUT is refused, not appended to).
func isOutputLine(line []byte) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(line, &fields) != nil {
		return false
	}
	var customID string
	if json.Unmarshal(fields["custom_id"], &customID) != nil || customID == "" || fields["id"] == nil {
		return false
	}
	_, response := fields["response"]
	_, failed := fields["error"]
	_, body := fields["body"]
	_, method := fields["method"]
	_, url := fields["url"]
	return (response || failed) && !body && !method && !url
}

// sameFile reports whether a and b are one file (either may be missing).
func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// openAppend opens an output file for appending (creating it, owner-only), and
// ends a line a crash left unfinished, so that the next line stays whole.
func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			f.Write([]byte{'\n'})
		}
	}
	return f, nil
}
