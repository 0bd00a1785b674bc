package media

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/crypto/attachment"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// An event that names the mxc of an encrypted attachment the bot has seen elsewhere (a private
// room's file, whose mxc the homeserver knows) must not get that attachment's file id: the
// record holds the key that decrypts it, and get_file, or a bot that sends the image on, would
// decrypt it for, or hand its key to, whoever sent the event. The file id is bound to the key.
func TestIncomingFileIDIsBoundToItsKey(t *testing.T) {
	m := openTestMedia(t, filepath.Join(t.TempDir(), "gw.db"), 1<<20)
	u := id.UserID("@bot:example.org")
	acct, err := account.New(account.Options{Bot: config.Bot{Homeserver: "https://example.org", UserID: u}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewFiles(acct, m)
	ctx := context.Background()
	const mxc = id.ContentURIString("mxc://example.org/private")
	encrypted := func() *event.MessageEventContent {
		ef := attachment.NewEncryptedFile()
		ef.EncryptInPlace([]byte("secret picture"))
		return &event.MessageEventContent{MsgType: event.MsgImage, Body: "a.png",
			File: &event.EncryptedFileInfo{EncryptedFile: *ef, URL: mxc}}
	}
	private := encrypted()
	orig, ok := s.RegisterIncoming(ctx, private)
	if !ok {
		t.Fatal("the private room's attachment was not registered")
	}
	if again, _ := s.RegisterIncoming(ctx, private); again.ID != orig.ID {
		t.Fatalf("the same attachment got two file ids: %s, %s", orig.ID, again.ID)
	}
	for name, c := range map[string]*event.MessageEventContent{
		"unencrypted, the same mxc":      {MsgType: event.MsgImage, Body: "a.png", URL: mxc},
		"encrypted, the same mxc, a key": encrypted(),
	} {
		info, ok := s.RegisterIncoming(ctx, c)
		if !ok {
			t.Fatalf("%s: not registered", name)
		}
		if info.ID == orig.ID {
			t.Fatalf("%s: got the private attachment's file id %s", name, info.ID)
		}
		rec, err := m.record(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.File != nil && rec.File.Key.Key == private.File.Key.Key {
			t.Fatalf("%s: its record holds the private attachment's key", name)
		}
	}

	// Older versions kept an encrypted attachment under the id of its mxc alone, which an
	// unencrypted event naming that mxc now gets: such a record is not offered.
	const legacyMXC = id.ContentURIString("mxc://example.org/legacy")
	legacy := encrypted()
	legacy.File.URL = legacyMXC
	if err := m.saveRecord(ctx, incomingFileID(&Record{MXC: legacyMXC}), &Record{MXC: legacyMXC, File: legacy.File, Bot: u}); err != nil {
		t.Fatal(err)
	}
	if info, ok := s.RegisterIncoming(ctx, &event.MessageEventContent{MsgType: event.MsgImage, Body: "b.png", URL: legacyMXC}); ok {
		t.Fatalf("an unencrypted event got the file id %s of an older version's encrypted record", info.ID)
	}
}

// A received encrypted attachment's record (the key that decrypts it; get_file's local copy is
// the decrypted file) is kept for GATEWAY_ENCRYPTED_BODY_RETENTION when that is shorter than
// GATEWAY_FILE_RETENTION; an unencrypted attachment's stays for the file retention.
func TestEncryptedAttachmentFollowsTheBodyRetention(t *testing.T) {
	m := openTestMedia(t, filepath.Join(t.TempDir(), "gw.db"), 1<<20)
	now := time.Now()
	m.db.SetClock(func() time.Time { return now })
	m.db.SetRetention(storage.Retention{MessageAge: 7 * 24 * time.Hour, FileAge: 24 * time.Hour, EncryptedBodyAge: time.Hour})
	acct, err := account.New(account.Options{Bot: config.Bot{Homeserver: "https://example.org", UserID: "@bot:example.org"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewFiles(acct, m)
	ctx := context.Background()
	ef := attachment.NewEncryptedFile()
	ef.EncryptInPlace([]byte("secret picture"))
	secret, ok := s.RegisterIncoming(ctx, &event.MessageEventContent{MsgType: event.MsgImage, Body: "a.png",
		File: &event.EncryptedFileInfo{EncryptedFile: *ef, URL: "mxc://example.org/secret"}})
	plain, ok2 := s.RegisterIncoming(ctx, &event.MessageEventContent{MsgType: event.MsgImage, Body: "b.png", URL: "mxc://example.org/plain"})
	if !ok || !ok2 {
		t.Fatal("the attachments were not registered")
	}
	now = now.Add(2 * time.Hour)
	if _, err := m.record(ctx, secret.ID); err == nil || !strings.Contains(err.Error(), "GATEWAY_ENCRYPTED_BODY_RETENTION") {
		t.Fatalf("the encrypted attachment past the body retention: %v; want expired, naming GATEWAY_ENCRYPTED_BODY_RETENTION", err)
	}
	if _, err := m.record(ctx, plain.ID); err != nil {
		t.Fatalf("the unencrypted attachment within the file retention: %v", err)
	}
}
