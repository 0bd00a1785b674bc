package storage

import (
	"errors"
	"testing"
)

// A bot's onebot_self_id becomes its one v11 user number: the map answers it both ways, the
// number the map gave the bot before is no one's, other users keep theirs, new users go on from
// the highest number, and the pin survives a restart.
func TestPinV11IDMovesTheBot(t *testing.T) {
	ctx := t.Context()
	path := newLocation(t)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range []string{"@bot:example.org", "@alice:example.org"} {
		if v, err := db.IDs().V11ID(ctx, KindUser, u); err != nil || v != int64(i+1) {
			t.Fatalf("%s = %d, %v", u, v, err)
		}
	}
	if m, err := db.IDs().MatrixID(ctx, KindUser, 1); err != nil || m != "@bot:example.org" { // now cached
		t.Fatalf("MatrixID(1) = %q, %v", m, err)
	}
	moved, _, err := db.IDs().PinV11ID(ctx, "@bot:example.org", 10001)
	if err != nil || moved != "" {
		t.Fatalf("pin: moved %q, %v", moved, err)
	}
	if m, err := db.IDs().MatrixID(ctx, KindUser, 1); !errors.Is(err, ErrNotFound) { // not from the cache either
		t.Errorf("right after the pin, the bot's former number 1 still means %q (%v)", m, err)
	}
	assertUser(t, db, "@bot:example.org", 10001)
	assertUser(t, db, "@alice:example.org", 2)
	if m, err := db.IDs().MatrixID(ctx, KindUser, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("the bot's former number 1 still means %q (%v)", m, err)
	}
	if v, err := db.IDs().V11ID(ctx, KindUser, "@new:example.org"); err != nil || v != 10002 {
		t.Errorf("a new user got %d, %v; want 10002", v, err)
	}
	// Pinning again changes nothing.
	if moved, _, err := db.IDs().PinV11ID(ctx, "@bot:example.org", 10001); err != nil || moved != "" {
		t.Errorf("second pin: moved %q, %v", moved, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	assertUser(t, db, "@bot:example.org", 10001)
	assertUser(t, db, "@alice:example.org", 2)
}

// The number onebot_self_id names already belongs to another user (the map reached it before
// the bot was pinned): that user moves to a new number and is reported, so that no two users
// share one.
func TestPinV11IDMovesTheHolder(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	for _, u := range []string{"@alice:example.org", "@bob:example.org", "@bot:example.org"} {
		if _, err := db.IDs().V11ID(ctx, KindUser, u); err != nil {
			t.Fatal(err)
		}
	}
	moved, to, err := db.IDs().PinV11ID(ctx, "@bot:example.org", 2)
	if err != nil || moved != "@bob:example.org" || to != 4 {
		t.Fatalf("pin 2: moved %q to %d, %v; want @bob:example.org to 4", moved, to, err)
	}
	assertUser(t, db, "@bot:example.org", 2)
	assertUser(t, db, "@bob:example.org", 4)
	assertUser(t, db, "@alice:example.org", 1)
	if m, err := db.IDs().MatrixID(ctx, KindUser, 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("the bot's former number 3 still means %q (%v)", m, err)
	}
}

// A number above the map's range (up to 2^63-1 is a valid onebot_self_id) is pinned without
// pushing the numbers handed out to others past their bound.
func TestPinV11IDAboveTheRange(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	const big = int64(maxOtherID) + 12345
	if _, _, err := db.IDs().PinV11ID(ctx, "@bot:example.org", big); err != nil {
		t.Fatal(err)
	}
	assertUser(t, db, "@bot:example.org", big)
	if v, err := db.IDs().V11ID(ctx, KindUser, "@alice:example.org"); err != nil || v != 1 {
		t.Errorf("a new user got %d, %v; want 1", v, err)
	}
	for _, bad := range []struct {
		user string
		v    int64
	}{{"", 5}, {"@bot:example.org", 0}, {"@bot:example.org", -1}} {
		if _, _, err := db.IDs().PinV11ID(ctx, bad.user, bad.v); err == nil {
			t.Errorf("PinV11ID(%q, %d) accepted", bad.user, bad.v)
		}
	}
}

func assertUser(t *testing.T, db *DB, user string, want int64) {
	t.Helper()
	ctx := t.Context()
	if v, err := db.IDs().V11ID(ctx, KindUser, user); err != nil || v != want {
		t.Errorf("V11ID(%s) = %d, %v; want %d", user, v, err, want)
	}
	db.idMaps[KindUser] = newIDCache(idCacheSize) // and from the file, not the cache
	if v, err := db.IDs().V11ID(ctx, KindUser, user); err != nil || v != want {
		t.Errorf("V11ID(%s) from the file = %d, %v; want %d", user, v, err, want)
	}
	if m, err := db.IDs().MatrixID(ctx, KindUser, want); err != nil || m != user {
		t.Errorf("MatrixID(%d) = %q, %v; want %s", want, m, err, user)
	}
}
