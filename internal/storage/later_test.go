package storage

import (
	"context"
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
