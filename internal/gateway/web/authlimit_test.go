package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The limit counts an IPv4 address, or the /64 of an IPv6 one (one host commonly holds a whole
// /64, so rotating within it gains nothing); addresses elsewhere are not limited by it.
func TestAuthLimiterPerAddress(t *testing.T) {
	now := time.Unix(1000, 0)
	a := NewAuthLimiter(slog.New(slog.DiscardHandler))
	a.Now = func() time.Time { return now }
	for i := range AuthFailLimit {
		a.Failed("onebot", []string{"[2001:db8:1:2::1]:1000", "[2001:db8:1:2::ffff]:2000"}[i%2])
	}
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"[2001:db8:1:2::abcd]:3000", false},
		{"[2001:db8:1:3::1]:3000", true},
		{"192.0.2.1:1", true},
		{"[::ffff:192.0.2.1]:1", true},
	} {
		if got := a.Allowed(c.addr); got != c.want {
			t.Errorf("Allowed(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
	for range AuthFailLimit - 1 {
		a.Failed("satori", "192.0.2.1:1")
	}
	if !a.Allowed("[::ffff:192.0.2.1]:5") {
		t.Error("refused before the limit")
	}
	a.Failed("satori", "192.0.2.1:2")
	if a.Allowed("[::ffff:192.0.2.1]:5") {
		t.Error("an IPv4-mapped address escapes the limit of its IPv4 address")
	}
	now = now.Add(AuthFailWindow)
	if !a.Allowed("192.0.2.1:1") || !a.Allowed("[2001:db8:1:2::1]:1") {
		t.Error("still refused once the window passed")
	}

	// A client that forges the cluster mark (or sends a gateway's mark for another client) gains
	// nothing by rotating X-Forwarded-For: its own address is counted.
	a.TrustProxies([]byte("the cluster's key"))
	forged := 0
	for i := range 1000 {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = "198.51.100.77:1"
		client := fmt.Sprintf("10.0.%d.%d", i/250, i%250)
		r.Header.Set(ProxiedHeader, []string{"1", ProxyMark([]byte("the cluster's key"), "10.9.9.9"), ProxyMark([]byte("another key"), client)}[i%3])
		r.Header.Set("X-Forwarded-For", client)
		if !a.AllowedRequest(r) {
			break
		}
		forged++
		a.FailedRequest("onebot", r)
	}
	if forged != AuthFailLimit {
		t.Errorf("a client forging the cluster mark tried %d tokens, want %d", forged, AuthFailLimit)
	}
}

// A request a cluster peer sent on with a right mark counts against the client it names (the
// last X-Forwarded-For address), so the peer's other clients are not held back; without
// TrustProxies no mark is trusted.
func TestAuthLimiterTrustsOnlyTheClustersMark(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a := NewAuthLimiter(slog.New(slog.DiscardHandler))
	a.Now = func() time.Time { return now }
	key := []byte("the cluster's key")
	req := func(client string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = "198.51.100.1:7000"
		r.Header.Set(ProxiedHeader, ProxyMark(key, client))
		r.Header.Add("X-Forwarded-For", "192.0.2.250, "+client) // what the client sent, then the gateway's entry
		return r
	}
	for range AuthFailLimit {
		a.FailedRequest("onebot", req("203.0.113.5"))
	}
	if a.AllowedRequest(req("203.0.113.6")) {
		t.Fatal("without TrustProxies a marked request counts against the gateway's address: the other client must be refused")
	}
	a = NewAuthLimiter(slog.New(slog.DiscardHandler))
	a.Now = func() time.Time { return now }
	a.TrustProxies(key)
	for range 3 * AuthFailLimit {
		a.FailedRequest("onebot", req("203.0.113.5"))
	}
	if a.AllowedRequest(req("203.0.113.5")) {
		t.Error("the proxied client over the limit is allowed")
	}
	if !a.AllowedRequest(req("203.0.113.6")) {
		t.Error("another client of the same cluster gateway is refused")
	}
	if !a.Allowed("198.51.100.1:1") {
		t.Error("the cluster gateway's own address is refused for its clients' failures")
	}
}
