package crypt

import (
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestRawRoomSend(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		room         id.RoomID
		typ          string
		ok, bad      bool
	}{
		{"PUT", "/_matrix/client/v3/rooms/!a:example.org/send/m.room.message/t1", "!a:example.org", "m.room.message", true, false},
		{"PUT", "/_matrix/client/r0/rooms/%21a%3Aexample.org/send/m.reaction/t1", "!a:example.org", "m.reaction", true, false},
		{"POST", "/_matrix/client/r0/rooms/!a:example.org/send/m.room.message", "!a:example.org", "m.room.message", true, false},
		{"PUT", "/_matrix/client/unstable/org.example/rooms/!a:example.org/send/x.custom/t1", "!a:example.org", "x.custom", true, false},
		{"PUT", "/_matrix/client/v3/rooms/!a:example.org/send/m.room.message/t1/", "", "", false, true},
		{"PUT", "/_matrix/client/v3/rooms//send/m.room.message/t1", "", "", false, true},
		{"PUT", "/_matrix/client/v3/rooms/!a:example.org/send//t1", "", "", false, true},
		{"GET", "/_matrix/client/v3/rooms/!a:example.org/send/m.room.message/t1", "", "", false, false},
		{"PUT", "/_matrix/client/v3/rooms/!a:example.org/state/m.room.topic/", "", "", false, false},
		{"PUT", "/_matrix/client/v3/rooms/!a:example.org/redact/$e/t1", "", "", false, false},
	} {
		room, typ, at, ok, err := rawRoomSend(tc.method, tc.path)
		if ok != tc.ok || (err != nil) != tc.bad || room != tc.room || typ != tc.typ {
			t.Errorf("%s %s: got %q %q ok=%v err=%v", tc.method, tc.path, room, typ, ok, err)
		}
		if ok && strings.Split(tc.path, "/")[at] == "" {
			t.Errorf("%s: type index %d is not the type", tc.path, at)
		}
	}
}

// FuzzRawRoomSend: any path either is not a room send, is refused, or names a room and a type
// at the index the rewrite replaces.
func FuzzRawRoomSend(f *testing.F) {
	f.Add("PUT", "/_matrix/client/v3/rooms/!a:example.org/send/m.room.message/t1")
	f.Add("POST", "/_matrix/client/r0/rooms/%21a/send/m.reaction")
	f.Add("PUT", "/_matrix/client/v3/rooms/rooms/send/send/send")
	f.Fuzz(func(t *testing.T, method, path string) {
		room, typ, at, ok, err := rawRoomSend(method, path)
		if !ok {
			return
		}
		if err != nil || room == "" || typ == "" {
			t.Fatalf("ok with room %q type %q err %v", room, typ, err)
		}
		parts := strings.Split(path, "/")
		if at < 3 || at >= len(parts) || parts[at-1] != "send" || parts[at-3] != "rooms" {
			t.Fatalf("type index %d of %q is not after rooms/{room}/send", at, path)
		}
	})
}
