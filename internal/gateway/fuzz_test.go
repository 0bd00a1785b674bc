package gateway

import (
	"context"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// Action frames come from untrusted clients: decoding never panics and always answers with a
// well-formed response.
func FuzzV12Frame(f *testing.F) {
	for _, s := range []string{`{"action":"get_version"}`, `{"action":"send_message","params":{"detail_type":"group","group_id":"!a:b","message":[{"type":"text","data":{"text":"x"}}]},"echo":1}`, `{`, `[]`, `{"action":1}`, `{"action":"send_message","params":{"message":[{"type":"mention","data":null}]}}`, "{\"action\":\"get_version\",\"echo\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	h, _, _ := newTestHub(f, "")
	f.Fuzz(func(t *testing.T, raw []byte) {
		var resp map[string]any
		out := h.calls.Frame(context.Background(), 12, nil, raw)
		if !utf8.Valid(out) {
			t.Fatalf("response is not UTF-8: %q", out)
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response is not JSON: %v", err)
		}
		for _, k := range []string{"status", "retcode", "data", "message"} {
			if _, ok := resp[k]; !ok {
				t.Fatalf("response lacks %q", k)
			}
		}
	})
}

func FuzzV11Frame(f *testing.F) {
	for _, s := range []string{`{"action":"send_msg","params":{"group_id":1,"message":"[CQ:at,qq=1]x"}}`, `{"action":"send_private_msg","params":{"user_id":"2","message":{"type":"text","data":{"text":"x"}}}}`, `{"action":"get_status"}`, `{"action":"send_msg","params":{"message":[{"type":"reply","data":{"id":"x"}}]}}`, "{\"action\":\"get_status\",\"echo\":[\"\xc3\"]}"} {
		f.Add([]byte(s))
	}
	h, _, _ := newTestHub(f, "")
	bot := h.reg.defaultBot()
	f.Fuzz(func(t *testing.T, raw []byte) {
		var resp map[string]any
		out := h.calls.Frame(context.Background(), 11, bot, raw)
		if !utf8.Valid(out) {
			t.Fatalf("response is not UTF-8: %q", out)
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response is not JSON: %v", err)
		}
		if resp["status"] != "ok" && resp["status"] != "failed" {
			t.Fatalf("status %v", resp["status"])
		}
	})
}
