package v12

import (
	"bytes"
	"math"
	"reflect"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// messageOf is a message event with text (one of each kind of segment when all is set).
func messageOf(text string, direct, all bool, role model.Role, at time.Time) *model.Event {
	segs := []model.Segment{model.Text{Text: text}}
	if all {
		segs = append(segs,
			model.Mention{User: id.UserID("@" + text + ":x")}, model.MentionAll{},
			model.Reply{Event: id.EventID("$" + text), Sender: "@s:x"}, model.Reply{Event: "$unknown"},
			model.Media{Kind: model.MediaImage, File: model.FileInfo{ID: "f1", Name: text, MimeType: "image/png", Size: 12345}, URL: "http://gw/media?a=1&b=<2>"},
			model.Media{Kind: model.MediaFile, Source: "base64://" + text},
			model.Media{Kind: model.MediaVoice, File: model.FileInfo{ID: "f2"}},
			model.Location{Latitude: 52.52, Longitude: -1e-7, Title: text, Content: "c"},
			model.Location{Latitude: 1e21, Longitude: 0},
		)
	}
	return &model.Event{
		ID: "$ev" + text, Time: at, Self: "@bot:x", Kind: model.KindMessage,
		Message: &model.Message{
			EventID: id.EventID("$ev" + text), RoomID: "!room:x", Sender: id.UserID("@u" + text + ":x"), SenderName: "name " + text, SenderRole: role,
			Direct: direct, MsgType: "m.text", Segments: segs, Plain: text,
		},
	}
}

// sameAsMarshal checks that encodeMessage writes what encoding/json (face.Marshal) writes.
func sameAsMarshal(t *testing.T, ev *model.Event) {
	t.Helper()
	got, err := encodeMessage(ev)
	want, wantErr := face.Marshal(MessageEvent(ev))
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("error %v, encoding/json's %v", err, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encodeMessage:\n%s\nencoding/json:\n%s", got, want)
	}
}

// A message event is written byte for byte as encoding/json wrote it (clients sign and compare
// frames): every kind of segment, private and group messages, roles, escapes, numbers.
func TestEncodeMessageIsEncodingJSON(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	for _, text := range []string{
		"hello", "", `quote " backslash \ slash /`, "<b>&amp;</b>", "line\nbreak\ttab\r\b\f\x00\x1f\x7f",
		"emoji 😀 中文", "\u2028\u2029", "bad \xff\xfe utf-8 \xe2\x82", "\xed\xa0\x80 surrogate",
	} {
		for _, direct := range []bool{false, true} {
			for _, role := range []model.Role{"", model.RoleMember, model.RoleAdmin} {
				sameAsMarshal(t, messageOf(text, direct, true, role, at))
				sameAsMarshal(t, messageOf(text, direct, false, role, at))
			}
		}
	}
	empty := messageOf("x", false, false, "", at)
	empty.Message.Segments = nil // no "message" key (omitempty), as before
	sameAsMarshal(t, empty)
	for _, ms := range []int64{0, 1, 999, 1_000, -1_500, 1_700_000_000_000, math.MaxInt64 / 1000} {
		sameAsMarshal(t, messageOf("t", false, false, "", time.UnixMilli(ms)))
	}
}

// The comparison with encoding/json above catches a drift of encodeMessage from MessageEvent only
// for what the test events carry: a field of model.Message that MessageEvent starts to write
// (with omitempty) but the test events leave empty would pass unseen. So every field is set here,
// and a new field fails this test until messageOf sets it too.
func TestMessageOfSetsEveryMessageField(t *testing.T) {
	v := reflect.ValueOf(*messageOf("t", true, true, model.RoleAdmin, time.UnixMilli(1)).Message)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("messageOf leaves model.Message.%s empty: set it, so that the encoders are compared on it", v.Type().Field(i).Name)
		}
	}
}

// FuzzEncodeMessage: for any text, IDs and numbers, encodeMessage writes what encoding/json writes.
func FuzzEncodeMessage(f *testing.F) {
	f.Add("hello", "@u:x", "!r:x", int64(1_700_000_000_123), 52.5, int64(12), true)
	f.Add("\x00<>&\u2028\xff", "", "", int64(-1), 1e-9, int64(0), false)
	f.Add("", "\"", "\\", int64(0), 1e300, int64(-5), true)
	f.Fuzz(func(t *testing.T, text, user, room string, ms int64, coord float64, size int64, direct bool) {
		ev := messageOf(text, direct, true, model.Role(user), time.UnixMilli(ms))
		ev.ID, ev.Self = user, id.UserID(room)
		ev.Message.Sender, ev.Message.RoomID, ev.Message.MsgType = id.UserID(user), id.RoomID(room), text
		ev.Message.Segments = append(ev.Message.Segments,
			model.Location{Latitude: coord, Longitude: -coord, Title: user},
			model.Media{Kind: model.MediaKind(text), File: model.FileInfo{ID: room, Name: text, Size: size}, URL: user})
		sameAsMarshal(t, ev)
	})
}
