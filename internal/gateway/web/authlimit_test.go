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

	// A client that forges the cluster mark gains at most 10 times the limit by rotating
	// X-Forwarded-For: its own address is counted as a gateway.
	forged := 0
	for i := range 1000 {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = "198.51.100.77:1"
		r.Header.Set(ProxiedHeader, "1")
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("10.0.%d.%d", i/250, i%250))
		if !a.AllowedRequest(r) {
			break
		}
		forged++
		a.FailedRequest("onebot", r)
	}
	if forged != proxiedFactor*AuthFailLimit {
		t.Errorf("a client forging the cluster mark tried %d tokens, want %d", forged, proxiedFactor*AuthFailLimit)
	}
}
