package storage

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// A message written in the background (the send path) is never missed by a read: GetMessage and
// MarkRedacted wait for its write, and Close waits for every such write.
func TestPutMessageLaterIsReadAfterItsWrite(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	release := make(chan struct{})
	db.later.Hook = func() { <-release } // the write cannot start until released
	m := testMessage()
	var failed error
	db.Messages().PutMessageLater(m, func(err error) { failed = err })

	// While the write is held, a read waits for it: with a deadline it ends with the deadline,
	// never with "not found".
	short, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.Messages().GetMessage(short, m.BotUserID, m.EventID); !errors.Is(err, context.Canceled) {
		t.Fatalf("read of a message being written: %v, want it to wait (context canceled)", err)
	}
	if err := db.Messages().MarkRedacted(short, m.BotUserID, m.EventID); !errors.Is(err, context.Canceled) {
		t.Fatalf("redaction of a message being written: %v, want it to wait (context canceled)", err)
	}

	read := make(chan error, 1)
	go func() {
		got, err := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID)
		if err == nil {
			checkMessage(t, got, m)
		}
		read <- err
	}()
	close(release)
	if err := <-read; err != nil {
		t.Fatalf("read after the write: %v", err)
	}
	if err := db.Close(); err != nil { // waits for the background write (and its failure report)
		t.Fatal(err)
	}
	if failed != nil {
		t.Fatalf("background write failed: %v", failed)
	}
	// After Close, a write is refused at once (reported), not started on a closed database.
	db.Messages().PutMessageLater(testMessage(), func(err error) { failed = err })
	if failed == nil {
		t.Fatal("a write after Close was not reported")
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
