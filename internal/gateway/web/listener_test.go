package web

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/wait"
)

// serveForTest runs NewServer on a loopback port and returns its address.
func serveForTest(t *testing.T, handler http.Handler, opts Options) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(context.Background(), handler, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-done
	})
	return s, ln.Addr().String()
}

// waitClosed reads from c until the server closes it; it fails when that takes longer than
// limit, which is far beyond the timeout under test.
func waitClosed(t *testing.T, c net.Conn, limit time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %v (read %q)", limit, b)
	}
	return string(b)
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// One address may hold MaxConnectionsPerAddr connections; the next gets 429 and is closed, and
// once one closes, a new one is served. Over MaxConnections, 503.
func TestConnectionCaps(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	s, addr := serveForTest(t, ok, Options{MaxConnections: 3, MaxConnectionsPerAddr: 2})
	get := func(c net.Conn) *http.Response {
		t.Helper()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
		return resp
	}
	a, b := dialTCP(t, addr), dialTCP(t, addr)
	for _, c := range []net.Conn{a, b} {
		if resp := get(c); resp.StatusCode != http.StatusOK {
			t.Fatalf("connection within the cap: %d", resp.StatusCode)
		}
	}
	over := dialTCP(t, addr)
	resp := get(over)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "GATEWAY_MAX_CONNECTIONS_PER_ADDRESS") || !resp.Close {
		t.Fatalf("third connection from one address: %d %s (close %v), want 429 naming the variable", resp.StatusCode, body, resp.Close)
	}
	waitClosed(t, over, 10*time.Second)
	if s.Refused.Load() != 1 {
		t.Fatalf("Refused = %d, want 1", s.Refused.Load())
	}

	// Closing one makes room (the server notices the close when it reads).
	_ = a.Close()
	if !wait.Until(10*time.Second, func() bool { return s.Open() == 1 }) {
		t.Fatalf("the server still counts %d connections", s.Open())
	}
	if resp := get(dialTCP(t, addr)); resp.StatusCode != http.StatusOK {
		t.Fatalf("after a close: %d, want 200", resp.StatusCode)
	}

	// The process cap (3: b, the one after the close, and one more), from another loopback address.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	third, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	defer third.Close()
	if resp := get(third); resp.StatusCode != http.StatusOK {
		t.Fatalf("third connection of the process: %d, want 200", resp.StatusCode)
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp = get(c)
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "GATEWAY_MAX_CONNECTIONS") {
		t.Fatalf("fourth connection: %d %s, want 503", resp.StatusCode, body)
	}
}

// The per-address cap counts an IPv4 address, or the /64 of an IPv6 one.
func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5700":                  "192.0.2.7",
		"[::ffff:192.0.2.7]:5700":         "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:5700":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::9%eth0]:443": "2001:db8:1:2::/64",
		"[::1]:5700":                      "::/64",
	} {
		ap := netip.MustParseAddrPort(in)
		if got := addrKey(net.TCPAddrFromAddrPort(ap)); got != want {
			t.Errorf("addrKey(%s) = %s, want %s", in, got, want)
		}
	}
}
