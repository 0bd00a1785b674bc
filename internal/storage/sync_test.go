package storage

import (
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestSyncToken(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	if tok, err := db.Sync().SyncToken(ctx, "@bot:example.org"); err != nil || tok != "" {
		t.Fatalf("SyncToken of a new bot = %q, %v; want empty", tok, err)
	}
	for _, tok := range []string{"s1", "s2"} {
		if err := db.Sync().SetSyncToken(ctx, "@bot:example.org", tok); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Sync().SyncToken(ctx, "@bot:example.org"); err != nil || got != tok {
			t.Errorf("SyncToken = %q, %v; want %q", got, err, tok)
		}
	}
	if tok, err := db.Sync().SyncToken(ctx, "@other:example.org"); err != nil || tok != "" {
		t.Errorf("other bot's token = %q, %v", tok, err)
	}
	if err := db.Sync().SetSyncToken(ctx, "", "s"); err == nil {
		t.Error("SetSyncToken accepted an empty bot id")
	}
}

func TestMautrixSyncStore(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	s := db.Sync().SyncStore()
	bot := id.UserID("@bot:example.org")
	if err := s.SaveFilterID(ctx, bot, "f1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveNextBatch(ctx, bot, "s9"); err != nil {
		t.Fatal(err)
	}
	if f, err := s.LoadFilterID(ctx, bot); err != nil || f != "f1" {
		t.Errorf("LoadFilterID = %q, %v", f, err)
	}
	if nb, err := s.LoadNextBatch(ctx, bot); err != nil || nb != "s9" {
		t.Errorf("LoadNextBatch = %q, %v", nb, err)
	}
	if tok, err := db.Sync().SyncToken(ctx, string(bot)); err != nil || tok != "s9" {
		t.Errorf("SyncToken = %q, %v; want the store's next batch", tok, err)
	}
	// Saving one field leaves the other alone.
	if err := db.Sync().SetSyncToken(ctx, string(bot), "s10"); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.LoadFilterID(ctx, bot); f != "f1" {
		t.Errorf("filter id after SetSyncToken = %q", f)
	}
}
