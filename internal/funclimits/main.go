// Command funclimits checks that no function in a package's non-test Go files takes
// more than -params parameters or runs past -lines lines (from the func keyword to
// the closing brace). It prints each offender as file:line and exits 1 when there
// is one.
//
//	go run ./internal/funclimits          # the root package, 6 parameters, 80 lines
//	go run ./internal/funclimits ./...    # every package of the module (CI runs this)
//	go run ./internal/funclimits -lines 60 ./groqtest
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	params := flag.Int("params", 6, "the most parameters a function may take")
	lines := flag.Int("lines", 80, "the most lines a function may run")
	flag.Parse()
	dir := "."
	if flag.NArg() > 0 {
		dir = flag.Arg(0)
	}
	n, err := checkTree(os.Stdout, dir, *params, *lines)
	if err != nil {
		fmt.Fprintln(os.Stderr, "funclimits:", err)
		os.Exit(2)
	}
	if n > 0 {
		fmt.Fprintf(os.Stdout, "%d function(s) over %d parameters or %d lines\n", n, *params, *lines)
		os.Exit(1)
	}
}

// checkTree checks dir, or, when it ends in "/...", every package directory under
// it that belongs to the same module: a directory with a go.mod of its own (a
// submodule), testdata and hidden directories are left out.
func checkTree(w io.Writer, dir string, maxParams, maxLines int) (int, error) {
	root, ok := strings.CutSuffix(filepath.ToSlash(dir), "/...")
	if !ok {
		return check(w, dir, maxParams, maxLines)
	}
	if root == "" {
		root = "."
	}
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if path != root {
			if name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		n, err := check(w, path, maxParams, maxLines)
		found += n
		return err
	})
	return found, err
}

// check writes to w every function in dir's non-test Go files over the limits, and
// returns how many there are.
func check(w io.Writer, dir string, maxParams, maxLines int) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return 0, err
	}
	sort.Strings(files)
	fset := token.NewFileSet()
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return found, err
		}
		for _, d := range file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			params := 0
			for _, p := range fd.Type.Params.List {
				params += max(1, len(p.Names))
			}
			start, end := fset.Position(fd.Pos()), fset.Position(fd.End())
			n := end.Line - start.Line + 1
			if params > maxParams || n > maxLines {
				fmt.Fprintf(w, "%s:%d: %s: %d parameters, %d lines\n", f, start.Line, fd.Name.Name, params, n)
				found++
			}
		}
	}
	return found, nil
}
