package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/config"
)

// oauthRefreshFlows is the OAuth part of a bot whose token endpoint answers with handler.
func oauthRefreshFlows(t *testing.T, handler http.HandlerFunc) (*oauthFlows, Tokens) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	m, err := New(Options{
		Bot: config.Bot{Homeserver: "http://hs.invalid"}, Store: &FileStore{Path: filepath.Join(t.TempDir(), "t.json")},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	cur := Tokens{
		UserID: "@bot:example.org", DeviceID: "DEV", AccessToken: "old-access", RefreshToken: "old-refresh", Type: SessionOAuth,
		OAuthTokenEndpoint: srv.URL + "/token", OAuthClientID: "client",
	}
	return m.oauth, cur
}

// A refresh through mautrix keeps the session's device, client and endpoint, takes the new
// tokens, keeps the old refresh token when none is issued, and has the lifetime the server
// gave (whole seconds); the form carries the refresh token and the client.
func TestOAuthRefreshThroughMautrix(t *testing.T) {
	for _, tc := range []struct {
		name, answer, refresh string
		lifetime              time.Duration
	}{
		{"rotated", `{"access_token":"new-access","refresh_token":"new-refresh","expires_in":60,"token_type":"Bearer"}`, "new-refresh", time.Minute},
		{"refresh token kept, no expiry", `{"access_token":"new-access","token_type":"Bearer"}`, "old-refresh", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var form map[string]string
			o, cur := oauthRefreshFlows(t, func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				form = map[string]string{"grant_type": r.PostForm.Get("grant_type"), "refresh_token": r.PostForm.Get("refresh_token"), "client_id": r.PostForm.Get("client_id")}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tc.answer)
			})
			got, err := o.refresh(context.Background(), cur)
			if err != nil {
				t.Fatal(err)
			}
			if form["grant_type"] != "refresh_token" || form["refresh_token"] != "old-refresh" || form["client_id"] != "client" {
				t.Errorf("the token endpoint got %v", form)
			}
			if got.AccessToken != "new-access" || got.RefreshToken != tc.refresh || got.DeviceID != "DEV" || got.OAuthClientID != "client" ||
				got.OAuthTokenEndpoint != cur.OAuthTokenEndpoint || got.Type != SessionOAuth || got.Lifetime != tc.lifetime || got.ExpiresAt.IsZero() != (tc.lifetime == 0) {
				t.Errorf("refreshed session %+v (lifetime %v), want lifetime %v", got, got.Lifetime, tc.lifetime)
			}
		})
	}
}

// The token endpoint's refusals reach failure handling as they did before mautrix made the
// call: a 400 with an OAuth error is a refusal with its code, a 503 and a 429 are not, and an
// answer without an access token is an error that may pass.
func TestOAuthRefreshFailuresAreClassified(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		refusal bool
		code    string
	}{
		{"refused", http.StatusBadRequest, `{"error":"invalid_grant","error_description":"grant request is invalid"}`, true, "invalid_grant"},
		{"unavailable", http.StatusServiceUnavailable, `oops`, false, ""},
		{"rate limited", http.StatusTooManyRequests, `{"error":"slow_down"}`, false, ""},
		{"no access token", http.StatusOK, `{"token_type":"Bearer"}`, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, cur := oauthRefreshFlows(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			_, err := o.refresh(context.Background(), cur)
			if err == nil {
				t.Fatal("no error")
			}
			se, refused := clientError(err)
			if refused != tc.refusal || (refused && se.Code != tc.code) {
				t.Fatalf("%v: refusal %t (%+v), want %t with code %q", err, refused, se, tc.refusal, tc.code)
			}
		})
	}
}

// A session that names no OAuth client (and no oauth_client_id) cannot be refreshed anywhere:
// a refusal, not a failure to retry for ever.
func TestOAuthRefreshWithoutClientIsRefused(t *testing.T) {
	var metadataURL string
	o, cur := oauthRefreshFlows(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metadata" {
			t.Errorf("%s was called without a client", r.URL.Path)
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"issuer":"`+metadataURL+`","token_endpoint":"`+cur0(metadataURL)+`/token",`+
			`"authorization_endpoint":"`+cur0(metadataURL)+`/auth","response_types_supported":["code"],"code_challenge_methods_supported":["S256"]}`)
	})
	metadataURL = cur.OAuthTokenEndpoint[:len(cur.OAuthTokenEndpoint)-len("/token")] + "/metadata"
	o.bot.OAuthMetadataURL = metadataURL
	cur.OAuthClientID = ""
	_, err := o.refresh(context.Background(), cur)
	if _, refused := clientError(err); !refused || !errors.Is(err, errNoOAuthClient) {
		t.Fatalf("err %v: want the no-client refusal", err)
	}
}

// cur0 is the server's base URL, from its metadata URL.
func cur0(metadataURL string) string { return metadataURL[:len(metadataURL)-len("/metadata")] }
