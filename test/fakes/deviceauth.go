package fakes

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FakeDeviceAuthServer is a thin stand-in for the two endpoints of an OAuth 2.0 device
// authorization grant (RFC 8628): the device authorization endpoint and the token endpoint. It
// exists because the real OAuth server of the tests (oidc-provider) never answers slow_down and
// always sends no interval; everything else about OAuth is tested against that real server.
//
// The token endpoint answers the scripted OAuth error codes in order (authorization_pending,
// slow_down, …; "HTTP 503" answers that status without an OAuth error, "DROP" closes the
// connection without an answer), then an access token.
type FakeDeviceAuthServer struct {
	Server *httptest.Server
	// DeviceEndpoint and TokenEndpoint are the endpoints' URLs.
	DeviceEndpoint, TokenEndpoint string

	mu       sync.Mutex
	interval int64 // the device authorization's interval; 0 = not sent
	answers  []string
	polls    int
}

// NewFakeDeviceAuthServer starts the fake; interval is the "interval" it announces (0: none).
// It is closed when the test ends.
func NewFakeDeviceAuthServer(t testing.TB, interval int64, answers ...string) *FakeDeviceAuthServer {
	t.Helper()
	f := &FakeDeviceAuthServer{interval: interval, answers: answers}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /device", func(w http.ResponseWriter, _ *http.Request) {
		body := map[string]any{
			"device_code": "fake-device-code", "user_code": "FAKE-CODE",
			"verification_uri": f.Server.URL + "/activate", "expires_in": 600,
		}
		if f.interval > 0 {
			body["interval"] = f.interval
		}
		writeJSON(w, http.StatusOK, body)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.polls++
		if r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || r.FormValue("device_code") != "fake-device-code" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant"})
			return
		}
		if len(f.answers) > 0 {
			code := f.answers[0]
			f.answers = f.answers[1:]
			if status, ok := strings.CutPrefix(code, "HTTP "); ok {
				n, _ := strconv.Atoi(status)
				writeJSON(w, n, map[string]any{})
				return
			}
			if code == "DROP" {
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					_ = conn.Close()
				}
				return
			}
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": code})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": "fake-access-token", "token_type": "Bearer", "expires_in": 300, "refresh_token": "fake-refresh-token"})
	})
	f.Server = httptest.NewServer(mux)
	f.DeviceEndpoint, f.TokenEndpoint = f.Server.URL+"/device", f.Server.URL+"/token"
	t.Cleanup(f.Server.Close)
	return f
}

// Polls is how many token requests arrived.
func (f *FakeDeviceAuthServer) Polls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.polls
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
