package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
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

	mu       sync.Mutex
	by       map[string]*authFails
	proxyKey []byte // TrustProxies

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
	return a.allowed(limitKey{peerKey(remoteAddr), a.Limit})
}

// Failed counts a wrong token from remoteAddr on face; the first time an address reaches the
// limit in a window is logged (once per window, whatever it sends after).
func (a *AuthLimiter) Failed(face, remoteAddr string) {
	a.failed(face, limitKey{peerKey(remoteAddr), a.Limit})
}

// ProxiedHeader marks a request another gateway of a cluster sent on (internal/cluster). Its
// value is ProxyMark: a MAC, under the key the gateways of the cluster share, of the client's
// address that the sending gateway put last in X-Forwarded-For.
const ProxiedHeader = "X-Gateway-Proxied"

// ProxyMark is the ProxiedHeader value of a request sent on for client (ForwardedClient of the
// request as sent) under the cluster's key. A mark made for one client address is worth nothing
// for another, so a copy seen on the wire only speaks for the client it was made for.
func ProxyMark(key []byte, client string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("X-Gateway-Proxied\x00" + client))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// ForwardedClient is the last address of the last X-Forwarded-For header of h: the client's, as
// the gateway that sent the request on saw it ("" when there is none).
func ForwardedClient(h http.Header) string {
	fwd := h.Values("X-Forwarded-For")
	if len(fwd) == 0 {
		return ""
	}
	list := strings.Split(fwd[len(fwd)-1], ",")
	return strings.TrimSpace(list[len(list)-1])
}

// TrustProxies makes the limiter count a request that carries a right ProxyMark under key (a
// cluster peer sent it on) against the client's address it names, instead of the peer's (every
// client of that gateway would then share one count). A request whose mark is wrong, or any
// marked request before TrustProxies, counts against its own address as any other. Call it
// before the gateway serves.
func (a *AuthLimiter) TrustProxies(key []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.proxyKey = slices.Clone(key)
}

// requestKeys are what a request counts against: its address; for a request a cluster peer
// sent on (a right ProxyMark), the client's address behind it.
func (a *AuthLimiter) requestKeys(r *http.Request) []limitKey {
	peer := peerKey(r.RemoteAddr)
	mark := r.Header.Get(ProxiedHeader)
	if mark == "" {
		return []limitKey{{peer, a.Limit}}
	}
	a.mu.Lock()
	key := a.proxyKey
	a.mu.Unlock()
	client := ForwardedClient(r.Header)
	if key == nil || client == "" || !hmac.Equal([]byte(mark), []byte(ProxyMark(key, client))) {
		return []limitKey{{peer, a.Limit}}
	}
	return []limitKey{{peerKey(client), a.Limit}}
}

// AllowedRequest is Allowed for the client of r (requestKeys).
func (a *AuthLimiter) AllowedRequest(r *http.Request) bool { return a.allowed(a.requestKeys(r)...) }

// FailedRequest is Failed for the client of r (requestKeys).
func (a *AuthLimiter) FailedRequest(face string, r *http.Request) {
	a.failed(face, a.requestKeys(r)...)
}

type limitKey struct {
	key   string
	limit int
}

func (a *AuthLimiter) allowed(keys ...limitKey) bool {
	now := a.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range keys {
		if e := a.by[k.key]; e != nil && now.Sub(e.start) < a.Window && e.n >= k.limit {
			a.Refused.Add(1)
			return false
		}
	}
	return true
}

func (a *AuthLimiter) failed(face string, keys ...limitKey) {
	a.Failures.Add(1)
	now := a.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range keys {
		e := a.by[k.key]
		if e == nil || now.Sub(e.start) >= a.Window {
			if e == nil && len(a.by) >= maxAuthPeers {
				for key, old := range a.by {
					if now.Sub(old.start) >= a.Window {
						delete(a.by, key)
					}
				}
				if len(a.by) >= maxAuthPeers {
					continue
				}
			}
			e = &authFails{start: now}
			a.by[k.key] = e
		}
		e.n++
		if e.n >= k.limit && !e.logged {
			e.logged = true
			a.Log.Warn("too many wrong access tokens from one address: it is refused until the window ends",
				"face", face, "peer", k.key, "failures", e.n, "window", a.Window)
		}
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
