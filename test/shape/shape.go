// Package shape measures the shape rules of issue 11 on a package: its non-test lines, and the
// method set of every named type it declares (struct: of *T, with promoted methods, so that a
// facet embedded in a type counts on that type; interface: its whole method set, embedded
// interfaces included).
package shape

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Limits of issue 11's "Done when".
const (
	MaxLines   = 2500
	MaxMethods = 25
)

// Type is a named type and the size of its method set.
type Type struct {
	Name    string
	Methods int
}

// Package is what Measure found in one package directory.
type Package struct {
	Dir   string
	Lines int    // newlines in the non-test .go files built with the gateway's tags
	Types []Type // every named type, the largest method set first
}

// Measure type-checks the package in dir (build tag goolm, as the gateway is built) and measures it.
func Measure(dir string) (*Package, error) {
	exports, err := exportData(dir, ".")
	if err != nil {
		return nil, err
	}
	return measure(dir, exports)
}

// MeasureModule measures every package of the module whose root is root: the packages go list
// finds under it (it does not walk testdata or directories whose names begin with "." or "_",
// such as .cache), without node_modules folders and packages that hold only tests. Dirs are
// relative to root, with slashes.
func MeasureModule(root string) ([]*Package, error) {
	cmd := exec.Command("go", "list", "-tags", "goolm", "-f", "{{.Dir}}\t{{len .GoFiles}}", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("failed to list the packages under %s: %w: %s", root, err, stderr.String())
	}
	exports, err := exportData(root, "./...")
	if err != nil {
		return nil, err
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	var pkgs []*Package
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, n, _ := strings.Cut(line, "\t")
		rel, err := filepath.Rel(absRoot, dir)
		if err != nil {
			return nil, err
		}
		rel = filepath.ToSlash(rel)
		if n == "0" || slices.Contains(strings.Split(rel, "/"), "node_modules") {
			continue
		}
		p, err := measure(dir, exports)
		if err != nil {
			return nil, err
		}
		p.Dir = rel
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

func measure(dir string, exports map[string]string) (*Package, error) {
	ctx := build.Default
	ctx.BuildTags = append(ctx.BuildTags, "goolm")
	bp, err := ctx.ImportDir(dir, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to read the package in %s: %w", dir, err)
	}
	fset := token.NewFileSet()
	p := &Package{Dir: dir}
	var files []*ast.File
	for _, name := range bp.GoFiles {
		src, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		p.Lines += bytes.Count(src, []byte("\n"))
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), src, 0)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	var typeErrs []string
	conf := types.Config{
		Importer: importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
			file, ok := exports[path]
			if !ok {
				return nil, fmt.Errorf("no export data for %s", path)
			}
			return os.Open(file)
		}),
		Error: func(err error) { typeErrs = append(typeErrs, err.Error()) },
	}
	pkg, _ := conf.Check(bp.ImportPath, fset, files, nil)
	if len(typeErrs) > 0 {
		return nil, fmt.Errorf("failed to type-check %s: %s", dir, strings.Join(typeErrs[:min(3, len(typeErrs))], "; "))
	}
	for _, name := range pkg.Scope().Names() {
		tn, ok := pkg.Scope().Lookup(name).(*types.TypeName)
		if !ok || tn.IsAlias() {
			continue
		}
		n := types.NewMethodSet(types.NewPointer(tn.Type())).Len()
		if types.IsInterface(tn.Type()) {
			n = types.NewMethodSet(tn.Type()).Len()
		}
		p.Types = append(p.Types, Type{Name: name, Methods: n})
	}
	sort.SliceStable(p.Types, func(i, j int) bool { return p.Types[i].Methods > p.Types[j].Methods })
	return p, nil
}

// exportData maps the import path of each dependency of the packages pattern names (run in dir)
// to its compiled export data (go list -export: from the build cache when it is warm).
func exportData(dir, pattern string) (map[string]string, error) {
	cmd := exec.Command("go", "list", "-tags", "goolm", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", pattern)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("failed to list the dependencies of %s: %w: %s", dir, err, stderr.String())
	}
	exports := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if path, file, ok := strings.Cut(line, "\t"); ok && file != "" {
			exports[path] = file
		}
	}
	return exports, nil
}

// Problems lists how p breaks the limits.
func (p *Package) Problems() []string {
	var out []string
	if p.Lines > MaxLines {
		out = append(out, fmt.Sprintf("%s: %d non-test lines (at most %d)", p.Dir, p.Lines, MaxLines))
	}
	for _, t := range p.Types {
		if t.Methods > MaxMethods {
			out = append(out, fmt.Sprintf("%s: type %s has %d methods (at most %d)", p.Dir, t.Name, t.Methods, MaxMethods))
		}
	}
	return out
}

// Guard lists how pkgs break the limits, given an allowance: the packages (by Dir) that may be
// over the limits for now, each with the reason. A package over the limits that the allowance
// does not name is listed, and so is an allowance entry that is no longer needed (its package is
// within the limits, or there is no such package), so that the allowance only ever shrinks.
func Guard(pkgs []*Package, allowance map[string]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.Dir] = true
		problems := p.Problems()
		_, allowed := allowance[p.Dir]
		switch {
		case allowed && len(problems) == 0:
			out = append(out, fmt.Sprintf("%s is within the limits now: take it out of the allowance", p.Dir))
		case !allowed:
			out = append(out, problems...)
		}
	}
	for dir := range allowance {
		if !seen[dir] {
			out = append(out, fmt.Sprintf("the allowance names %s, which is not a package of the module: take it out", dir))
		}
	}
	sort.Strings(out)
	return out
}
