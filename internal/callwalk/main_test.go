package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxFiles is the most files of the root package whose code one chat call runs:
// today's count, so that a change that spreads a call over more files fails here.
// Issue 29 asks for 10; see doc.go ("A call, file by file") for where it stands.
const maxFiles = 23

// TestRunsWithoutCoverage makes the two calls in this process.
func TestRunsWithoutCoverage(t *testing.T) {
	require.NoError(t, run(""))
}

// TestOneChatCallWalk builds this command with coverage of the root package, runs
// it, and lists the root package's files whose code the one measured call ran.
func TestOneChatCallWalk(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "callwalk")
	build := exec.Command("go", "build", "-cover", "-covermode=atomic", "-coverpkg=github.com/groqkit/groq,github.com/groqkit/groq/internal/callwalk", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	cover := filepath.Join(dir, "cover")
	require.NoError(t, os.Mkdir(cover, 0o755))
	runCmd := exec.Command(bin)
	runCmd.Env = append(os.Environ(), "GOCOVERDIR="+cover)
	out, err = runCmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	profile := filepath.Join(dir, "cover.txt")
	out, err = exec.Command("go", "tool", "covdata", "textfmt", "-i", cover, "-o", profile).CombinedOutput()
	require.NoError(t, err, "%s", out)
	files := walked(t, profile)
	t.Logf("one chat call runs code in %d files of the root package: %s", len(files), strings.Join(files, ", "))
	require.NotEmpty(t, files, "no file of the root package ran: the profile is not the call's")
	require.LessOrEqual(t, len(files), maxFiles, "one chat call's code runs in these files: %v", files)
	doc, err := os.ReadFile("../../doc.go")
	require.NoError(t, err)
	_, walk, ok := strings.Cut(string(doc), "// # A call, file by file")
	require.True(t, ok, "doc.go has no section \"A call, file by file\"")
	walk, _, _ = strings.Cut(walk, "\n// # ")
	for _, f := range files {
		assert.Contains(t, walk, f, "doc.go's walk of a call does not name %s, whose code one chat call runs", f)
	}
}

// walked lists the root package's files with a block that ran in a coverage
// profile (lines "path/file.go:from,to statements count").
func walked(t *testing.T, profile string) []string {
	f, err := os.Open(profile)
	require.NoError(t, err)
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(rest)
		if !ok || len(fields) != 3 || fields[2] == "0" {
			continue
		}
		if rel := strings.TrimPrefix(name, "github.com/groqkit/groq/"); !strings.Contains(rel, "/") {
			seen[rel] = true
		}
	}
	require.NoError(t, sc.Err())
	files := make([]string, 0, len(seen))
	for name := range seen {
		files = append(files, name)
	}
	sort.Strings(files)
	return files
}
