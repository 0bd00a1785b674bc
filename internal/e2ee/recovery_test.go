package e2ee

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// The events that the lost device held move to the new device (and are tried at the next batch);
// other bots' and devices' held events stay where they are.
func TestAdoptHeld(t *testing.T) { eachDatabase(t, testAdoptHeld) }

func testAdoptHeld(t *testing.T, location string) {
	ctx := context.Background()
	db := openDB(t, location)
	const bot, other = id.UserID("@bot:example.org"), id.UserID("@other:example.org")
	hold := func(user id.UserID, device id.DeviceID, event id.EventID) {
		t.Helper()
		h, err := openHeld(ctx, db.DBUtil(), cryptoAccountID(user, device))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.db.Exec(ctx, insertHeld, h.accountID, event, "!room:example.org", "session", `{}`, time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	hold(bot, "LOST", "$a")
	hold(bot, "LOST", "$b")
	hold(bot, "ANOTHER", "$c")
	hold(other, "LOST", "$d")

	cli, err := mautrix.NewClient("http://127.0.0.1:1", bot, "token")
	if err != nil {
		t.Fatal(err)
	}
	cli.DeviceID = "NEW"
	held, err := openHeld(ctx, db.DBUtil(), cryptoAccountID(bot, "NEW"))
	if err != nil {
		t.Fatal(err)
	}
	m := &Machine{cli: cli, held: held}
	n, err := m.AdoptHeld(ctx, "LOST")
	if err != nil || n != 2 {
		t.Fatalf("want the lost device's 2 events taken over, got %d, %v", n, err)
	}
	got, err := m.held.list(ctx)
	if err != nil || len(got) != 2 || got[0].EventID != "$a" || got[1].EventID != "$b" {
		t.Fatalf("want $a and $b held by the new device, in order: %+v, %v", got, err)
	}
	if !m.keysArrived.Load() {
		t.Fatal("the taken-over events must be tried at the next batch")
	}
	for _, acc := range []string{cryptoAccountID(bot, "ANOTHER"), cryptoAccountID(other, "LOST")} {
		var count int
		if err := held.db.QueryRow(ctx, countHeld, acc).Scan(&count); err != nil || count != 1 {
			t.Fatalf("%s must keep its held event: %d, %v", acc, count, err)
		}
	}
	if n, err := m.AdoptHeld(ctx, "NEW"); err != nil || n != 0 {
		t.Fatalf("taking over its own events is a no-op: %d, %v", n, err)
	}
}

// An event that both the lost device and the new one hold stays held by both (the new device's
// copy is the one delivered); the lost device's other events move.
func TestAdoptHeldKeepsAnEventHeldByBoth(t *testing.T) {
	eachDatabase(t, testAdoptHeldKeepsAnEventHeldByBoth)
}

func testAdoptHeldKeepsAnEventHeldByBoth(t *testing.T, location string) {
	ctx := context.Background()
	db := openDB(t, location)
	const bot = id.UserID("@bot:example.org")
	open := func(device id.DeviceID) *heldStore {
		t.Helper()
		h, err := openHeld(ctx, db.DBUtil(), cryptoAccountID(bot, device))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	lost, fresh := open("LOST"), open("NEW")
	for _, row := range []struct {
		h     *heldStore
		event string
	}{{lost, "$both"}, {lost, "$only-lost"}, {fresh, "$both"}} {
		if _, err := row.h.db.Exec(ctx, insertHeld, row.h.accountID, row.event, "!room:example.org", "session", `{}`, time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	n, err := fresh.adopt(ctx, lost.accountID)
	if err != nil || n != 1 {
		t.Fatalf("adopt = %d, %v; want the one event only the lost device held", n, err)
	}
	if got := countOf(ctx, t, fresh); got != 2 {
		t.Errorf("the new device holds %d events, want 2", got)
	}
	if got := countOf(ctx, t, lost); got != 1 {
		t.Errorf("the lost device holds %d events, want 1 ($both, which the new device holds too)", got)
	}
}

func countOf(ctx context.Context, t *testing.T, h *heldStore) int {
	t.Helper()
	var n int
	if err := h.db.QueryRow(ctx, countHeld, h.accountID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
