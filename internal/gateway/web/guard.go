// Package web guards the gateway's HTTP listener: the cross-site guard (Origin, Host,
// Sec-Fetch-*: browsers may not call the OneBot endpoints, DNS rebinding), the listener's
// connection caps and request timeouts, the access log, and the comparison of access tokens.
// It knows HTTP, not the hub: what a token grants is the hub's business.
package web

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Options guard the HTTP listener against browsers and against clients that hold connections
// or memory (config.Web holds the variables behind them).
type Options struct {
	// AllowedOrigins are the browser origins (scheme://host[:port], lower case, no default port)
	// that may call the OneBot endpoints. None by default: bot frameworks send no Origin.
	AllowedOrigins []string
	// Hosts are the host names a request's Host may carry when no access token is set, besides
	// IP literals, localhost and *.localhost (which no DNS answer can rebind).
	Hosts []string
	// PublicHTTPS: GATEWAY_PUBLIC_URL is https (a TLS proxy in front), so browsers see the
	// gateway's origin as https (the admin page's same-origin check, its Secure cookie).
	PublicHTTPS bool

	// MaxActionSize is the largest request (WebSocket message or HTTP body) of an action that
	// carries no file; MaxUploadSize that of an action that may carry one in base64.
	MaxActionSize int64
	MaxUploadSize int64
	// MaxBytesInFlight bounds the request bytes the whole process holds while reading, decoding
	// and running actions; 0 = MaxUploadSize × 4.
	MaxBytesInFlight int64

	// The listener (server.go NewServer): timeouts of non-WebSocket requests and connection caps.
	ReadTimeout           time.Duration // headers and body; also the longest wait for bytes in flight
	WriteTimeout          time.Duration // handling and writing the response
	IdleTimeout           time.Duration // a keep-alive connection between requests
	MaxConnections        int           // open connections of the process
	MaxConnectionsPerAddr int           // open connections of one IP address
}

// Defaults of Options when unset (the config package has the same ones).
const (
	defaultMaxActionSize = 1 << 20
	defaultMaxUploadSize = 64 << 20
	// MaxCallbackBody is the largest body the OAuth callback takes.
	MaxCallbackBody = 64 << 10
)

// SetDefaults fills in what is unset.
func (o *Options) SetDefaults() {
	if o.MaxActionSize <= 0 {
		o.MaxActionSize = defaultMaxActionSize
	}
	if o.MaxUploadSize < o.MaxActionSize {
		o.MaxUploadSize = max(defaultMaxUploadSize, o.MaxActionSize)
	}
	if o.MaxBytesInFlight <= 0 {
		o.MaxBytesInFlight = 4 * o.MaxUploadSize
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 60 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Minute
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 512
	}
	if o.MaxConnectionsPerAddr <= 0 {
		o.MaxConnectionsPerAddr = min(64, o.MaxConnections)
	}
}

// routeKind says what a browser legitimately does at a path.
type routeKind int

const (
	// routeAPI: the OneBot endpoints, /healthz, /readyz, /openapi.yaml. No browser page calls
	// them unless its origin is in AllowedOrigins; only the operator typing a URL (Sec-Fetch-Site
	// none) or the gateway's own pages (same-origin) may navigate to them.
	routeAPI routeKind = iota
	// routeMedia: /media/{id} links are signed and meant to be embedded and fetched by any page
	// (an <img> in a chat web UI): cross-site is fine. They are served sandboxed, so a file
	// cannot run script in the gateway's origin.
	routeMedia
	// routeCallback: the OAuth redirect IS a top-level navigation from the authorization server
	// (cross-site, Sec-Fetch-Mode navigate; a form_post even carries that server's Origin). A
	// cross-site request that is not a navigation (fetch, <img>, <iframe>) is refused; the body
	// is small.
	routeCallback
	// routeAdmin: the admin page (internal/admin) posts forms to itself. A request from the
	// page itself (Sec-Fetch-Site same-origin, or an Origin equal to the gateway's own) or the
	// operator typing the URL (none) passes; any other site is refused, even with
	// GATEWAY_ALLOWED_ORIGINS (those are for OneBot web clients, not for managing the gateway).
	routeAdmin
)

// Guard is the cross-site middleware: it refuses browser requests that no operator made, before
// the access token is looked at (so it holds without a token, too). Bot frameworks send no
// Origin and no Sec-Fetch-* headers, so they pass. Three attacks are closed:
//   - a page opening the forward WebSocket (browsers always send Origin on it),
//   - a page firing GET/POST actions (CSRF: Sec-Fetch-Site cross-site or same-site, or an Origin
//     or Referer of another origin; browsers send Origin with every POST),
//   - DNS rebinding, a page whose name resolves to 127.0.0.1 reading answers: without an access
//     token the Host must be one of the gateway's names.
type Guard struct {
	Opts     Options
	TokenSet func() bool // whether requests must carry an access token
	Callback string      // path of the OAuth callback, "" = none
	Refused  func()      // counts a refusal
	LogWarn  func(msg string, args ...any)
	Now      func() time.Time // the clock of the refusal log (nil: time.Now)
	refusals refusalLog
}

func (g *Guard) kind(path string) routeKind {
	switch {
	case strings.HasPrefix(path, "/media/"):
		return routeMedia
	case g.Callback != "" && path == g.Callback:
		return routeCallback
	case path == "/admin" || strings.HasPrefix(path, "/admin/"):
		return routeAdmin
	}
	return routeAPI
}

// Middleware refuses what check refuses (403) and sets the headers of each kind of route.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := g.check(r); msg != "" {
			g.Refused()
			g.warn(msg, r) // refusals.go
			writeJSON(w, http.StatusForbidden, map[string]string{"error": msg})
			return
		}
		switch g.kind(r.URL.Path) {
		case routeMedia:
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'")
			w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		case routeCallback:
			if r.Body != nil {
				r.Body = http.MaxBytesReader(w, r.Body, MaxCallbackBody)
			}
			w.Header().Set("X-Frame-Options", "DENY")
			w.Header().Set("Referrer-Policy", "no-referrer")
		case routeAdmin:
			w.Header().Set("X-Frame-Options", "DENY")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Referrer-Policy", "same-origin")
			w.Header().Set("Cross-Origin-Resource-Policy", "same-origin")
		case routeAPI:
			if o := r.Header.Get("Origin"); o != "" { // allowed, or check refused it
				w.Header().Set("Access-Control-Allow-Origin", o)
				w.Header().Add("Vary", "Origin")
				if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
					w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
					w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
					w.Header().Set("Access-Control-Max-Age", "600")
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// check returns why a request is refused, or "".
func (g *Guard) check(r *http.Request) string {
	if !g.TokenSet() && !g.knownHost(r.Host) {
		return "Host " + quoteShort(r.Host) + " is not a name of this gateway, and no access token is set, so the request was refused (DNS rebinding); " +
			"set GATEWAY_PUBLIC_URL to the URL clients use, or set GATEWAY_ACCESS_TOKEN"
	}
	kind := g.kind(r.URL.Path)
	if kind == routeMedia {
		return ""
	}
	origin, site := r.Header.Get("Origin"), strings.ToLower(r.Header.Get("Sec-Fetch-Site"))
	if kind == routeCallback {
		if (site == "cross-site" || site == "same-site") && !strings.EqualFold(r.Header.Get("Sec-Fetch-Mode"), "navigate") {
			return "the OAuth callback takes only the browser's navigation from the authorization server, not a request made by a page"
		}
		return ""
	}
	if kind == routeAdmin {
		return g.checkAdmin(r, origin, site)
	}
	if origin != "" {
		if !slices.Contains(g.Opts.AllowedOrigins, origin) {
			return "a browser page at " + quoteShort(origin) + " may not call the gateway, so the request was refused; " +
				"to allow a web client there, add its origin to GATEWAY_ALLOWED_ORIGINS"
		}
		return ""
	}
	switch site {
	case "cross-site", "same-site":
		return "a request a browser made for another site (Sec-Fetch-Site: " + site + ") was refused; bot frameworks send no such header"
	case "":
		// An older browser sends no Sec-Fetch-Site: the Referer of another page gives it away.
		if ref := r.Header.Get("Referer"); ref != "" {
			if u, err := url.Parse(ref); err == nil && u.Host != "" && !strings.EqualFold(u.Host, r.Host) &&
				!slices.Contains(g.Opts.AllowedOrigins, strings.ToLower(u.Scheme+"://"+u.Host)) {
				return "a request from the page " + quoteShort(u.Scheme+"://"+u.Host) + " (Referer) was refused; " +
					"to allow a web client there, add its origin to GATEWAY_ALLOWED_ORIGINS"
			}
		}
	}
	return ""
}

// checkAdmin lets through the admin page's own requests and the operator's navigation only.
func (g *Guard) checkAdmin(r *http.Request, origin, site string) string {
	const refused = "the admin page takes requests from its own pages only; a request from another site was refused"
	switch site {
	case "", "same-origin", "none":
	default:
		return refused + " (Sec-Fetch-Site: " + site + ")"
	}
	if origin != "" && !strings.EqualFold(origin, g.ownOrigin(r)) {
		return refused + " (Origin " + quoteShort(origin) + ")"
	}
	if origin == "" && site == "" {
		if ref := r.Header.Get("Referer"); ref != "" {
			if u, err := url.Parse(ref); err != nil || !strings.EqualFold(u.Host, r.Host) {
				return refused + " (Referer)"
			}
		}
	}
	return ""
}

// ownOrigin is the gateway's origin as the browser sees it: the request's Host, with https
// when the connection is TLS or GATEWAY_PUBLIC_URL is https (a TLS proxy in front).
func (g *Guard) ownOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || g.Opts.PublicHTTPS {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host)
}

// KnownHost reports whether host (a Host header, with or without port) names this gateway: an IP
// literal, localhost or *.localhost, or one of Options.Hosts (which no DNS answer can rebind to
// another site's page).
func (g *Guard) KnownHost(host string) bool { return g.knownHost(host) }

// knownHost reports whether host (a Host header, with or without port) names this gateway.
func (g *Guard) knownHost(host string) bool {
	if host == "" {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.ToLower(strings.Trim(name, "[]")), ".")
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	return slices.Contains(g.Opts.Hosts, name)
}

func quoteShort(s string) string {
	return `"` + truncate(strings.ToValidUTF8(s, "?"), 100) + `"`
}

// OriginHosts returns the host[:port] of each allowed origin, for the WebSocket library's own
// origin check (which the guard has already made stricter).
func OriginHosts(origins []string) []string {
	var hosts []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil {
			hosts = append(hosts, u.Host)
		}
	}
	return hosts
}
