package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func testMessage() Message {
	return Message{
		BotUserID: "@bot:example.org",
		RoomID:    "!room:example.org",
		EventID:   "$event",
		Sender:    "@alice:example.org",
		Time:      time.UnixMilli(1_700_000_000_123),
		Content:   json.RawMessage(`{"msgtype":"m.text","body":"hello"}`),
	}
}

func checkMessage(t *testing.T, got, want Message) {
	t.Helper()
	if got.BotUserID != want.BotUserID || got.RoomID != want.RoomID || got.EventID != want.EventID ||
		got.Sender != want.Sender || !got.Time.Equal(want.Time) || string(got.Content) != string(want.Content) ||
		got.Redacted != want.Redacted {
		t.Errorf("message = %+v\nwant %+v", got, want)
	}
}

func TestPutGetMessage(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	m := testMessage()
	if err := db.Messages().PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, err := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID)
	if err != nil {
		t.Fatal(err)
	}
	checkMessage(t, got, m)

	// Sub-millisecond precision is dropped, not rounded into a different ms.
	m.Time = time.UnixMilli(1_700_000_000_999).Add(999 * time.Microsecond)
	if err := db.Messages().PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Messages().GetMessage(ctx, m.BotUserID, m.EventID)
	if want := time.UnixMilli(1_700_000_000_999); !got.Time.Equal(want) {
		t.Errorf("time = %v, want %v", got.Time, want)
	}
}

func TestPutMessageUpserts(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	m := testMessage()
	if err := db.Messages().PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	m.Content = json.RawMessage(`{"msgtype":"m.text","body":"edited"}`)
	m.Sender = "@bob:example.org"
	if err := db.Messages().PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, err := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID)
	if err != nil {
		t.Fatal(err)
	}
	checkMessage(t, got, m)
	var n int
	if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM gateway_message").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows = %d, %v; want 1", n, err)
	}
}

func TestMessagesArePerBot(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	a := testMessage()
	b := testMessage()
	b.BotUserID = "@other-bot:example.org"
	b.Content = json.RawMessage(`{"body":"seen by the other bot"}`)
	for _, m := range []Message{a, b} {
		if err := db.Messages().PutMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []Message{a, b} {
		got, err := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID)
		if err != nil {
			t.Fatal(err)
		}
		checkMessage(t, got, m)
	}
	if err := db.Messages().MarkRedacted(ctx, a.BotUserID, a.EventID); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Messages().GetMessage(ctx, b.BotUserID, b.EventID); got.Redacted {
		t.Error("redacting one bot's copy redacted the other's")
	}
}

func TestMarkRedacted(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	m := testMessage()
	if err := db.Messages().PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := db.Messages().MarkRedacted(ctx, m.BotUserID, m.EventID); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID)
	if err != nil {
		t.Fatal(err)
	}
	// The redacted content is dropped at once: nothing shows it again.
	want := m
	want.Redacted, want.Content = true, nil
	checkMessage(t, got, want)
	if !got.BodyExpired {
		t.Error("a redacted message's body is not marked dropped")
	}

	// A later put of the same event (e.g. the sync echo) keeps the flag.
	m.Redacted = false
	if err := db.Messages().PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID); !got.Redacted || got.Content != nil {
		t.Errorf("PutMessage cleared the redaction or brought the content back: %+v", got)
	}
}

func TestMessageNotFound(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	if _, err := db.Messages().GetMessage(ctx, "@bot:example.org", "$missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetMessage err = %v, want ErrNotFound", err)
	}
	if err := db.Messages().MarkRedacted(ctx, "@bot:example.org", "$missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkRedacted err = %v, want ErrNotFound", err)
	}
}

func TestPutMessageValidates(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	for name, m := range map[string]Message{
		"no bot":       {EventID: "$e", Content: json.RawMessage(`{}`)},
		"no event":     {BotUserID: "@b:x", Content: json.RawMessage(`{}`)},
		"invalid json": {BotUserID: "@b:x", EventID: "$e", Content: json.RawMessage(`{"body":`)},
	} {
		if err := db.Messages().PutMessage(ctx, m); err == nil {
			t.Errorf("%s: PutMessage succeeded", name)
		}
	}
	m := Message{BotUserID: "@b:x", EventID: "$empty"}
	if err := db.Messages().PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID); err != nil || string(got.Content) != "{}" {
		t.Errorf("empty content stored as %q, %v", got.Content, err)
	}
}

// PutMessages stores a batch in one transaction: all of them, or none when one is not valid.
func TestPutMessages(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	a, b := testMessage(), testMessage()
	b.EventID, b.Sender, b.Content = "$second", "@bob:example.org", json.RawMessage(`{"msgtype":"m.text","body":"second"}`)
	if err := db.Messages().PutMessages(ctx, []Message{a, b}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []Message{a, b} {
		got, err := db.Messages().GetMessage(ctx, want.BotUserID, want.EventID)
		if err != nil {
			t.Fatal(err)
		}
		checkMessage(t, got, want)
	}
	c, bad := testMessage(), testMessage()
	c.EventID = "$third"
	bad.EventID, bad.Content = "$bad", json.RawMessage(`{"body":`)
	if err := db.Messages().PutMessages(ctx, []Message{c, bad}); err == nil {
		t.Fatal("PutMessages with invalid content succeeded")
	}
	for _, e := range []string{"$third", "$bad"} {
		if _, err := db.Messages().GetMessage(ctx, c.BotUserID, e); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s after a failed PutMessages: %v, want ErrNotFound", e, err)
		}
	}
	if err := db.Messages().PutMessages(ctx, nil); err != nil {
		t.Errorf("PutMessages(nil) = %v", err)
	}

	// More messages than one statement takes, one of them twice (the last counts), and one
	// stored before (it is updated).
	var many []Message
	for i := range 250 {
		m := testMessage()
		m.EventID, m.Content = fmt.Sprintf("$many%d", i), json.RawMessage(fmt.Sprintf(`{"body":"%d"}`, i))
		many = append(many, m)
	}
	again := many[7]
	again.Content = json.RawMessage(`{"body":"again"}`)
	updated := a
	updated.Content = json.RawMessage(`{"body":"updated"}`)
	many = append(many, again, updated)
	if err := db.Messages().PutMessages(ctx, many); err != nil {
		t.Fatal(err)
	}
	wants := append(append(append([]Message(nil), many[:7]...), many[8:250]...), again, updated)
	for _, want := range wants {
		got, err := db.Messages().GetMessage(ctx, want.BotUserID, want.EventID)
		if err != nil {
			t.Fatal(err)
		}
		checkMessage(t, got, want)
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM gateway_message").Scan(&n); err != nil || n != 252 {
		t.Errorf("rows = %d, %v; want 252", n, err)
	}
}

// PruneMessages deletes by when the gateway stored a message, not by its origin_server_ts,
// which the sending homeserver chooses.
func TestPruneMessages(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	base := time.UnixMilli(1_700_000_000_000)
	for i, id := range []string{"$old1", "$old2", "$new"} {
		m := testMessage()
		m.EventID = id
		m.Time = base.Add(365 * 24 * time.Hour) // a forged future origin_server_ts changes nothing
		stored := base.Add(time.Duration(i) * time.Hour)
		if i == 2 {
			stored = base.Add(48 * time.Hour)
		}
		db.now = func() time.Time { return stored }
		if err := db.Messages().PutMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	now := base.Add(48 * time.Hour)
	db.now = func() time.Time { return now }
	db.SetRetention(Retention{MessageAge: 24 * time.Hour})
	p, err := db.Messages().PruneMessages(ctx, now)
	if err != nil || p.Aged != 2 || p.Total() != 2 {
		t.Fatalf("pruned %+v, %v; want 2 aged", p, err)
	}
	if _, err := db.Messages().GetMessage(ctx, "@bot:example.org", "$old1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("$old1 survived: %v", err)
	}
	if _, err := db.Messages().GetMessage(ctx, "@bot:example.org", "$new"); err != nil {
		t.Errorf("$new was pruned: %v", err)
	}
}
