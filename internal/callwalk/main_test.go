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

// maxFiles is the most files of this module whose code one chat call runs with
// the library's defaults: issue 29's mark. maxFilesCached is the same call with a
// file cache (WithCacheFile), which adds the cache, its file, the file lock and
// the atomic write: today's count, so that a change that spreads a call over more
// files fails here.
const (
	maxFiles       = 10
	maxFilesCached = 13
)

// TestRunsWithoutCoverage makes the calls of both walks in this process.
func TestRunsWithoutCoverage(t *testing.T) {
	require.NoError(t, run("", false))
	require.NoError(t, run("", true))
}

// TestOneChatCallWalk builds this command with coverage of the module, runs it
// with the library's defaults and with a file cache, and lists the module's files
// whose code the one measured call ran; doc.go's walk of a call must name each.
func TestOneChatCallWalk(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "callwalk")
	build := exec.Command("go", "build", "-cover", "-covermode=atomic", "-coverpkg=github.com/groqkit/groq/...", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	doc, err := os.ReadFile("../../doc.go")
	require.NoError(t, err)
	_, walk, ok := strings.Cut(string(doc), "// # A call, file by file")
	require.True(t, ok, "doc.go has no section \"A call, file by file\"")
	walk, _, _ = strings.Cut(walk, "\n// # ")
	for _, tc := range []struct {
		name string
		args []string
		max  int
	}{
		{"defaults", nil, maxFiles},
		{"file cache", []string{"-cache"}, maxFilesCached},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := walkOf(t, bin, tc.args...)
			t.Logf("one chat call (%s) runs code in %d files of the module: %s", tc.name, len(files), strings.Join(files, ", "))
			require.Contains(t, files, "call.go", "the profile is not the call's")
			require.LessOrEqual(t, len(files), tc.max, "one chat call's code runs in these files: %v", files)
			for _, f := range files {
				assert.Contains(t, walk, f, "doc.go's walk of a call does not name %s, whose code one chat call runs", f)
			}
		})
	}
}

// walkOf runs the coverage binary bin with args and lists the module's files
// whose code the measured call ran.
func walkOf(t *testing.T, bin string, args ...string) []string {
	dir := t.TempDir()
	cover := filepath.Join(dir, "cover")
	require.NoError(t, os.Mkdir(cover, 0o755))
	runCmd := exec.Command(bin, args...)
	runCmd.Env = append(os.Environ(), "GOCOVERDIR="+cover)
	out, err := runCmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	profile := filepath.Join(dir, "cover.txt")
	out, err = exec.Command("go", "tool", "covdata", "textfmt", "-i", cover, "-o", profile).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return walked(t, profile)
}

// walked lists the module's files with a block that ran in a coverage profile
// (lines "path/file.go:from,to statements count"), as paths from the module's
// root; the simulator (groqtest) and this command are not the library's.
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
		rel := strings.TrimPrefix(name, "github.com/groqkit/groq/")
		if !strings.HasPrefix(rel, "groqtest/") && !strings.HasPrefix(rel, "internal/callwalk/") {
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
