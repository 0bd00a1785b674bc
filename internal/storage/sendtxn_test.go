package storage

import (
	"errors"
	"testing"
	"time"
)

func TestSendTxnClaimFinishAndWindow(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	now := time.UnixMilli(1_700_000_000_000)
	db.now = func() time.Time { return now }

	rec, err := db.SendTxns().ClaimSendTxn(ctx, "@bot:hs", "k1", "h1", "txn-a")
	if err != nil || rec.TxnID != "txn-a" || rec.Done() {
		t.Fatalf("first claim = %+v, %v", rec, err)
	}
	// A retry gets the first transaction ID, not its own.
	if rec, err = db.SendTxns().ClaimSendTxn(ctx, "@bot:hs", "k1", "h1", "txn-b"); err != nil || rec.TxnID != "txn-a" {
		t.Fatalf("second claim = %+v, %v", rec, err)
	}
	// Another bot's key of the same name is its own.
	if rec, err = db.SendTxns().ClaimSendTxn(ctx, "@other:hs", "k1", "h1", "txn-c"); err != nil || rec.TxnID != "txn-c" {
		t.Fatalf("other bot = %+v, %v", rec, err)
	}
	// The same key for another message is refused.
	if _, err = db.SendTxns().ClaimSendTxn(ctx, "@bot:hs", "k1", "h2", "txn-d"); !errors.Is(err, ErrTxnKeyReused) {
		t.Fatalf("reused key: %v", err)
	}
	if err := db.SendTxns().FinishSendTxn(ctx, "@bot:hs", "k1", "!r:hs", "$e1", now); err != nil {
		t.Fatal(err)
	}
	// The first result stays.
	if err := db.SendTxns().FinishSendTxn(ctx, "@bot:hs", "k1", "!r:hs", "$e2", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	rec, err = db.SendTxns().ClaimSendTxn(ctx, "@bot:hs", "k1", "h1", "txn-e")
	if err != nil || !rec.Done() || rec.EventID != "$e1" || rec.RoomID != "!r:hs" || !rec.SentAt.Equal(now) {
		t.Fatalf("finished claim = %+v, %v", rec, err)
	}
	// After the window the key is new again.
	now = now.Add(SendTxnWindow + time.Minute)
	rec, err = db.SendTxns().ClaimSendTxn(ctx, "@bot:hs", "k1", "h2", "txn-f")
	if err != nil || rec.TxnID != "txn-f" || rec.Done() {
		t.Fatalf("claim after the window = %+v, %v", rec, err)
	}
}

func TestMutes(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	if _, err := db.Mutes().NextMute(ctx, "@bot:hs"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no mutes: %v", err)
	}
	ten := 10
	t0 := time.UnixMilli(1_700_000_000_000)
	if err := db.Mutes().PutMute(ctx, "@bot:hs", Mute{RoomID: "!a:hs", UserID: "@u:hs", MutedLevel: -1, PreviousLevel: &ten, Until: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := db.Mutes().PutMute(ctx, "@bot:hs", Mute{RoomID: "!b:hs", UserID: "@u:hs", MutedLevel: -1, Until: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	// Muted again: the level to go back to stays the first one's.
	if err := db.Mutes().PutMute(ctx, "@bot:hs", Mute{RoomID: "!a:hs", UserID: "@u:hs", MutedLevel: -5, Until: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	m, err := db.Mutes().GetMute(ctx, "@bot:hs", "!a:hs", "@u:hs")
	if err != nil || m.PreviousLevel == nil || *m.PreviousLevel != 10 || m.MutedLevel != -5 || !m.Until.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("GetMute = %+v, %v", m, err)
	}
	next, err := db.Mutes().NextMute(ctx, "@bot:hs")
	if err != nil || next.RoomID != "!b:hs" || next.PreviousLevel != nil {
		t.Fatalf("NextMute = %+v, %v", next, err)
	}
	if _, err := db.Mutes().NextMute(ctx, "@other:hs"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another bot's mutes: %v", err)
	}
	if err := db.Mutes().DeleteMute(ctx, "@bot:hs", "!b:hs", "@u:hs"); err != nil {
		t.Fatal(err)
	}
	if next, err = db.Mutes().NextMute(ctx, "@bot:hs"); err != nil || next.RoomID != "!a:hs" {
		t.Fatalf("NextMute after delete = %+v, %v", next, err)
	}
}
