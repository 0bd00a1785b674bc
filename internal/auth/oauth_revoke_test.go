package auth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/matrix-onebot/gateway/internal/config"
)

// `gateway logout` revokes both tokens; when the revocation endpoint refuses (401
// invalid_client: RFC 7009 §2.2.1, the token is not revoked) the logout fails and the stored
// session stays, instead of being forgotten while it still works.
func TestOAuthLogoutRefusedKeepsTheSession(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		revoked []string // the token_type_hint of each revocation request
		kept    bool
	}{
		{"revoked", http.StatusOK, []string{"refresh_token", "access_token"}, false},
		{"refused", http.StatusUnauthorized, []string{"refresh_token"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var base string
			var revoked []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/metadata":
					_, _ = io.WriteString(w, `{"issuer":"`+base+`","token_endpoint":"`+base+`/token","revocation_endpoint":"`+base+`/revoke",`+
						`"authorization_endpoint":"`+base+`/auth","response_types_supported":["code"],"code_challenge_methods_supported":["S256"]}`)
				case "/revoke":
					_ = r.ParseForm()
					revoked = append(revoked, r.PostForm.Get("token_type_hint"))
					if r.PostForm.Get("client_id") != "client" || r.PostForm.Get("token") == "" {
						t.Errorf("revocation form %v", r.PostForm)
					}
					w.WriteHeader(tc.status)
					if tc.status != http.StatusOK {
						_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"client authentication failed"}`)
					}
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			base = srv.URL
			bot := config.Bot{Homeserver: "http://hs.invalid", UserID: "@bot:example.org", OAuthEnabled: true, OAuthMetadataURL: base + "/metadata"}
			store := &FileStore{Path: filepath.Join(t.TempDir(), "tokens.json")}
			ctx := context.Background()
			if err := store.Save(ctx, KeyOf(bot), Tokens{
				UserID: "@bot:example.org", DeviceID: "DEV", AccessToken: "access", RefreshToken: "refresh", Type: SessionOAuth,
				OAuthTokenEndpoint: base + "/token", OAuthClientID: "client",
			}); err != nil {
				t.Fatal(err)
			}
			m, err := New(Options{Bot: bot, Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			err = m.Logout(ctx)
			if (err != nil) != tc.kept {
				t.Fatalf("logout: %v", err)
			}
			_, ok, _ := store.Load(ctx, KeyOf(bot))
			if ok != tc.kept || len(revoked) != len(tc.revoked) || revoked[0] != tc.revoked[0] || revoked[len(revoked)-1] != tc.revoked[len(tc.revoked)-1] {
				t.Fatalf("session kept %t, revocations %v; want kept %t, %v", ok, revoked, tc.kept, tc.revoked)
			}
		})
	}
}
