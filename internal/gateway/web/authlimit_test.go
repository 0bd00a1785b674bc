package web

import (
	"log/slog"
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
}
