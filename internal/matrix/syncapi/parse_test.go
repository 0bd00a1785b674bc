package syncapi

import (
	"encoding/json"
	"log/slog"
	"testing"

	"maunium.net/go/mautrix/id"
)

// FuzzParseEvent feeds arbitrary bytes to ParseEvent, as one raw event of a sync response: it
// must never panic, and what it accepts carries the room it was found in.
func FuzzParseEvent(f *testing.F) {
	for _, seed := range []string{
		`{"type":"m.room.message","event_id":"$a","sender":"@u:x","origin_server_ts":1,"content":{"msgtype":"m.text","body":"hi"}}`,
		`{"type":"m.room.message","event_id":"$a","content":{"msgtype":"m.text","body":5}}`,
		`{"type":"m.room.member","state_key":"@u:x","event_id":"$m","content":{"membership":"join","displayname":"U"}}`,
		`{"type":"m.room.member","state_key":"@u:x","content":{"membership":7}}`,
		`{"type":"m.direct","content":{"@u:x":["!r:x"]}}`,
		`{"type":"m.room.power_levels","state_key":"","content":{"users":{"@u:x":"high"}}}`,
		`{"type":"m.room.encrypted","event_id":"$e","content":{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":1}}`,
		`{"type":"m.room.message","content":{"m.relates_to":{"rel_type":"m.replace","event_id":"$x"},"m.new_content":{"body":[]}}}`,
		`{"type":"m.room.message","content":null}`,
		`{"type":5}`,
		`42`, `"str"`, `[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, room := range []id.RoomID{"", "!room:example.org"} {
			evt := ParseEvent(slog.New(slog.DiscardHandler), json.RawMessage(raw), room)
			if evt == nil {
				continue
			}
			if !json.Valid(raw) {
				t.Fatalf("ParseEvent accepted invalid JSON %q", raw)
			}
			if room != "" && evt.RoomID != room {
				t.Fatalf("event room = %q, want %q", evt.RoomID, room)
			}
		}
	})
}

// TestParseEventSkipsMalformed pins what FuzzParseEvent only bounds: a malformed event is
// skipped, a well-formed one is parsed, and an unknown type is kept unparsed.
func TestParseEventSkipsMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		ok        bool
	}{
		{"message", `{"type":"m.room.message","event_id":"$a","sender":"@u:x","content":{"msgtype":"m.text","body":"hi"}}`, true},
		{"unknown type", `{"type":"org.example.custom","event_id":"$a","content":{"x":1}}`, true},
		{"body is a number", `{"type":"m.room.message","event_id":"$a","content":{"msgtype":"m.text","body":5}}`, false},
		{"not an object", `42`, false},
		{"truncated", `{"type":"m.room.message"`, false},
		{"type is a number", `{"type":5,"content":{}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evt := ParseEvent(slog.New(slog.DiscardHandler), json.RawMessage(tc.raw), "!r:x")
			if (evt != nil) != tc.ok {
				t.Fatalf("ParseEvent(%s) = %v, want accepted=%v", tc.raw, evt, tc.ok)
			}
			if evt != nil && evt.RoomID != "!r:x" {
				t.Errorf("room = %q, want the room of the sync section", evt.RoomID)
			}
		})
	}
}
