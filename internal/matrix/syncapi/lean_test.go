package syncapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
)

// sameAsMautrix checks that unmarshalEvent decodes raw as Event.UnmarshalJSON does, but for
// Content.Raw, which it leaves out for the lean types, and that the content parses (ParseRaw)
// to the same value both ways.
func sameAsMautrix(t *testing.T, raw []byte) {
	t.Helper()
	var got, want event.Event
	gotErr, wantErr := unmarshalEvent(raw, &got), want.UnmarshalJSON(raw)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s: unmarshalEvent error %v, Event.UnmarshalJSON error %v", raw, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if leanTypes[want.Type.Type] {
		want.Content.Raw = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\nunmarshalEvent       %+v\nEvent.UnmarshalJSON %+v", raw, got, want)
	}
	gotErr, wantErr = got.Content.ParseRaw(got.Type), want.Content.ParseRaw(want.Type)
	unsupported := func(err error) bool { return errors.Is(err, event.ErrUnsupportedContentType) }
	if (gotErr == nil) != (wantErr == nil) || unsupported(gotErr) != unsupported(wantErr) {
		t.Fatalf("%s: ParseRaw error %v, want %v", raw, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got.Content.Parsed, want.Content.Parsed) {
		t.Fatalf("%s: parsed content %+v, want %+v", raw, got.Content.Parsed, want.Content.Parsed)
	}
}

// The events of the message path (messages, stickers, reactions, encrypted events) decode as
// mautrix decodes them, without the generic map of their content; other events exactly as
// mautrix does.
func TestUnmarshalEventMatchesMautrix(t *testing.T) {
	b, err := os.ReadFile("testdata/lean_events.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []json.RawMessage
	if err := json.Unmarshal(b, &vectors); err != nil {
		t.Fatal(err)
	}
	for _, raw := range vectors {
		sameAsMautrix(t, raw)
	}
}

// ParseEvent keeps a message's content as bytes and parsed, not also as a generic map (issue
// 12: building that map was about a fifth of the CPU per incoming message).
func TestParseEventLeavesMessageContentMapOut(t *testing.T) {
	raw := `{"type":"m.room.message","event_id":"$a","sender":"@u:x","content":{"msgtype":"m.text","body":"hi"}}`
	evt := ParseEvent(slog.New(slog.DiscardHandler), json.RawMessage(raw), "!r:x")
	if evt == nil {
		t.Fatal("message not parsed")
	}
	if evt.Content.Raw != nil {
		t.Errorf("Content.Raw = %v, want nil", evt.Content.Raw)
	}
	if string(evt.Content.VeryRaw) != `{"msgtype":"m.text","body":"hi"}` {
		t.Errorf("Content.VeryRaw = %s", evt.Content.VeryRaw)
	}
	if c, ok := evt.Content.Parsed.(*event.MessageEventContent); !ok || c.Body != "hi" {
		t.Errorf("Content.Parsed = %#v", evt.Content.Parsed)
	}
	member := ParseEvent(slog.New(slog.DiscardHandler), json.RawMessage(`{"type":"m.room.member","state_key":"@u:x","event_id":"$m","content":{"membership":"join"}}`), "!r:x")
	if member == nil || member.Content.Raw["membership"] != "join" {
		t.Errorf("a member event lost its content map: %+v", member)
	}
}

// FuzzUnmarshalEvent: for any bytes, unmarshalEvent agrees with Event.UnmarshalJSON (sameAsMautrix).
func FuzzUnmarshalEvent(f *testing.F) {
	b, err := os.ReadFile("testdata/lean_events.json")
	if err != nil {
		f.Fatal(err)
	}
	var vectors []json.RawMessage
	if err := json.Unmarshal(b, &vectors); err != nil {
		f.Fatal(err)
	}
	for _, raw := range vectors {
		f.Add([]byte(raw))
	}
	for _, s := range []string{`{"type":"m.room.message","content":{"body":5}}`, `{"type":"m.reaction","content":[]}`, `{"type":7}`, `null`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { sameAsMautrix(t, raw) })
}

// leanEvent has a field for every JSON field of mautrix's event.Event, so that an upgrade of
// mautrix that adds one fails here instead of unmarshalEvent silently dropping it for messages
// (the vectors and the fuzzer compare only the fields they happen to contain). When this fails,
// add the field to leanEvent, copy it in unmarshalEvent as Event.UnmarshalJSON does, and give the
// "$top" vector of testdata/lean_events.json a value for it.
func TestLeanEventHasEveryFieldOfEvent(t *testing.T) {
	lean := map[string]bool{}
	for f := range reflect.TypeFor[leanEvent]().Fields() {
		lean[jsonName(f)] = true
	}
	for f := range reflect.TypeFor[event.Event]().Fields() {
		if name := jsonName(f); name != "-" && !lean[name] {
			t.Errorf("event.Event has %s (JSON %q), which leanEvent does not decode", f.Name, name)
		}
	}
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// An event of any other type (state, account data, invite state: a first sync holds thousands)
// is decoded once, not once for its type and again by Event.UnmarshalJSON: it takes no more
// allocations than Event.UnmarshalJSON alone.
func TestUnmarshalEventDecodesOtherEventsOnce(t *testing.T) {
	raw := []byte(`{"type":"m.room.member","state_key":"@alice:example.org","event_id":"$member","sender":"@alice:example.org","origin_server_ts":1700000000000,"content":{"membership":"join","displayname":"Alice"},"unsigned":{"age":5}}`)
	ours := testing.AllocsPerRun(100, func() {
		var evt event.Event
		if err := unmarshalEvent(raw, &evt); err != nil {
			t.Fatal(err)
		}
	})
	theirs := testing.AllocsPerRun(100, func() {
		var evt event.Event
		if err := evt.UnmarshalJSON(raw); err != nil {
			t.Fatal(err)
		}
	})
	if ours > theirs {
		t.Fatalf("unmarshalEvent of a member event: %v allocations, Event.UnmarshalJSON alone %v", ours, theirs)
	}
}
