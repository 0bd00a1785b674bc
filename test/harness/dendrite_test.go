package harness_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/harness"
)

// Dendrite starts on loopback with shared-secret registration: a registered
// user has a token the server accepts, and logs in again with the password.
func TestDendriteRegistersAndLogsIn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
	defer cancel()
	hs, err := harness.StartDendrite(ctx, harness.DendriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hs.Stop)
	if hs.Kind() != "dendrite" {
		t.Fatalf("kind = %q", hs.Kind())
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice, err := hs.RegisterUser(ctx, "alice", "alicepass", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "@alice:" + hs.ServerName(); alice.UserID != want {
		t.Fatalf("user id = %q, want %q", alice.UserID, want)
	}
	cli, err := hs.Client(alice)
	if err != nil {
		t.Fatal(err)
	}
	who, err := cli.Whoami(ctx)
	if err != nil || string(who.UserID) != alice.UserID {
		t.Fatalf("whoami = %+v, %v", who, err)
	}
	again, err := hs.Login(ctx, "alice", "alicepass")
	if err != nil || again.DeviceID == alice.DeviceID {
		t.Fatalf("login = %+v, %v (want a new device)", again, err)
	}

	// What the README says differs on Dendrite, checked here so that the list stays true.
	t.Run("NoRefreshTokens", func(t *testing.T) {
		// A password login asking for a refresh token gets a non-expiring access token only.
		code, body := call(t, hs, http.MethodPost, "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"},
			"password": "alicepass", "refresh_token": true,
		})
		if code != http.StatusOK || body["access_token"] == nil || body["refresh_token"] != nil || body["expires_in_ms"] != nil {
			t.Fatalf("login with refresh_token: %d %v, want an access token without refresh_token/expires_in_ms", code, keys(body))
		}
		code, body = call(t, hs, http.MethodPost, "/_matrix/client/v3/refresh", "", map[string]any{"refresh_token": "x"})
		if code != http.StatusNotFound || body["errcode"] != "M_UNRECOGNIZED" {
			t.Fatalf("POST /v3/refresh: %d %v, want 404 M_UNRECOGNIZED", code, body)
		}
	})
	t.Run("NoOAuth", func(t *testing.T) {
		for _, path := range []string{"/_matrix/client/v1/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"} {
			if code, body := call(t, hs, http.MethodGet, path, "", nil); code != http.StatusNotFound {
				t.Fatalf("GET %s: %d %v, want 404", path, code, body)
			}
		}
	})
	t.Run("AuthenticatedMediaAndUploadLimit", func(t *testing.T) {
		code, body := call(t, hs, http.MethodGet, "/_matrix/client/versions", "", nil)
		features, _ := body["unstable_features"].(map[string]any)
		if code != http.StatusOK || features["org.matrix.msc3916.stable"] != true {
			t.Fatalf("versions: %d %v, want org.matrix.msc3916.stable (authenticated media)", code, body)
		}
		code, body = call(t, hs, http.MethodGet, "/_matrix/client/v1/media/config", alice.AccessToken, nil)
		if code != http.StatusOK || body["m.upload.size"] != float64(10<<20) {
			t.Fatalf("media config: %d %v, want m.upload.size 10 MiB", code, body)
		}
	})
	t.Run("NoWellKnownClient", func(t *testing.T) {
		if code, body := call(t, hs, http.MethodGet, "/.well-known/matrix/client", "", nil); code != http.StatusNotFound {
			t.Fatalf("GET /.well-known/matrix/client: %d %v, want 404", code, body)
		}
	})
}

// call sends a JSON request to hs and returns the status and the decoded JSON answer.
func call(t *testing.T, hs *harness.Homeserver, method, path, token string, in any) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, hs.URL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
