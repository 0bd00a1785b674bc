package onebot

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func FuzzTxnKey(f *testing.F) {
	for _, s := range []string{`"k"`, `42`, `-1.5e3`, `null`, `""`, `{"a":1}`, `"\ud800"`, `[1]`, `1e999`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var k TxnKey
		if err := json.Unmarshal(b, &k); err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if !utf8.ValidString(string(k)) { // json.Unmarshal makes invalid UTF-8 U+FFFD
			t.Fatalf("key %q is not UTF-8", k)
		}
	})
}
