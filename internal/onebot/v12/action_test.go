package v12

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/matrix-onebot/gateway/internal/face"
)

// Requests come from untrusted clients: decoding never panics, and what it refuses is answered
// with a well-formed failure (UTF-8 JSON with every field v12 requires).
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{`{"action":"get_version"}`, `{"action":"x","params":{},"echo":"e","self":{"platform":"matrix","user_id":"@a:b"}}`,
		`{`, `[]`, `{"action":1}`, `{"echo":[1]}`, "{\"action\":\"get_version\",\"echo\":\"\xff\"}", `{"action":""}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, bad := DecodeRequest(raw)
		if (req == nil) == (bad == nil) {
			t.Fatalf("want a request or an answer, got %v and %v", req, bad)
		}
		if req != nil {
			if req.Action == "" {
				t.Fatal("a request without an action")
			}
			return
		}
		out := face.MustJSON(bad)
		var m map[string]any
		if !utf8.Valid(out) || json.Unmarshal(out, &m) != nil || bad.Status != "failed" || bad.Retcode != RetBadRequest {
			t.Fatalf("answer %s", out)
		}
		for _, k := range []string{"status", "retcode", "data", "message"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("answer lacks %q: %s", k, out)
			}
		}
	})
}

func TestDecodeRequest(t *testing.T) {
	req, bad := DecodeRequest([]byte(`{"action":"send_message","params":{"a":1},"echo":{"n":1},"self":{"platform":"matrix","user_id":"@bot:x"}}`))
	if bad != nil || req.Action != "send_message" || string(req.Params) != `{"a":1}` || string(req.Echo) != `{"n":1}` || req.Self.UserID != "@bot:x" {
		t.Fatalf("got %+v, %+v", req, bad)
	}
	_, bad = DecodeRequest([]byte(`{"action":1,"echo":"e1"}`))
	if bad == nil || string(bad.Echo) != `"e1"` {
		t.Fatalf("a malformed request keeps its echo: %+v", bad)
	}
}
