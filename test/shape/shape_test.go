package shape

import (
	"path/filepath"
	"strings"
	"testing"
)

// overTheLimitsForNow is a TEMPORARY allowance: the packages still over issue 11's limits while
// their reshape is under way, each with the reason. It must end empty: every other package of the
// module is held to the limits, and an entry whose package is within them fails the test until it
// is taken out.
var overTheLimitsForNow = map[string]string{}

// Every package of the module (go list ./...: not .cache, testdata or node_modules) stays within
// issue 11's limits, but for the allowance above.
func TestEveryPackageStaysWithinTheLimits(t *testing.T) {
	pkgs, err := MeasureModule(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 30 {
		t.Fatalf("found %d packages; the module has more: the walk is broken", len(pkgs))
	}
	for _, p := range pkgs {
		if strings.Contains(p.Dir, "testdata") || strings.HasPrefix(p.Dir, ".") {
			t.Errorf("measured %s, which is not a package of the module", p.Dir)
		}
		if len(p.Types) > 0 {
			t.Logf("%s: %d non-test lines; largest type %s (%d methods)", p.Dir, p.Lines, p.Types[0].Name, p.Types[0].Methods)
		}
	}
	for _, problem := range Guard(pkgs, overTheLimitsForNow) {
		t.Error(problem)
	}
}

// The guard fails a package that goes over the limits unless the allowance names it, and fails an
// allowance entry that is no longer needed.
func TestGuardFailsAPackageOverTheLimits(t *testing.T) {
	over, err := Measure("testdata/over")
	if err != nil {
		t.Fatal(err)
	}
	within, err := Measure("testdata/embed")
	if err != nil {
		t.Fatal(err)
	}
	over.Dir, within.Dir = "over", "embed"
	pkgs := []*Package{over, within}
	if got := Guard(pkgs, nil); len(got) != 1 || !strings.Contains(got[0], "type Big has 26 methods") {
		t.Errorf("without an allowance: %q; want the 26 methods of Big", got)
	}
	if got := Guard(pkgs, map[string]string{"over": "being reshaped"}); len(got) != 0 {
		t.Errorf("with over allowed: %q; want nothing", got)
	}
	got := Guard(pkgs, map[string]string{"over": "x", "embed": "x", "gone": "x"})
	if len(got) != 2 || !strings.Contains(got[0], "embed is within the limits") || !strings.Contains(got[1], "names gone") {
		t.Errorf("with needless entries: %q; want embed and gone called out", got)
	}
	long := &Package{Dir: "long", Lines: MaxLines + 1}
	if got := Guard([]*Package{long}, nil); len(got) != 1 || !strings.Contains(got[0], "2501 non-test lines") {
		t.Errorf("a package of %d lines: %q", long.Lines, got)
	}
}

// The measure counts promoted methods: a type that embeds a facet carries the facet's methods.
func TestMethodSetCountsPromotedMethods(t *testing.T) {
	p, err := Measure("testdata/embed")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, ty := range p.Types {
		got[ty.Name] = ty.Methods
	}
	if got["Facet"] != 2 || got["Outer"] != 3 || got["Iface"] != 3 {
		t.Fatalf("method sets %v; want Facet 2, Outer 3 (one own, two promoted), Iface 3 (one own, two embedded)", got)
	}
	if p.Lines == 0 {
		t.Fatal("no lines counted")
	}
}
