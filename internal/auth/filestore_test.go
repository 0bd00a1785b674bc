package auth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seedStore copies testdata/seed-store.json (a store as nonebot-adapter-matrix writes it) into
// a temporary directory.
func seedStore(t *testing.T) *FileStore {
	t.Helper()
	data, err := os.ReadFile("testdata/seed-store.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "matrix-tokens.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return &FileStore{Path: path}
}

func TestFileStoreLoadsSeedFormat(t *testing.T) {
	s := seedStore(t)
	for _, tc := range []struct {
		name   string
		key    Key
		access string
		err    string
	}{
		{"by user_id", Key{Homeserver: "https://matrix.example.org", UserID: "@bot:example.org"}, "syt_bot_access", ""},
		{"by login_user as user ID", Key{Homeserver: "https://matrix.example.org", LoginUser: "@other:example.org"}, "syt_other_access", ""},
		{"by login_user as localpart", Key{Homeserver: "https://matrix.example.org", LoginUser: "other"}, "syt_other_access", ""},
		{"only entry of the homeserver, no user named", Key{Homeserver: "https://elsewhere.example.net"}, "syt_solo", ""},
		{"two entries and no user named", Key{Homeserver: "https://matrix.example.org"}, "", "set user_id or login_user"},
		{"unknown user", Key{Homeserver: "https://matrix.example.org", UserID: "@nobody:example.org"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := s.Load(t.Context(), tc.key)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case tc.access == "" && ok:
				t.Fatalf("found %v, want nothing", got)
			case tc.access != "" && (!ok || got.AccessToken != tc.access):
				t.Fatalf("got %q (ok %t), want %q", got.AccessToken, ok, tc.access)
			}
		})
	}
	bot, _, _ := s.Load(t.Context(), Key{Homeserver: "https://matrix.example.org", UserID: "@bot:example.org"})
	if bot.Type != SessionLegacy || bot.RefreshToken != "syr_bot_refresh" || bot.DeviceID != "BOTDEVICE" ||
		bot.ExpiresAt.UnixMilli() != 1760000000000 || bot.UserID != "@bot:example.org" {
		t.Errorf("bot entry decoded as %+v", bot)
	}
	other, _, _ := s.Load(t.Context(), Key{Homeserver: "https://matrix.example.org", UserID: "@other:example.org"})
	if other.Type != SessionOAuth || other.OAuthClientID != "client-1" || other.OAuthTokenEndpoint != "https://auth.example.org/oauth2/token" || !other.ExpiresAt.IsZero() {
		t.Errorf("OAuth entry decoded as %+v", other)
	}
}

func TestFileStoreSaveKeepsOthersAndSeedKeys(t *testing.T) {
	s := seedStore(t)
	k := Key{Homeserver: "https://matrix.example.org", LoginUser: "bot"}
	exp := time.UnixMilli(1770000000000)
	err := s.Save(t.Context(), k, Tokens{
		UserID: "@bot:example.org", DeviceID: "BOTDEVICE", AccessToken: "new<&>access", RefreshToken: "new_refresh",
		ExpiresAt: exp, Type: SessionLegacy,
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after a save, want 0600", info.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(s.Path), ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	raw, _ := os.ReadFile(s.Path)
	var file map[string]map[string]any
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file) != 3 {
		t.Fatalf("%d entries after the save, want 3 (the others kept): %s", len(file), raw)
	}
	e := file[`{"homeserver": "https://matrix.example.org", "user_id": "@bot:example.org"}`]
	if e == nil || e["access_token"] != "new<&>access" || e["access_token_expires_at_ms"] != float64(1770000000000) ||
		e["oauth_client_id"] != nil || e["session_type"] != "legacy_login" {
		t.Fatalf("saved entry %v", e)
	}
	if !strings.Contains(string(raw), `"new<&>access"`) {
		t.Error("the file escapes HTML characters; Python's json.dumps does not")
	}
	if other := file[`{"homeserver": "https://matrix.example.org", "user_id": "@other:example.org"}`]; other["refresh_token"] != "mas_refresh" {
		t.Errorf("another bot's entry changed: %v", other)
	}
	if err := s.Save(t.Context(), k, Tokens{AccessToken: "x"}); err == nil {
		t.Error("a session without a user ID was saved")
	}
	if err := s.Delete(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Load(t.Context(), k); ok {
		t.Error("the entry is still there after Delete")
	}
}

func TestFileStoreMissingAndBroken(t *testing.T) {
	s := &FileStore{Path: filepath.Join(t.TempDir(), "sub", "tokens.json")}
	if _, ok, err := s.Load(t.Context(), Key{Homeserver: "https://h"}); ok || err != nil {
		t.Fatalf("missing file: ok %t, err %v", ok, err)
	}
	if err := s.Save(t.Context(), Key{Homeserver: "https://h"}, Tokens{UserID: "@a:h", AccessToken: "t"}); err != nil {
		t.Fatalf("save into a new directory: %v", err)
	}
	if err := os.WriteFile(s.Path, []byte("[1, 2]"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Load(t.Context(), Key{Homeserver: "https://h"})
	if err == nil || !strings.Contains(err.Error(), "MATRIX_TOKEN_STORE_PATH") {
		t.Fatalf("broken file: err %v, want one naming MATRIX_TOKEN_STORE_PATH", err)
	}
}

func TestTokensLogValueHasNoSecret(t *testing.T) {
	tok := Tokens{UserID: "@a:h", DeviceID: "D", AccessToken: "secret-access", RefreshToken: "secret-refresh", Type: SessionLegacy}
	for _, s := range []string{tok.String(), tok.LogValue().String()} {
		if strings.Contains(s, "secret") {
			t.Errorf("%q shows a token", s)
		}
	}
}

func FuzzDecodeTokenFile(f *testing.F) {
	seed, _ := os.ReadFile("testdata/seed-store.json")
	f.Add(seed, "https://matrix.example.org", "", "bot")
	f.Add([]byte(`{"x": 1}`), "", "@a:b", "")
	f.Add([]byte(`null`), "h", "", "")
	f.Fuzz(func(t *testing.T, data []byte, hs, user, login string) {
		entries, err := decodeTokenFile(data)
		if err != nil {
			return
		}
		_, _, _, _, _ = findEntry(entries, Key{Homeserver: hs, UserID: idOf(user), LoginUser: login})
	})
}
