package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckFindsLongAndWideFunctions(t *testing.T) {
	dir := t.TempDir()
	src := "package p\n\nfunc ok(a, b int) {}\n\nfunc wide(a, b, c, d, e, f, g int) {}\n\nfunc long() {\n" +
		strings.Repeat("\t_ = 1\n", 80) + "}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p_test.go"), []byte("package p\n\nfunc skipped(a, b, c, d, e, f, g int) {}\n"), 0o644))
	var out strings.Builder
	n, err := check(&out, dir, 6, 80)
	require.NoError(t, err)
	assert.Equal(t, 2, n, out.String())
	assert.Contains(t, out.String(), "wide: 7 parameters")
	assert.Contains(t, out.String(), "long: 0 parameters, 82 lines")
	assert.NotContains(t, out.String(), "skipped")
}

func TestModuleIsWithinLimits(t *testing.T) {
	var out strings.Builder
	n, err := checkTree(&out, "../../...", 6, 80)
	require.NoError(t, err)
	assert.Zero(t, n, "functions over the limits in the module's packages:\n%s", out.String())
}

func TestCheckTreeWalksPackagesButNotSubmodules(t *testing.T) {
	dir := t.TempDir()
	wide := "package p\n\nfunc wide(a, b, c, d, e, f, g int) {}\n"
	for _, sub := range []string{"a", "a/b", "sub", "a/testdata"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, sub, "p.go"), []byte(wide), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "go.mod"), []byte("module sub\n"), 0o644))
	var out strings.Builder
	n, err := checkTree(&out, dir+"/...", 6, 80)
	require.NoError(t, err)
	assert.Equal(t, 2, n, out.String())
	assert.Contains(t, out.String(), filepath.Join("a", "b", "p.go"))
	assert.NotContains(t, out.String(), "sub")
	assert.NotContains(t, out.String(), "testdata")
}
