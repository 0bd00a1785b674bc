package gateway

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// No type of the hub or of the faces has more than 25 methods (issue 11): the hub hands its
// work to collaborators (actionRunner, webFront, wsConns, pushers, botRegistry, fanout, faces).
func TestNoTypeAbove25Methods(t *testing.T) {
	for _, dir := range []string{".", "../face", "../onebot/v11", "../onebot/v12"} {
		for typ, n := range methodsPerType(t, dir) {
			if n > 25 {
				t.Errorf("%s: type %s has %d methods, want at most 25", dir, typ, n)
			}
		}
	}
}

// methodsPerType counts the methods declared on each type in the non-test files of dir, and the
// methods of each interface type.
func methodsPerType(t *testing.T, dir string) map[string]int {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	out := map[string]int{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, p, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || len(d.Recv.List) == 0 {
					continue
				}
				rt := d.Recv.List[0].Type
				if s, ok := rt.(*ast.StarExpr); ok {
					rt = s.X
				}
				if id, ok := rt.(*ast.Ident); ok {
					out[id.Name]++
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if ts, ok := s.(*ast.TypeSpec); ok {
						if it, ok := ts.Type.(*ast.InterfaceType); ok {
							out[ts.Name.Name] += len(it.Methods.List)
						}
					}
				}
			}
		}
	}
	return out
}
