package auth

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/config"
)

func idOf(s string) id.UserID { return id.UserID(s) }

func TestCheckRedirect(t *testing.T) {
	for _, tc := range []struct {
		query, code, err string
	}{
		{"code=abc&state=S", "abc", ""},
		{"code=abc&state=T", "", "state does not match"},
		{"code=abc", "", "state does not match"},
		{"error=access_denied&error_description=no&state=S", "", "refused: access_denied: no"},
		{"error=access_denied&state=X", "", "state does not match"},
		{"state=S", "", "no authorization code"},
	} {
		q, _ := url.ParseQuery(tc.query)
		code, err := checkRedirect(q, "S")
		if code != tc.code || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: got %q, %v; want %q, %q", tc.query, code, err, tc.code, tc.err)
		}
	}
}

func TestParsePasted(t *testing.T) {
	for _, tc := range []struct {
		in, code, err string
	}{
		{"https://app.example/cb?code=abc&state=S", "abc", ""},
		{"  https://app.example/cb#code=abc&state=S \n", "abc", ""},
		{"https://app.example/cb?code=abc&state=evil", "", "state does not match"},
		{"abc123", "abc123", ""},
		{"a b", "", "paste the whole"},
		{"", "", "paste the whole"},
	} {
		code, err := parsePasted(tc.in, "S", nil)
		if code != tc.code || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: got %q, %v; want %q, %q", tc.in, code, err, tc.code, tc.err)
		}
	}
}

func TestParseServerError(t *testing.T) {
	se := parseServerError("refresh", 401, []byte(`{"errcode":"M_UNKNOWN_TOKEN","error":"expired","soft_logout":true}`))
	if se.Code != "M_UNKNOWN_TOKEN" || !se.SoftLogout || se.Message != "expired" {
		t.Errorf("Matrix error read as %+v", se)
	}
	se = parseServerError("refresh", 400, []byte(`{"error":"invalid_grant","error_description":"gone"}`))
	if se.Code != "invalid_grant" || se.Message != "gone" || se.SoftLogout {
		t.Errorf("OAuth error read as %+v", se)
	}
	if _, refused := clientError(se); !refused {
		t.Error("a 400 is not a refusal")
	}
	if _, refused := clientError(parseServerError("x", 503, nil)); refused {
		t.Error("a 503 is a refusal")
	}
	if _, refused := clientError(parseServerError("x", 429, nil)); refused {
		t.Error("a 429 is a refusal")
	}
}

func TestMarginIsAtMostHalfTheLifetime(t *testing.T) {
	m, err := New(Options{Bot: config.Bot{Homeserver: "https://h", RefreshBeforeExpiryMS: 60000}, Store: &FileStore{Path: filepath.Join(t.TempDir(), "s")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.margin(Tokens{Lifetime: 3 * time.Second}); got != 1500*time.Millisecond {
		t.Errorf("margin for 3 s tokens = %v", got)
	}
	if got := m.margin(Tokens{Lifetime: time.Hour}); got != time.Minute {
		t.Errorf("margin for 1 h tokens = %v", got)
	}
	if got := m.margin(Tokens{}); got != time.Minute {
		t.Errorf("margin for tokens of unknown lifetime = %v", got)
	}
}

// The code flow's state is random and unguessable (mautrix's own state is not; PKCE itself is
// mautrix's now, proved against a real server by the e2e code-flow tests, whose oidc-provider
// requires it); device IDs are 10 upper-case letters or digits.
func TestStateAndDeviceID(t *testing.T) {
	s1, s2 := randomToken(16), randomToken(16)
	if len(s1) < 21 || s1 == s2 || strings.ContainsAny(s1, "+/=") {
		t.Errorf("states %q %q", s1, s2)
	}
	if d := newDeviceID(); len(d) != 10 || strings.ToUpper(string(d)) != string(d) {
		t.Errorf("device ID %q", d)
	}
}

func FuzzParsePasted(f *testing.F) {
	for _, s := range []string{"https://a/cb?code=x&state=S", "https://a/cb#code=x&state=S", "code", "%zz", "https://a/#%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, err := parsePasted(s, "S", nil)
		if err == nil && code == "" {
			t.Fatalf("%q gave no code and no error", s)
		}
	})
}

func FuzzParseServerError(f *testing.F) {
	f.Add([]byte(`{"errcode":"M_UNKNOWN_TOKEN","error":"x","soft_logout":true}`))
	f.Add([]byte(`{"error":{"nested":1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		se := parseServerError("op", 401, body)
		if len(se.Message) > 200 {
			t.Fatal("message not bounded")
		}
		_ = se.Error()
	})
}
