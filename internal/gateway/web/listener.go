package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/matrix-onebot/gateway/internal/face"
)

// Server is the gateway's HTTP server: a handler behind connection caps and the timeouts of
// non-WebSocket requests (WebSocket connections have their own pings and write deadlines).
type Server struct {
	srv  *http.Server
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	open     int            // connections served
	byAddr   map[string]int // connections served and refusing, per IP address
	refusing atomic.Int64   // connections being answered with a refusal

	Refused atomic.Int64 // connections refused over a cap
}

// maxRefusing bounds the connections being answered with a refusal; past it they are closed
// without an answer, so a flood costs no more than that.
const maxRefusing = 64

// NewServer returns a server of handler with the listener options of opts; base is the context
// of every request (it ends WebSocket connections, which Shutdown does not close).
func NewServer(base context.Context, handler http.Handler, opts Options, log *slog.Logger) *Server {
	opts.SetDefaults()
	s := &Server{opts: opts, log: log, byAddr: map[string]int{}}
	s.srv = &http.Server{
		Handler:           s.wrap(handler),
		ReadHeaderTimeout: min(10*time.Second, opts.ReadTimeout),
		IdleTimeout:       opts.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if cc, ok := c.(*capConn); ok && cc.refusal != nil {
				return context.WithValue(ctx, refusalKey{}, cc.refusal)
			}
			return ctx
		},
	}
	return s
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(&capListener{Listener: ln, s: s}) }

// Shutdown stops accepting and waits for requests in progress until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Open returns the connections being served (not counting those being refused).
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

type refusalKey struct{}

// refusal is the answer to a connection over a cap.
type refusal struct {
	status int
	msg    string
}

// wrap answers refused connections, and sets the read and write deadlines of a non-WebSocket
// request (the server's own ReadTimeout would also cut WebSocket connections).
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ref, ok := r.Context().Value(refusalKey{}).(*refusal); ok {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "10")
			writeJSON(w, ref.status, map[string]string{"error": ref.msg})
			return
		}
		rc := http.NewResponseController(w)
		if IsUpgrade(r) {
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
		} else {
			now := time.Now()
			_ = rc.SetReadDeadline(now.Add(s.opts.ReadTimeout))
			_ = rc.SetWriteDeadline(now.Add(s.opts.WriteTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

// capListener counts connections, in all and per IP address; one over a cap is still accepted,
// to be answered 503 or 429 and closed.
type capListener struct {
	net.Listener
	s *Server
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if cc := l.s.admit(c); cc != nil {
			return cc, nil
		}
	}
}

// admit counts a new connection, or marks it for a refusal; nil = closed at once.
func (s *Server) admit(c net.Conn) *capConn {
	addr := addrKey(c.RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	var ref *refusal
	switch {
	case s.byAddr[addr] >= s.opts.MaxConnectionsPerAddr:
		ref = &refusal{http.StatusTooManyRequests, fmt.Sprintf("too many connections from %s (GATEWAY_MAX_CONNECTIONS_PER_ADDRESS is %d); close some and try again", addr, s.opts.MaxConnectionsPerAddr)}
	case s.open >= s.opts.MaxConnections:
		ref = &refusal{http.StatusServiceUnavailable, fmt.Sprintf("the gateway serves its maximum of %d connections (GATEWAY_MAX_CONNECTIONS); try again later", s.opts.MaxConnections)}
	}
	cc := &capConn{Conn: c, s: s, addr: addr, refusal: ref}
	if ref != nil {
		s.Refused.Add(1)
		if s.refusing.Add(1) > maxRefusing {
			s.refusing.Add(-1)
			_ = c.Close()
			return nil
		}
		// Only the request line and headers are read: a slow client gets no more time.
		_ = c.SetDeadline(time.Now().Add(min(5*time.Second, s.opts.ReadTimeout)))
		s.log.Debug("connection refused", "peer", c.RemoteAddr().String(), "status", ref.status)
	} else {
		s.open++
	}
	s.byAddr[addr]++
	return cc
}

func (s *Server) closed(c *capConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.refusal != nil {
		s.refusing.Add(-1)
	} else {
		s.open--
	}
	if s.byAddr[c.addr]--; s.byAddr[c.addr] <= 0 {
		delete(s.byAddr, c.addr)
	}
}

// addrKey is what the per-address cap counts: an IPv4 address, or the /64 of an IPv6 one (a
// single host commonly holds a whole /64).
func addrKey(a net.Addr) string {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	} else {
		return a.String()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().String()
	}
	return ip.String()
}

// capConn is a counted connection; it uncounts itself once when closed (also after a WebSocket
// hijacked it).
type capConn struct {
	net.Conn
	s       *Server
	addr    string
	refusal *refusal
	once    sync.Once
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.s.closed(c) })
	return err
}

// IsUpgrade reports whether r asks for a WebSocket.
func IsUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(face.MustJSON(v))
}

// truncate shortens s to n bytes and an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
