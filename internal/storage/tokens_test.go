package storage

import (
	"errors"
	"testing"
)

func TestTokensRoundTrip(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, newLocation(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const hs = "https://matrix.example.org"
	if _, err := db.Tokens().Token(ctx, hs, "@bot:example.org", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty store: err = %v, want ErrNotFound", err)
	}
	rec := TokenRecord{
		Homeserver: hs, BotKey: "bot", UserID: "@bot:example.org", DeviceID: "DEV", AccessToken: "at1",
		RefreshToken: "rt1", AccessTokenExpiresAtMS: 1760000000000, SessionType: "legacy_login",
	}
	if err := db.Tokens().PutToken(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := db.Tokens().Token(ctx, hs, "bot", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != "at1" || got.RefreshToken != "rt1" || got.DeviceID != "DEV" ||
		got.AccessTokenExpiresAtMS != 1760000000000 || got.SessionType != "legacy_login" || got.UpdatedAt.IsZero() {
		t.Errorf("got %+v", got)
	}
	// Found by user ID when the bot is now known under another key (user_id added to the config).
	if got, err := db.Tokens().Token(ctx, hs, "@bot:example.org", "@bot:example.org"); err != nil || got.AccessToken != "at1" {
		t.Errorf("by user: %v %q", err, got.AccessToken)
	}
	// Another homeserver is another store.
	if _, err := db.Tokens().Token(ctx, "https://other.example.org", "bot", "@bot:example.org"); !errors.Is(err, ErrNotFound) {
		t.Errorf("other homeserver: err = %v", err)
	}
	rec.AccessToken, rec.RefreshToken, rec.SessionType = "at2", "", "oauth2"
	rec.OAuthClientID, rec.OAuthTokenEndpoint = "cid", "https://auth.example.org/token"
	if err := db.Tokens().PutToken(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Tokens().Token(ctx, hs, "bot", ""); got.AccessToken != "at2" || got.RefreshToken != "" || got.OAuthClientID != "cid" ||
		got.OAuthTokenEndpoint != "https://auth.example.org/token" {
		t.Errorf("after update: %+v", got)
	}
	if err := db.Tokens().PutToken(ctx, TokenRecord{Homeserver: hs}); err == nil {
		t.Error("PutToken without a bot key succeeded")
	}
	if err := db.Tokens().DeleteToken(ctx, hs, "bot"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Tokens().Token(ctx, hs, "bot", "@bot:example.org"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: err = %v", err)
	}
}

func TestOAuthClients(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, newLocation(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Tokens().OAuthClient(ctx, "https://auth.example.org/", "http://127.0.0.1/callback"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"c1", "c2"} {
		if err := db.Tokens().PutOAuthClient(ctx, "https://auth.example.org/", "http://127.0.0.1/callback", id); err != nil {
			t.Fatal(err)
		}
	}
	if id, err := db.Tokens().OAuthClient(ctx, "https://auth.example.org/", "http://127.0.0.1/callback"); err != nil || id != "c2" {
		t.Errorf("got %q, %v; want c2", id, err)
	}
	if _, err := db.Tokens().OAuthClient(ctx, "https://auth.example.org/", "urn:device"); !errors.Is(err, ErrNotFound) {
		t.Errorf("other redirect: err = %v", err)
	}
	if err := db.Tokens().DeleteOAuthClient(ctx, "https://auth.example.org/", "http://127.0.0.1/callback"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Tokens().OAuthClient(ctx, "https://auth.example.org/", "http://127.0.0.1/callback"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: err = %v", err)
	}
}
