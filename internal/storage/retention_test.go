package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// clock is a settable clock for db.now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func putAt(t *testing.T, db *DB, c *clock, at time.Time, m Message) {
	t.Helper()
	c.t = at
	if err := db.Messages().PutMessage(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

func msgIn(room, eventID string, encrypted bool) Message {
	m := testMessage()
	m.RoomID, m.EventID, m.Encrypted = room, eventID, encrypted
	m.Content = json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":"body of %s"}`, eventID))
	return m
}

// The count bound keeps the newest GATEWAY_MESSAGE_RETENTION_COUNT messages of each bot and
// room: a busy room does not push a quiet room's messages out.
func TestPruneMessagesByCountPerRoom(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	c := &clock{}
	db.now = c.now
	base := time.UnixMilli(1_700_000_000_000)
	for i := range 5 {
		putAt(t, db, c, base.Add(time.Duration(i)*time.Minute), msgIn("!busy:x", fmt.Sprintf("$busy%d", i), false))
	}
	putAt(t, db, c, base, msgIn("!quiet:x", "$quiet0", false))
	other := msgIn("!busy:x", "$otherbot", false)
	other.BotUserID = "@other:x"
	putAt(t, db, c, base, other)

	db.SetRetention(Retention{MessageAge: 24 * time.Hour, MessageCount: 2})
	p, err := db.Messages().PruneMessages(ctx, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if p.Counted != 3 || p.Aged != 0 {
		t.Errorf("pruned %+v, want 3 counted, 0 aged", p)
	}
	for id, want := range map[string]bool{"$busy0": false, "$busy1": false, "$busy2": false, "$busy3": true, "$busy4": true, "$quiet0": true} {
		_, err := db.Messages().GetMessage(ctx, "@bot:example.org", id)
		if got := err == nil; got != want {
			t.Errorf("%s kept = %v (%v), want %v", id, got, err, want)
		}
	}
	if _, err := db.Messages().GetMessage(ctx, "@other:x", "$otherbot"); err != nil {
		t.Errorf("another bot's message in the same room was pruned: %v", err)
	}
}

// An encrypted room's decrypted body goes after GATEWAY_ENCRYPTED_BODY_RETENTION; the row
// (room, sender) stays for replies and recalls until GATEWAY_MESSAGE_RETENTION. A message of
// an unencrypted room keeps its body.
func TestPruneDropsEncryptedBodiesEarlier(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	c := &clock{}
	db.now = c.now
	base := time.UnixMilli(1_700_000_000_000)
	putAt(t, db, c, base, msgIn("!e2ee:x", "$secret", true))
	putAt(t, db, c, base, msgIn("!plain:x", "$public", false))
	db.SetRetention(Retention{MessageAge: 7 * 24 * time.Hour, EncryptedBodyAge: 24 * time.Hour})

	c.t = base.Add(25 * time.Hour)
	// Past the body bound, the body is not returned even before the pruner ran.
	got, err := db.Messages().GetMessage(ctx, "@bot:example.org", "$secret")
	if err != nil || !got.BodyExpired || got.Content != nil {
		t.Fatalf("before the prune: %+v, %v; want the row without its body", got, err)
	}
	p, err := db.Messages().PruneMessages(ctx, c.t)
	if err != nil || p.Bodies != 1 || p.Aged != 0 {
		t.Fatalf("pruned %+v, %v; want 1 body", p, err)
	}
	var content string
	if err := db.SQL().QueryRowContext(ctx, `SELECT content FROM gateway_message WHERE event_id = '$secret'`).Scan(&content); err != nil || content != "" {
		t.Errorf("stored content = %q, %v; want it dropped", content, err)
	}
	got, err = db.Messages().GetMessage(ctx, "@bot:example.org", "$secret")
	if err != nil || got.Sender != "@alice:example.org" || got.RoomID != "!e2ee:x" || !got.BodyExpired {
		t.Errorf("after the prune: %+v, %v; want room and sender kept", got, err)
	}
	if got, err := db.Messages().GetMessage(ctx, "@bot:example.org", "$public"); err != nil || got.BodyExpired || len(got.Content) == 0 {
		t.Errorf("unencrypted message: %+v, %v; want its body kept", got, err)
	}
	// A second pass has nothing left to do.
	if p, err := db.Messages().PruneMessages(ctx, c.t); err != nil || p.Total() != 0 {
		t.Errorf("second prune: %+v, %v", p, err)
	}
}

// Past GATEWAY_MESSAGE_RETENTION a message is expired on read at once, before the pruner
// deletes it.
func TestGetMessageExpiresBeforePrune(t *testing.T) {
	db := openTest(t)
	c := &clock{}
	db.now = c.now
	base := time.UnixMilli(1_700_000_000_000)
	putAt(t, db, c, base, msgIn("!r:x", "$m", false))
	db.SetRetention(Retention{MessageAge: time.Hour})
	c.t = base.Add(59 * time.Minute)
	if _, err := db.Messages().GetMessage(t.Context(), "@bot:example.org", "$m"); err != nil {
		t.Fatalf("within the retention: %v", err)
	}
	c.t = base.Add(61 * time.Minute)
	_, err := db.Messages().GetMessage(t.Context(), "@bot:example.org", "$m")
	if !errors.Is(err, ErrExpired) || !errors.Is(err, ErrNotFound) {
		t.Errorf("past the retention: err = %v, want ErrExpired (and ErrNotFound)", err)
	}
}

// The sync echo of a message (PutMessage again) does not restart its retention.
func TestPutMessageAgainKeepsStoredTime(t *testing.T) {
	db := openTest(t)
	c := &clock{}
	db.now = c.now
	base := time.UnixMilli(1_700_000_000_000)
	m := msgIn("!r:x", "$m", false)
	putAt(t, db, c, base, m)
	putAt(t, db, c, base.Add(time.Hour), m)
	got, err := db.Messages().GetMessage(t.Context(), m.BotUserID, m.EventID)
	if err != nil || !got.Stored.Equal(base) {
		t.Errorf("stored = %v, %v; want %v", got.Stored, err, base)
	}
}

// readDBFiles returns the bytes of the database file and of its WAL.
func readDBFiles(t *testing.T, db *DB) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{db.Path(), db.Path() + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// Pruned plaintext is gone from the database file and the WAL after a prune and a checkpoint:
// secure_delete overwrites the freed space, the TRUNCATE checkpoint empties the WAL. Both the
// deleted rows and the dropped bodies of encrypted rooms are checked.
func TestPrunedPlaintextLeavesTheFile(t *testing.T) {
	sqliteOnly(t, "secure_delete and the WAL of the file")
	db := openTest(t)
	ctx := t.Context()
	if got := pragma(t, db, "secure_delete"); got != "1" {
		t.Errorf("PRAGMA secure_delete = %q, want 1", got)
	}
	c := &clock{}
	db.now = c.now
	base := time.UnixMilli(1_700_000_000_000)
	aged, body, kept := []byte("AGED-PLAINTEXT-7f3a9c"), []byte("E2EE-PLAINTEXT-41be0d"), []byte("KEPT-PLAINTEXT-c05e11")
	for _, m := range []struct {
		id, room string
		enc      bool
		marker   []byte
		at       time.Time
	}{
		{"$aged", "!r:x", false, aged, base},
		{"$body", "!e:x", true, body, base.Add(6 * 24 * time.Hour)},
		{"$kept", "!r:x", false, kept, base.Add(6 * 24 * time.Hour)},
	} {
		msg := msgIn(m.room, m.id, m.enc)
		msg.Content = json.RawMessage(`{"msgtype":"m.text","body":"` + string(m.marker) + `"}`)
		putAt(t, db, c, m.at, msg)
	}
	// Some other rows share the pages, as in a real index.
	for i := range 50 {
		putAt(t, db, c, base.Add(6*24*time.Hour), msgIn("!r:x", fmt.Sprintf("$filler%d", i), false))
	}
	if ok, err := db.Checkpoint(ctx); err != nil || !ok {
		t.Fatalf("checkpoint: %v, %v", ok, err)
	}
	files := readDBFiles(t, db)
	for _, mk := range [][]byte{aged, body, kept} {
		if !bytes.Contains(files, mk) {
			t.Fatalf("%s is not in the database file before the prune: the test cannot see anything", mk)
		}
	}

	db.SetRetention(Retention{MessageAge: 7 * 24 * time.Hour, EncryptedBodyAge: 24 * time.Hour})
	c.t = base.Add(8 * 24 * time.Hour)
	p, err := db.Messages().PruneMessages(ctx, c.t)
	if err != nil || p.Aged != 1 || p.Bodies != 1 {
		t.Fatalf("pruned %+v, %v; want 1 aged, 1 body", p, err)
	}
	if ok, err := db.Checkpoint(ctx); err != nil || !ok {
		t.Fatalf("checkpoint: %v, %v", ok, err)
	}
	files = readDBFiles(t, db)
	for _, mk := range [][]byte{aged, body} {
		if bytes.Contains(files, mk) {
			t.Errorf("%s is still in the database file or WAL after the prune and a checkpoint", mk)
		}
	}
	if !bytes.Contains(files, kept) {
		t.Errorf("%s, which is within the retention, is gone", kept)
	}
	if st, err := os.Stat(db.Path() + "-wal"); err == nil && st.Size() != 0 {
		t.Errorf("the WAL has %d bytes after a TRUNCATE checkpoint", st.Size())
	}
}

func TestFileRecords(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	c := &clock{}
	db.now = c.now
	base := time.UnixMilli(1_700_000_000_000)
	c.t = base
	if _, err := db.Files().GetFileRecord(ctx, "fmissing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing record: %v", err)
	}
	if err := db.Files().PutFileRecord(ctx, "fold", `{"name":"old"}`, false); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Files().GetOrPutFileRecord(ctx, "fold", `{"name":"other"}`, false); err != nil || got != `{"name":"old"}` {
		t.Errorf("GetOrPut of an existing record = %q, %v; want the stored one", got, err)
	}
	c.t = base.Add(20 * time.Hour)
	if err := db.Files().PutFileRecord(ctx, "fnew", `{"name":"new"}`, false); err != nil {
		t.Fatal(err)
	}
	db.SetRetention(Retention{FileAge: 24 * time.Hour})
	c.t = base.Add(25 * time.Hour)
	if _, err := db.Files().GetFileRecord(ctx, "fold"); !errors.Is(err, ErrExpired) {
		t.Errorf("expired record before the prune: %v, want ErrExpired", err)
	}
	// An expired record is replaced, and its retention starts again.
	if got, err := db.Files().GetOrPutFileRecord(ctx, "fold", `{"name":"again"}`, false); err != nil || got != `{"name":"again"}` {
		t.Errorf("GetOrPut of an expired record = %q, %v; want the new one", got, err)
	}
	c.t = base.Add(50 * time.Hour)
	ids, err := db.Files().PruneFileRecords(ctx, c.t)
	if err != nil || len(ids) != 2 {
		t.Fatalf("pruned %v, %v; want fold and fnew", ids, err)
	}
	for _, id := range []string{"fold", "fnew"} {
		if _, err := db.Files().GetFileRecord(ctx, id); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrExpired) {
			t.Errorf("%s after the prune: %v, want ErrNotFound", id, err)
		}
	}
	db.SetRetention(Retention{})
	if ids, err := db.Files().PruneFileRecords(ctx, c.t.Add(1000*time.Hour)); err != nil || len(ids) != 0 {
		t.Errorf("without a file retention, pruned %v, %v", ids, err)
	}
}

// The record of an end-to-end encrypted attachment (its key; the file store's decrypted copy goes
// with it) is kept for GATEWAY_ENCRYPTED_BODY_RETENTION when that is shorter than
// GATEWAY_FILE_RETENTION: not read past it, and pruned; other records stay for the file
// retention.
func TestEncryptedFileRecordsFollowTheBodyRetention(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	c := &clock{t: time.UnixMilli(1_700_000_000_000)}
	db.now = c.now
	db.SetRetention(Retention{MessageAge: 7 * 24 * time.Hour, FileAge: 24 * time.Hour, EncryptedBodyAge: time.Hour})
	if err := db.Files().PutFileRecord(ctx, "fsecret", `{"file":{"key":"k"}}`, true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Files().GetOrPutFileRecord(ctx, "fplain", `{"name":"plain"}`, false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Files().GetFileRecord(ctx, "fsecret"); err != nil {
		t.Fatalf("within the body retention: %v", err)
	}
	c.t = c.t.Add(2 * time.Hour)
	if _, err := db.Files().GetFileRecord(ctx, "fsecret"); !errors.Is(err, ErrExpired) {
		t.Fatalf("an encrypted attachment's record past the body retention: %v, want ErrExpired", err)
	}
	if _, err := db.Files().GetFileRecord(ctx, "fplain"); err != nil {
		t.Fatalf("another record within the file retention: %v", err)
	}
	ids, err := db.Files().PruneFileRecords(ctx, c.t)
	if err != nil || len(ids) != 1 || ids[0] != "fsecret" {
		t.Fatalf("pruned %v, %v; want fsecret only", ids, err)
	}
}

// TestUpgradeToRetention fills a database as the build before the retention migration left it
// (messages without stored time, file records in gateway_kv), then opens it: the file records
// move to gateway_file and start their retention now; old messages count from their
// origin_server_ts (at most now) and, not known to be unencrypted, are treated as encrypted.
func TestUpgradeToRetention(t *testing.T) {
	sqliteOnly(t, "a file an older build left")
	ctx := t.Context()
	// The file a build before the retention (version 4, 0005_retention.sql came next) left.
	path := legacyDatabase(t, filepath.Join(t.TempDir(), "gateway.db"), 4)
	raw, err := openRaw(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	past, future := time.Now().Add(-48*time.Hour).UnixMilli(), time.Now().Add(365*24*time.Hour).UnixMilli()
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO gateway_message (bot_user_id, event_id, room_id, sender, ts, content) VALUES
			('@bot:x', '$past', '!r:x', '@a:x', %d, '{"body":"past"}'),
			('@bot:x', '$future', '!r:x', '@a:x', %d, '{"body":"future"}')`, past, future),
		`INSERT INTO gateway_kv (key, value) VALUES ('file:mabc', '{"name":"a.png"}'), ('media:url_key', 'k')`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	db := openAt(t, path)
	if rec, err := db.Files().GetFileRecord(ctx, "mabc"); err != nil || rec != `{"name":"a.png"}` {
		t.Errorf("moved file record = %q, %v", rec, err)
	}
	if _, err := db.KV().GetValue(ctx, "file:mabc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the file record is still in gateway_kv: %v", err)
	}
	if v, err := db.KV().GetValue(ctx, "media:url_key"); err != nil || v != "k" {
		t.Errorf("other kv rows: %q, %v", v, err)
	}
	got, err := db.Messages().GetMessage(ctx, "@bot:x", "$past")
	if err != nil || got.Stored.UnixMilli() != past || !got.Encrypted {
		t.Errorf("old message: %+v, %v; want stored at its ts, encrypted", got, err)
	}
	got, err = db.Messages().GetMessage(ctx, "@bot:x", "$future")
	if err != nil || got.Stored.Before(start.Add(-time.Second)) || got.Stored.After(time.Now()) {
		t.Errorf("message with a future ts: stored %v, %v; want about now", got.Stored, err)
	}
}

// With GATEWAY_ENCRYPTED_BODY_RETENTION=0 the decrypted body of an encrypted room never reaches
// the file, not even the WAL; the row is there for replies and recalls.
func TestNoEncryptedBodies(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	db.SetRetention(Retention{MessageAge: time.Hour, NoEncryptedBodies: true})
	marker := "NEVER-STORED-9d1f2e"
	m := msgIn("!e:x", "$secret", true)
	m.Content = json.RawMessage(`{"msgtype":"m.text","body":"` + marker + `"}`)
	if err := db.Messages().PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	plain := msgIn("!p:x", "$plain", false)
	if err := db.Messages().PutMessage(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(readDBFiles(t, db), []byte(marker)) {
		t.Error("the decrypted body was written to the database file or WAL")
	}
	got, err := db.Messages().GetMessage(ctx, m.BotUserID, m.EventID)
	if err != nil || !got.BodyExpired || got.Content != nil || got.Sender != m.Sender {
		t.Errorf("encrypted message = %+v, %v; want the row without a body", got, err)
	}
	if got, err := db.Messages().GetMessage(ctx, plain.BotUserID, plain.EventID); err != nil || got.BodyExpired {
		t.Errorf("unencrypted message = %+v, %v; want its body", got, err)
	}
}

// ScrubOnce removes what a build before the retention left: plaintext in the free space of the
// file or WAL (deleted while secure_delete was off) and the content kept for redacted messages.
// It runs once per database.
func TestScrubOnce(t *testing.T) {
	sqliteOnly(t, "secure_delete, VACUUM and the WAL of a file older builds wrote")
	db := openTest(t)
	ctx := t.Context()
	deleted, redacted := []byte("DELETED-LONG-AGO-5ac1e0"), []byte("REDACTED-KEPT-0b7d44")
	for i := range 30 {
		if err := db.Messages().PutMessage(ctx, msgIn("!r:x", fmt.Sprintf("$filler%d", i), false)); err != nil {
			t.Fatal(err)
		}
	}
	// As an older build did: a delete without secure_delete, a redaction that kept the content.
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`PRAGMA secure_delete = OFF`,
		`INSERT INTO gateway_message (bot_user_id, event_id, room_id, sender, ts, content, redacted) VALUES ('@b:x', '$red', '!r:x', '@a:x', 1, '{"body":"` + string(redacted) + `"}', 1)`,
		`INSERT INTO gateway_message (bot_user_id, event_id, room_id, sender, ts, content) VALUES ('@b:x', '$gone', '!r:x', '@a:x', 1, '{"body":"` + string(deleted) + `"}')`,
		`DELETE FROM gateway_message WHERE event_id = '$gone'`,
		`PRAGMA secure_delete = ON`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_ = conn.Close()
	if ok, err := db.Checkpoint(ctx); err != nil || !ok {
		t.Fatalf("checkpoint: %v, %v", ok, err)
	}
	files := readDBFiles(t, db)
	for _, mk := range [][]byte{deleted, redacted} {
		if !bytes.Contains(files, mk) {
			t.Fatalf("%s is not in the file to begin with: the test cannot see anything", mk)
		}
	}
	if ran, err := db.ScrubOnce(ctx); err != nil || !ran {
		t.Fatalf("ScrubOnce = %v, %v", ran, err)
	}
	files = readDBFiles(t, db)
	for _, mk := range [][]byte{deleted, redacted} {
		if bytes.Contains(files, mk) {
			t.Errorf("%s is still in the database file or WAL after ScrubOnce", mk)
		}
	}
	if got, err := db.Messages().GetMessage(ctx, "@b:x", "$red"); err != nil || !got.Redacted || got.Content != nil {
		t.Errorf("redacted message after the scrub = %+v, %v", got, err)
	}
	if ran, err := db.ScrubOnce(ctx); err != nil || ran {
		t.Errorf("second ScrubOnce = %v, %v; want it not to run again", ran, err)
	}
}
