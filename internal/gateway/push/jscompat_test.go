package push

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/matrix-onebot/gateway/internal/face"
)

// The body posted is what JSON.stringify(JSON.parse(body)) gives back (Koishi signs that).
func TestJSStringifyCompatVector(t *testing.T) {
	var v struct{ Go, JS string }
	b, err := os.ReadFile(filepath.Join("testdata", "js_stringify.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if got := string(jsStringifyCompat([]byte(v.Go))); got != v.JS {
		t.Fatalf("jsStringifyCompat:\n got %s\nwant %s", got, v.JS)
	}
	if got := string(jsStringifyCompat([]byte(v.JS))); got != v.JS {
		t.Fatalf("not idempotent:\n got %s\nwant %s", got, v.JS)
	}
}

// jsStringifyCompat keeps every JSON document's meaning: the output decodes to the same value.
func FuzzJSStringifyCompat(f *testing.F) {
	for _, s := range []string{`{"a":"\u2028\u2029\ufffd"}`, `{"a":"\\u2028"}`, `"\\\u2028"`, `{"a":"x\"\u2028"}`, `[1,"\u00e9"]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := face.Marshal(s)
		if err != nil {
			t.Skip()
		}
		var want, got any
		_ = json.Unmarshal(b, &want)
		out := jsStringifyCompat(b)
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("output is not JSON: %q from %q", out, b)
		}
		if want != got {
			t.Fatalf("meaning changed: %q → %q", b, out)
		}
	})
}
