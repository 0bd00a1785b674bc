package harness

import "testing"

func TestNoDepsMarker(t *testing.T) {
	for _, tc := range []struct {
		reqs string
		want bool
	}{
		{"# harness: --no-deps\nfoo==1\n", true},
		{"foo==1\n  # harness: --no-deps  \n", true},
		{"foo==1\n", false},
		{"# harness: --no-deps-please\nfoo==1\n", false},
		{"foo==1 # harness: --no-deps\n", false},
	} {
		if got := noDeps([]byte(tc.reqs)); got != tc.want {
			t.Errorf("noDeps(%q) = %v, want %v", tc.reqs, got, tc.want)
		}
	}
}
