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
	exports, err := exportData(dir)
	if err != nil {
		return nil, err
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

// exportData maps the import path of each dependency of the package in dir to its compiled
// export data (go list -export: from the build cache when it is warm).
func exportData(dir string) (map[string]string, error) {
	cmd := exec.Command("go", "list", "-tags", "goolm", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", ".")
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
