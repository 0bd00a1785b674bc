package moderation

import (
	"encoding/json"
	"testing"

	"maunium.net/go/mautrix/id"
)

func levelsOf(t *testing.T, raw string) *roomLevels {
	t.Helper()
	rl, err := parseRoomLevels(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	return rl
}

// A muted user must be below what both m.room.message and m.room.encrypted need (an encrypted
// room's messages are m.room.encrypted); a change of one user's level keeps the rest of the
// content, unknown keys included, as it was.
func TestMuteLevelsAndRewrite(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int
	}{
		{`{"users":{"@a:x":100}}`, 0},
		{`{"events_default":10}`, 10},
		{`{"events_default":0,"events":{"m.room.message":20}}`, 0},
		{`{"events_default":30,"events":{"m.room.message":20,"m.room.encrypted":25}}`, 20},
		{`{"events_default":30,"events":{"m.room.encrypted":5}}`, 5},
	} {
		if got := levelsOf(t, tc.raw).sendLevel(); got != tc.want {
			t.Errorf("%s: send level %d, want %d", tc.raw, got, tc.want)
		}
	}
	null := levelsOf(t, `{"users":null}`)
	level := 5
	null.setUser("@b:x", &level) // "users": null must not be a nil map
	if string(null.raw["users"]) != `{"@b:x":5}` {
		t.Fatalf("users null, then a level set: %s", null.raw["users"])
	}
	rl := levelsOf(t, `{"users":{"@a:x":100,"@b:x":10},"ban":50,"org.example.custom":{"k":[1,2]}}`)
	if l, ok := rl.entry("@b:x"); !ok || l != 10 {
		t.Fatalf("entry of @b:x: %d %v", l, ok)
	}
	muted := -1
	rl.setUser(id.UserID("@b:x"), &muted)
	rl.setUser(id.UserID("@c:x"), nil) // no entry: nothing to remove
	out, err := json.Marshal(rl.raw)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ban":50,"org.example.custom":{"k":[1,2]},"users":{"@a:x":100,"@b:x":-1}}`
	if string(out) != want {
		t.Fatalf("rewritten power levels:\n got %s\nwant %s", out, want)
	}
	rl.setUser(id.UserID("@b:x"), nil)
	if out, _ := json.Marshal(rl.raw); string(out) != `{"ban":50,"org.example.custom":{"k":[1,2]},"users":{"@a:x":100}}` {
		t.Fatalf("after removing @b:x: %s", out)
	}
}
