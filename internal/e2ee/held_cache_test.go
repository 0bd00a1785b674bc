package e2ee

import (
	"context"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/storage"
)

// The store remembers that nothing is held (the sync loop asks twice per /sync answer), and
// what is held afterwards is seen at once: an event held by this store, and events taken over
// from a lost device.
func TestOldestSeesWhatIsHeldAfterNothingWas(t *testing.T) {
	eachDatabase(t, testOldestSeesWhatIsHeldAfterNothingWas)
}

func testOldestSeesWhatIsHeldAfterNothingWas(t *testing.T, location string) {
	ctx := context.Background()
	db := openDB(t, location)
	h := openBotHeld(t, db, "NEW")
	for range 2 {
		if _, ok := h.oldest(ctx); ok {
			t.Fatal("oldest with nothing held")
		}
	}
	evt := &event.Event{ID: "$held", RoomID: "!room:example.org"}
	if err := h.put(ctx, evt, "session", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.oldest(ctx); !ok {
		t.Fatal("the event just held is not seen")
	}
	if err := h.remove(ctx, "$held"); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.oldest(ctx); ok {
		t.Fatal("oldest after the only held event was released")
	}
	adoptOneFromLost(t, db, h)
	if _, ok := h.oldest(ctx); !ok {
		t.Fatal("the event taken over from the lost device is not seen")
	}
}

// Due's list of held events also answers from memory while nothing is held (the sync loop asks
// once per /sync answer: a query per batch, 2 % of the gateway's CPU under load), and sees at once
// what is held afterwards.
func TestListAsksNotWhileNothingIsHeld(t *testing.T) {
	eachDatabase(t, testListAsksNotWhileNothingIsHeld)
}

func testListAsksNotWhileNothingIsHeld(t *testing.T, location string) {
	ctx := context.Background()
	db := openDB(t, location)
	h := openBotHeld(t, db, "NEW")
	list := func(want int) {
		t.Helper()
		held, err := h.list(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(held) != want {
			t.Fatalf("list: %d held events, want %d", len(held), want)
		}
	}
	list(0)
	// With the table out of the way a query fails: an answer now comes from memory.
	if _, err := h.db.Exec(ctx, `ALTER TABLE e2ee_held RENAME TO e2ee_held_away`); err != nil {
		t.Fatal(err)
	}
	list(0)
	if _, err := h.db.Exec(ctx, `ALTER TABLE e2ee_held_away RENAME TO e2ee_held`); err != nil {
		t.Fatal(err)
	}
	if err := h.put(ctx, &event.Event{ID: "$held", RoomID: "!room:example.org"}, "session", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	list(1)
	if err := h.remove(ctx, "$held"); err != nil {
		t.Fatal(err)
	}
	list(0)
	adoptOneFromLost(t, db, h)
	list(1)
}

// openBotHeld opens the held events of @bot:example.org's device.
func openBotHeld(t *testing.T, db *storage.DB, device id.DeviceID) *heldStore {
	t.Helper()
	h, err := openHeld(context.Background(), db.DBUtil(), cryptoAccountID("@bot:example.org", device))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// adoptOneFromLost holds an event ($lost) on the bot's lost device LOST and has h take it over.
func adoptOneFromLost(t *testing.T, db *storage.DB, h *heldStore) {
	t.Helper()
	ctx := context.Background()
	lost := openBotHeld(t, db, "LOST")
	if err := lost.put(ctx, &event.Event{ID: "$lost", RoomID: "!room:example.org"}, "session", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if n, err := h.adopt(ctx, cryptoAccountID("@bot:example.org", "LOST")); err != nil || n != 1 {
		t.Fatalf("adopt: %d, %v", n, err)
	}
}
