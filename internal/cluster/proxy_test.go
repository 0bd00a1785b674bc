package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A request for a bot another gateway runs goes there, with its body whole and marked as sent
// on; one already sent on, or for a bot run here or by nobody, is served here.
func TestProxySendsRequestsToTheOwner(t *testing.T) {
	var gotBody, gotMark string
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotMark = string(b), r.Header.Get(proxiedHeader)
		_, _ = io.WriteString(w, "owner")
	}))
	defer owner.Close()
	p := &Proxy{
		Local: func(bot string) bool { return bot == "@here:x" },
		V11User: func(_ context.Context, n int64) (string, error) {
			if n == 7 {
				return "@there:x", nil
			}
			return "", errors.New("unknown")
		},
		Owner: func(_ context.Context, bot string) (string, bool) { return owner.URL, bot == "@there:x" },
	}
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "local") }))
	do := func(method, path, body string, proxied bool) string {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if proxied {
			req.Header.Set(proxiedHeader, "1")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Body.String()
	}
	action := `{"action": "get_self_info", "params": {}, "self": {"platform": "matrix", "user_id": "@there:x"}}`
	if got := do(http.MethodPost, "/onebot/v12/", action, false); got != "owner" || gotBody != action || gotMark != "1" {
		t.Fatalf("v12 action for another gateway's bot: answered by %q, body %q, mark %q", got, gotBody, gotMark)
	}
	if got := do(http.MethodPost, "/onebot/v12/", action, true); got != "local" {
		t.Fatalf("a request already sent on was sent on again (%q)", got)
	}
	if got := do(http.MethodPost, "/onebot/v11/7/get_login_info", "{}", false); got != "owner" {
		t.Fatalf("v11 action for another gateway's bot: answered by %q", got)
	}
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/onebot/v12/", strings.Replace(action, "@there:x", "@here:x", 1)},
		{http.MethodPost, "/onebot/v12/", strings.Replace(action, "@there:x", "@nobody:x", 1)},
		{http.MethodPost, "/onebot/v12/", "not json"},
		{http.MethodPost, "/onebot/v11/8/get_login_info", "{}"},
		{http.MethodGet, "/onebot/v11/send_msg", ""},
	} {
		if got := do(c.method, c.path, c.body, false); got != "local" {
			t.Errorf("%s %s %q: answered by %q, want here", c.method, c.path, c.body, got)
		}
	}
}

// Whatever body a client sends, finding the bot it names never fails and leaves the body whole
// for the handler.
func FuzzProxyBotOf(f *testing.F) {
	f.Add([]byte(`{"action": "x", "self": {"platform": "matrix", "user_id": "@a:b"}}`))
	f.Add([]byte(`{"self": 5}`))
	f.Add([]byte("\x00\xff"))
	p := &Proxy{}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/onebot/v12/", bytes.NewReader(body))
		_ = p.botOf(req)
		rest, _ := io.ReadAll(req.Body)
		if !bytes.Equal(rest, body) {
			t.Fatalf("the body changed: %q → %q", body, rest)
		}
	})
}

// The owner judges a proxied request as if the client had come to it: the Host the client sent
// reaches the owner (its guard refuses names that are not the gateway's when no access token is
// set — DNS rebinding — and compares Origin with it), not the owner's own address, which the
// owner would always take for one of its names.
func TestProxyKeepsTheClientsHost(t *testing.T) {
	var gotHost, gotOrigin string
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotOrigin = r.Host, r.Header.Get("Origin")
		_, _ = io.WriteString(w, "owner")
	}))
	defer owner.Close()
	p := &Proxy{
		Local:   func(string) bool { return false },
		V11User: func(context.Context, int64) (string, error) { return "@there:x", nil },
		Owner:   func(context.Context, string) (string, bool) { return owner.URL, true },
	}
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "local") }))
	req := httptest.NewRequest(http.MethodGet, "http://rebound.evil.example/onebot/v11/7/get_login_info", nil)
	req.Header.Set("Origin", "http://rebound.evil.example")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Body.String() != "owner" {
		t.Fatalf("answered by %q, want the owner", rec.Body.String())
	}
	if gotHost != "rebound.evil.example" || gotOrigin != "http://rebound.evil.example" {
		t.Fatalf("the owner saw Host %q and Origin %q, want the client's rebound.evil.example", gotHost, gotOrigin)
	}
}
