package groq_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
)

// TestReadmeTellsAPayingUser: the README says how to install the command, where
// a key comes from, that the built-in limits are the free plan's (with the
// table's own figures), what the command writes, and every test dependency; and
// it stays within 400 lines.
func TestReadmeTellsAPayingUser(t *testing.T) {
	data, err := os.ReadFile("README.md")
	require.NoError(t, err)
	readme := string(data)
	assert.LessOrEqual(t, strings.Count(readme, "\n"), 400, "README.md is at most 400 lines")
	for _, want := range []string{
		"go install github.com/groqkit/groq/cmd/groq@latest",
		"https://console.groq.com/keys",
		"free plan",
		".groq_cache.json",
		"0600",
		"go.uber.org/goleak",
	} {
		assert.Contains(t, readme, want)
	}
	l := groq.BuiltinLimits()["llama-3.1-8b-instant"]
	figures := fmt.Sprintf("%s RPM, %s RPD, %s TPM, %s TPD", thousands(l.RPM), thousands(l.RPD), thousands(l.TPM), thousands(l.TPD))
	assert.Contains(t, readme, figures, "the README's figures are the built-in table's")
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestTestsReadOnlyInsideTheRepository: no test names a relative path that
// leaves the repository (a fresh clone has nothing beside it; CI also runs the
// tests from such a copy).
func TestTestsReadOnlyInsideTheRepository(t *testing.T) {
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !strings.HasPrefix(s, "../") || s == "../" {
				return true
			}
			target := filepath.Join(filepath.Dir(path), s)
			if rel, err := filepath.Rel(root, target); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Errorf("%s: %q is outside the repository", fset.Position(lit.Pos()), s)
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
}
