package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/matrix-onebot/gateway/internal/config"
)

// A new device is asked for without a device_id, becomes the session and is stored.
func TestLoginNewDeviceStoresTheNewDevice(t *testing.T) {
	var sent map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_matrix/client/v3/login" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&sent)
		_ = json.NewEncoder(w).Encode(map[string]any{"user_id": "@bot:example.org", "access_token": "new-token", "device_id": "NEWDEVICE", "refresh_token": "new-refresh"})
	}))
	defer srv.Close()
	store := &FileStore{Path: filepath.Join(t.TempDir(), "tokens.json")}
	bot := config.Bot{Homeserver: srv.URL, UserID: "@bot:example.org", LoginUser: "bot", LoginPassword: "pw", DeviceID: "OLDDEVICE"}
	m, err := New(Options{Bot: bot, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	m.adopt(context.Background(), Tokens{UserID: "@bot:example.org", DeviceID: "OLDDEVICE", AccessToken: "old-token", Type: SessionLegacy}, true)
	got, err := m.LoginNewDevice(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sent["device_id"]; ok || sent["password"] != "pw" {
		t.Fatalf("the login must not name a device: %v", sent)
	}
	if got.DeviceID != "NEWDEVICE" || m.Tokens().AccessToken != "new-token" {
		t.Fatalf("session %v, current %v", got, m.Tokens())
	}
	stored, ok, err := store.Load(context.Background(), KeyOf(bot))
	if err != nil || !ok || stored.DeviceID != "NEWDEVICE" || stored.AccessToken != "new-token" || stored.RefreshToken != "new-refresh" {
		t.Fatalf("stored %v (ok %t, err %v)", stored, ok, err)
	}
}

func TestLoginNewDeviceNeedsCredentials(t *testing.T) {
	m, err := New(Options{Bot: config.Bot{Homeserver: "https://example.org", AccessToken: "x"}, Store: &FileStore{Path: filepath.Join(t.TempDir(), "t.json")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoginNewDevice(context.Background()); !errors.Is(err, ErrNoCredentials) {
		t.Fatal("a bot with only an access token cannot log in on a new device")
	}
}
