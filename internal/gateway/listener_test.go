package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
)

// serveForTest runs NewServer on a loopback port and returns its address.
func serveForTest(t *testing.T, handler http.Handler, opts web.Options) (*web.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := web.NewServer(context.Background(), handler, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
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

// A client that sends its body slowly (here: never finishes it) is cut off after the read
// timeout, also on the OAuth callback, which takes a body without a token.
func TestSlowBodyClosedAfterReadTimeout(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	h.opts.OAuthCallback = &OAuthCallback{Path: "/oauth/callback", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
		}
	})}
	h.guard.Callback = "/oauth/callback"
	_, addr := serveForTest(t, h.Handler(), web.Options{ReadTimeout: 300 * time.Millisecond})
	for _, req := range []string{
		"POST /oauth/callback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ncode=",
		"POST /onebot/v12/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + testToken + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"action\":",
		"POST /onebot/v12/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n", // headers never end
	} {
		c := dialTCP(t, addr)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, c, 10*time.Second)
	}
}

// A keep-alive connection without a next request is closed after the idle timeout.
func TestIdleKeepAliveClosed(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	_, addr := serveForTest(t, h.Handler(), web.Options{IdleTimeout: 300 * time.Millisecond})
	c := dialTCP(t, addr)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("first request: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	waitClosed(t, c, 10*time.Second)
}

// A WebSocket message that starts and then stalls is cut off after the read timeout (waiting
// between messages has no limit: pings keep the connection).
func TestSlowWebSocketMessageDropped(t *testing.T) {
	h := newWebTestHub(t, web.Options{ReadTimeout: 300 * time.Millisecond}, newTestFiles(t, 1<<20, nil))
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), http.Header{"Authorization": {"Bearer " + testToken}})
	readJSON(t, ctx, c)
	readJSON(t, ctx, c)
	// A whole message after an idle time longer than the timeout is answered.
	idle := time.NewTimer(600 * time.Millisecond)
	<-idle.C
	if err := c.Write(ctx, websocket.MessageText, v12Frame("get_version", map[string]any{}, "v")); err != nil {
		t.Fatal(err)
	}
	if m := readJSON(t, ctx, c); m["echo"] != "v" {
		t.Fatalf("after idling: %v", m)
	}
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	// A first fragment (large enough for the client library to send it now), then nothing.
	if _, err := w.Write([]byte(`{"action":"get_status","echo":"` + strings.Repeat("a", 64<<10))); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			t.Fatalf("the stalled message still holds the connection: %v", err)
		}
		break
	}
}
