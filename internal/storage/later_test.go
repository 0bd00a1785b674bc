package storage

import (
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// A message the send path keeps for later is never missed by a read: GetMessage and MarkRedacted
// use the kept copy until it is stored, Close stores what is still kept, and after Close a
// message is refused at once (reported), not kept by a closed database.
func TestPutMessageLaterIsReadAfterItsWrite(t *testing.T) {
	loc := newLocation(t)
	db := openAt(t, loc)
	ctx := t.Context()
	m, gone := testMessage(), testMessage()
	gone.EventID = "$gone"
	var failed error
	db.Messages().PutMessageLater(m, func(err error) { failed = err })
	db.Messages().PutMessageLater(gone, func(err error) { failed = err })
	if got, err := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID); err != nil {
		t.Fatalf("read of a message kept for later: %v", err)
	} else {
		checkMessage(t, got, m)
	}
	if err := db.Messages().MarkRedacted(ctx, gone.BotUserID, gone.EventID); err != nil {
		t.Fatalf("redaction of a message kept for later: %v", err)
	}
	if err := db.Close(); err != nil { // stores what is kept
		t.Fatal(err)
	}
	if failed != nil {
		t.Fatalf("keeping a message failed: %v", failed)
	}
	db.Messages().PutMessageLater(testMessage(), func(err error) { failed = err })
	if failed == nil {
		t.Fatal("a message after Close was not reported")
	}

	again := openAt(t, loc)
	if got, err := again.Messages().GetMessage(ctx, m.BotUserID, m.EventID); err != nil {
		t.Fatalf("the kept message after Close: %v", err)
	} else {
		checkMessage(t, got, m)
	}
	if got, err := again.Messages().GetMessage(ctx, gone.BotUserID, gone.EventID); err != nil || !got.Redacted || got.Content != nil {
		t.Fatalf("the redacted message after Close: %+v, %v; want redacted without content", got, err)
	}
}

// A message that cannot be stored is reported to the caller's failure func.
func TestPutMessageLaterReportsAFailure(t *testing.T) {
	db := openTest(t)
	m := testMessage()
	m.Content = []byte(`{not json`)
	var failed error
	db.Messages().PutMessageLater(m, func(err error) { failed = err })
	if failed == nil {
		t.Fatal("invalid content was not reported")
	}
	if _, err := db.Messages().GetMessage(t.Context(), m.BotUserID, m.EventID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetMessage = %v, want not found", err)
	}
}

// The sync loop holds a batch's messages in memory and stores them after handing them over
// (issue 12): meanwhile GetMessage answers from memory and MarkRedacted marks the held copy
// (no reader waits, nothing is in the database yet); WriteHeld stores one bot's held messages
// in the order they were held and forgets them, the redaction included.
func TestHeldMessagesAreReadBeforeTheyAreStored(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	rows := func() (n int) {
		t.Helper()
		if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM gateway_message").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	a, b, other := testMessage(), testMessage(), testMessage()
	b.EventID, b.Content = "$b", json.RawMessage(`{"msgtype":"m.text","body":"to be deleted"}`)
	other.BotUserID, other.EventID = "@other:example.org", "$o"
	db.Messages().HoldMessages([]Message{a, b, other})
	got, err := db.Messages().GetMessage(ctx, a.BotUserID, a.EventID)
	if err != nil {
		t.Fatalf("a held message: %v", err)
	}
	checkMessage(t, got, a)
	if got.Stored.IsZero() {
		t.Error("a held message has no stored time")
	}
	if err := db.Messages().MarkRedacted(ctx, b.BotUserID, b.EventID); err != nil {
		t.Fatalf("redacting a held message: %v", err)
	}
	if got, err := db.Messages().GetMessage(ctx, b.BotUserID, b.EventID); err != nil || !got.Redacted || !got.BodyExpired || got.Content != nil {
		t.Fatalf("a held message redacted: %+v, %v; want redacted without content", got, err)
	}
	if n := rows(); n != 0 {
		t.Fatalf("%d rows before WriteHeld, want 0", n)
	}

	db.Messages().WriteHeld(ctx, a.BotUserID, func(m Message, err error) { t.Errorf("storing %s: %v", m.EventID, err) })
	if n := rows(); n != 2 {
		t.Fatalf("%d rows after writing one bot's held messages, want 2", n)
	}
	if got, err := db.Messages().GetMessage(ctx, a.BotUserID, a.EventID); err != nil {
		t.Fatal(err)
	} else {
		checkMessage(t, got, a)
	}
	if got, err := db.Messages().GetMessage(ctx, b.BotUserID, b.EventID); err != nil || !got.Redacted || got.Content != nil {
		t.Fatalf("the redacted message as stored: %+v, %v; want redacted without content", got, err)
	}
	if _, err := db.Messages().GetMessage(ctx, other.BotUserID, other.EventID); err != nil {
		t.Fatalf("the other bot's message, still held: %v", err)
	}
	db.Messages().WriteHeld(ctx, other.BotUserID, func(m Message, err error) { t.Errorf("storing %s: %v", m.EventID, err) })
	if n := rows(); n != 3 {
		t.Fatalf("%d rows after writing every held message, want 3", n)
	}
}

// A held message that cannot be stored with the others does not keep them out: WriteHeld stores
// the rest one by one and reports the bad one.
func TestWriteHeldStoresTheRestWhenOneFails(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	good, bad := testMessage(), testMessage()
	bad.EventID, bad.Content = "$bad", json.RawMessage(`{not json`)
	db.Messages().HoldMessages([]Message{bad, good})
	var failed []string
	db.Messages().WriteHeld(ctx, good.BotUserID, func(m Message, err error) { failed = append(failed, m.EventID) })
	if len(failed) != 1 || failed[0] != bad.EventID {
		t.Fatalf("failures reported: %v, want only %s", failed, bad.EventID)
	}
	if _, err := db.Messages().GetMessage(ctx, good.BotUserID, good.EventID); err != nil {
		t.Fatalf("the good message: %v", err)
	}
	if _, err := db.Messages().GetMessage(ctx, bad.BotUserID, bad.EventID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the bad message: %v, want not found (it is not held any more either)", err)
	}
}

// A held message counts as stored when it was held, not when it is read or written: the retention
// applies to it in memory as in the database, and the write keeps that time (a write that came
// late, after the clock moved, made an old message young again).
func TestHeldMessageKeepsWhenItWasHeld(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	var now atomic.Int64
	start := time.UnixMilli(1_800_000_000_000)
	now.Store(start.UnixMilli())
	db.SetClock(func() time.Time { return time.UnixMilli(now.Load()) })
	db.SetRetention(Retention{MessageAge: time.Hour, MessageCount: 100})
	m := testMessage()
	db.Messages().HoldMessages([]Message{m})
	if got, err := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID); err != nil || !got.Stored.Equal(start) {
		t.Fatalf("held: %+v, %v; want stored at %v", got, err, start)
	}
	now.Add((2 * time.Hour).Milliseconds())
	if _, err := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID); !errors.Is(err, ErrExpired) {
		t.Fatalf("held for longer than the retention: %v, want expired", err)
	}
	db.Messages().WriteHeld(ctx, m.BotUserID, func(m Message, err error) { t.Errorf("storing %s: %v", m.EventID, err) })
	if _, err := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID); !errors.Is(err, ErrExpired) {
		t.Fatalf("written after the retention: %v, want expired (stored when it was held)", err)
	}
}
