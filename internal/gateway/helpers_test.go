package gateway

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/fakes"
)

const testToken = "test-token"

func newTestDB(t testing.TB) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// newTestHub returns a hub with one fake bot (self_id 10001).
func newTestHub(t testing.TB, token string) (*Hub, *fakes.FakeBot, *storage.DB) {
	t.Helper()
	db := newTestDB(t)
	h := NewHub(Options{
		Version: "test", AccessToken: token, HeartbeatInterval: time.Hour, IDs: db.IDs(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ExpectedBots: 1,
	})
	bot := fakes.NewFakeBot("@bot:example.org")
	h.AddBot(bot, 10001)
	return h, bot, db
}

func newSecondBot() *fakes.FakeBot { return fakes.NewFakeBot("@bot2:example.org") }

// errString is err's text, or fallback when err is nil.
func errString(err error, fallback string) string {
	if err != nil {
		return err.Error()
	}
	return fallback
}
