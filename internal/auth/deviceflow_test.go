package auth

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/auth/oauthmeta"
	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// The device flow polls the token endpoint as RFC 8628 says: every 5 s when the server gives no
// interval (§3.2), at the server's interval when it does, and 5 s slower after each slow_down
// (§3.5). The waits are recorded, not timed.
func TestDeviceFlowPollingInterval(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval int64
		answers  []string
		want     []time.Duration
	}{
		{"no interval: 5 s", 0, []string{"authorization_pending"}, []time.Duration{5 * time.Second, 5 * time.Second}},
		{"the server's interval", 2, []string{"authorization_pending"}, []time.Duration{2 * time.Second, 2 * time.Second}},
		{"slow_down adds 5 s each time", 0, []string{"slow_down", "authorization_pending", "slow_down"},
			[]time.Duration{5 * time.Second, 10 * time.Second, 10 * time.Second, 15 * time.Second}},
		{"failures double the wait, up to a minute, and do not end the login", 20, []string{"HTTP 503", "DROP", "HTTP 429", "authorization_pending"},
			[]time.Duration{20 * time.Second, 40 * time.Second, 60 * time.Second, 60 * time.Second, 60 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakes.NewFakeDeviceAuthServer(t, tc.interval, tc.answers...)
			bot := config.Bot{Homeserver: "http://hs.invalid", OAuthClientID: "client", OAuthCallbackTimeout: time.Minute}
			m, err := New(Options{
				Bot: bot, Store: &FileStore{Path: filepath.Join(t.TempDir(), "tokens.json")},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			var waits []time.Duration
			m.oauth.wait = func(ctx context.Context, d time.Duration) error {
				waits = append(waits, d)
				return ctx.Err()
			}
			md := &oauthmeta.Metadata{DeviceAuthorizationEndpoint: srv.DeviceEndpoint, TokenEndpoint: srv.TokenEndpoint}
			tok, err := m.oauth.deviceFlow(context.Background(), md, "DEV")
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "fake-access-token" {
				t.Fatalf("tokens %+v", tok)
			}
			if !slices.Equal(waits, tc.want) || srv.Polls() != len(tc.want) {
				t.Fatalf("waited %v before %d polls, want %v", waits, srv.Polls(), tc.want)
			}
		})
	}
}
