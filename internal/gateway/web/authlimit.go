package web

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Failed authentications are bounded per client address: after AuthFailLimit wrong tokens from
// one address (an IPv4 address, or the /64 of an IPv6 one) within AuthFailWindow, that address
// is refused (HTTP 429, a WebSocket before its upgrade) until the window ends, whatever token it
// sends, so that tokens cannot be guessed at line rate. Other addresses are never refused for
// it (no global limit an attacker could fill to lock out legitimate clients).
const (
	AuthFailLimit  = 10
	AuthFailWindow = time.Minute
	maxAuthPeers   = 100_000 // addresses tracked at once; beyond, new ones are not tracked
)

// AuthLimiter counts failed authentications per address, for every face of the process.
type AuthLimiter struct {
	Limit  int
	Window time.Duration
	Log    *slog.Logger
	Now    func() time.Time

	mu sync.Mutex
	by map[string]*authFails

	Failures atomic.Int64 // wrong tokens presented
	Refused  atomic.Int64 // requests refused because their address failed too often
}

type authFails struct {
	start  time.Time
	n      int
	logged bool
}

// NewAuthLimiter returns a limiter of AuthFailLimit failures per AuthFailWindow.
func NewAuthLimiter(log *slog.Logger) *AuthLimiter {
	if log == nil {
		log = slog.Default()
	}
	return &AuthLimiter{Limit: AuthFailLimit, Window: AuthFailWindow, Log: log, Now: time.Now, by: map[string]*authFails{}}
}

// Allowed reports whether a request from remoteAddr (http.Request.RemoteAddr) may try to
// authenticate; false counts it refused.
func (a *AuthLimiter) Allowed(remoteAddr string) bool {
	key, now := peerKey(remoteAddr), a.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.by[key]
	if e == nil || now.Sub(e.start) >= a.Window {
		return true
	}
	if e.n >= a.Limit {
		a.Refused.Add(1)
		return false
	}
	return true
}

// Failed counts a wrong token from remoteAddr on face; the first time an address reaches the
// limit in a window is logged (once per window, whatever it sends after).
func (a *AuthLimiter) Failed(face, remoteAddr string) {
	a.Failures.Add(1)
	key, now := peerKey(remoteAddr), a.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.by[key]
	if e == nil || now.Sub(e.start) >= a.Window {
		if e == nil && len(a.by) >= maxAuthPeers {
			for k, old := range a.by {
				if now.Sub(old.start) >= a.Window {
					delete(a.by, k)
				}
			}
			if len(a.by) >= maxAuthPeers {
				return
			}
		}
		e = &authFails{start: now}
		a.by[key] = e
	}
	e.n++
	if e.n >= a.Limit && !e.logged {
		e.logged = true
		a.Log.Warn("too many wrong access tokens from one address: it is refused until the window ends",
			"face", face, "peer", key, "failures", e.n, "window", a.Window)
	}
}

// RetryAfter is the Retry-After (seconds) of a refusal.
func (a *AuthLimiter) RetryAfter() int { return int(a.Window.Seconds()) }

// peerKey is the address a limit counts: as addrKey, from a RemoteAddr string.
func peerKey(remoteAddr string) string {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return addrKey(net.TCPAddrFromAddrPort(ap))
	}
	if ip, err := netip.ParseAddr(remoteAddr); err == nil {
		return addrKey(net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	}
	return remoteAddr
}
