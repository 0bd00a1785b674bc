package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/internal/gateway/web"
)

// Wrong access tokens on the OneBot face are bounded per client address, as on the Satori face
// (one web.AuthLimiter for both): after web.AuthFailLimit of them within the window, the address
// gets 429 with Retry-After whatever token it sends, its forward WebSocket too; another address
// is served, and so is another client that a cluster gateway sends on (X-Gateway-Proxied: its
// address is the last X-Forwarded-For one). Both are counted in /metrics. Before, wrong tokens
// were answered 403 for ever.
func TestHTTPWrongTokensLimitedPerAddress(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	body := `{"action":"get_version"}`
	wrong := map[string]string{"Authorization": "Bearer guess"}
	for i := range web.AuthFailLimit {
		if code, _ := post(t, srv, "/onebot/v12/", body, wrong); code != http.StatusForbidden {
			t.Fatalf("wrong token %d: %d, want 403", i+1, code)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/onebot/v12/", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" {
		t.Fatalf("the right token after %d wrong ones: %d (Retry-After %q), want 429 with Retry-After 60", web.AuthFailLimit, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, wsResp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/onebot/v12/",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testToken}}})
	if err == nil {
		_ = c.CloseNow()
		t.Fatal("the forward WebSocket upgraded for an address over the limit")
	}
	if wsResp == nil || wsResp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the forward WebSocket for an address over the limit: %v %v, want 429", wsResp, err)
	}

	serve := func(remote string, hdr map[string]string) int {
		req := httptest.NewRequest(http.MethodPost, "/onebot/v12/", strings.NewReader(body))
		req.RemoteAddr = remote
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	if code := serve("192.0.2.9:5000", bearer); code != http.StatusOK {
		t.Errorf("a client on another address: %d, want 200", code)
	}
	// Sent on by a cluster gateway at 198.51.100.1 (its mark made with the cluster's key): one
	// client guessing through it is refused, the gateway's other clients are not.
	key := []byte("the cluster's key")
	h.AuthLimiter().TrustProxies(key)
	via := func(client, token string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + token, web.ProxiedHeader: web.ProxyMark(key, client), "X-Forwarded-For": client}
	}
	for i := range web.AuthFailLimit {
		if code := serve("198.51.100.1:7000", via("203.0.113.5", "guess")); code != http.StatusForbidden {
			t.Fatalf("proxied wrong token %d: %d, want 403", i+1, code)
		}
	}
	if code := serve("198.51.100.1:7000", via("203.0.113.5", testToken)); code != http.StatusTooManyRequests {
		t.Errorf("the proxied client over the limit: %d, want 429", code)
	}
	if code := serve("198.51.100.1:7000", via("203.0.113.6", testToken)); code != http.StatusOK {
		t.Errorf("another client of the same cluster gateway: %d, want 200", code)
	}

	req = httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.RemoteAddr = "192.0.2.9:5001"
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	h.Handler().ServeHTTP(rec, req)
	for _, want := range []string{
		`onebot_gateway_auth_failures_total 20`,
		`onebot_gateway_http_refused_total{reason="auth_limited"} 3`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(rec.Body.String(), "auth"))
		}
	}
}

// Many clients guessing tokens through one cluster gateway do not lock out its other clients on
// the owner: each proxied client is limited by its own address (the owner trusts the address the
// cluster gateway forwards, because the gateway's mark proves it is a cluster peer), not the
// gateway as a whole. Before, the gateway's address had a bucket of 10 times the limit, which 10
// or more attackers filled for everybody it sends on.
func TestProxiedGuessersDoNotLockOutTheGatewaysOtherClients(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	key := []byte("the cluster's key")
	h.AuthLimiter().TrustProxies(key)
	mark := func(client string) string { return web.ProxyMark(key, client) }
	serve := func(client, token string) int {
		req := httptest.NewRequest(http.MethodPost, "/onebot/v12/", strings.NewReader(`{"action":"get_version"}`))
		req.RemoteAddr = "198.51.100.1:7000" // the cluster gateway
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set(web.ProxiedHeader, mark(client))
		req.Header.Set("X-Forwarded-For", client)
		rec := httptest.NewRecorder()
		h.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	for a := range 15 {
		attacker := fmt.Sprintf("203.0.113.%d", a+1)
		for range web.AuthFailLimit {
			serve(attacker, "guess")
		}
		if code := serve(attacker, testToken); code != http.StatusTooManyRequests {
			t.Fatalf("attacker %s after %d wrong tokens: %d, want 429", attacker, web.AuthFailLimit, code)
		}
	}
	if code := serve("203.0.113.200", testToken); code != http.StatusOK {
		t.Fatalf("another client of the cluster gateway, after 15 guessers: %d, want 200", code)
	}
}
