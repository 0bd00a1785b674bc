package gateway

import (
	"os"
	"strings"
	"testing"
)

// The README's compatibility tables list every action of the action table, each under its
// protocol version, and nothing the table lacks.
func TestReadmeListsEveryAction(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "<!-- actions:begin -->")
	section, _, ok2 := strings.Cut(rest, "<!-- actions:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md lacks the <!-- actions:begin/end --> markers around the action tables")
	}
	v12part, v11part, ok := strings.Cut(section, "| v11 action |")
	if !ok {
		t.Fatal("README.md: no v11 action table after the v12 one")
	}
	listed := func(part string) map[string]bool {
		names := map[string]bool{}
		for _, line := range strings.Split(part, "\n") {
			if name, ok := strings.CutPrefix(line, "| `"); ok {
				if name, _, ok := strings.Cut(name, "`"); ok {
					names[name] = true
				}
			}
		}
		return names
	}
	for version, part := range map[int]string{12: v12part, 11: v11part} {
		names := listed(part)
		for _, a := range supportedActions(version) {
			if !names[a] {
				t.Errorf("README.md: v%d action %s is missing from the compatibility table", version, a)
			}
			delete(names, a)
		}
		for n := range names {
			t.Errorf("README.md: v%d action %s is listed but not in the action table", version, n)
		}
	}
}
