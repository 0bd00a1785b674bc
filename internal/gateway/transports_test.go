package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/gateway/web"
)

// The hub owns its transports: endpoints of any kind are started with one call, run under its
// errgroup until the context of ServeTransports ends (the listener until its server shuts down),
// and WaitTransports tells when every one has ended.
func TestHubOwnsItsTransports(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	peer := newReversePeer(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	h.ServeTransports(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := web.NewServer(ctx, h.Handler(), h.opts.Web, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.Start(Listener{Server: srv, Listener: ln}, ReverseWS{URL: peer.url(), Version: 12})

	conn := peer.next(t)
	if m := conn.read(t); m["detail_type"] != "connect" {
		t.Fatalf("first frame %v, want connect", m)
	}
	drain(conn)
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("listener: %v %v", resp, err)
	}
	resp.Body.Close()
	if ended, _ := h.WaitTransports(time.Now()); ended {
		t.Fatal("the transports ended while the hub serves")
	}

	// A bot's endpoints end with the bot (StartUntil), the others keep running.
	botPeer := newReversePeer(t)
	botCtx, removeBot := context.WithCancel(ctx)
	var started Started
	h.StartUntil(botCtx, &started, ReverseWS{URL: botPeer.url(), Version: 12, Bot: "@bot:example.org"})
	botConn := botPeer.next(t)
	if m := botConn.read(t); m["detail_type"] != "connect" {
		t.Fatalf("first frame %v, want connect", m)
	}
	drain(botConn)
	if started.Wait(time.Now()) {
		t.Fatal("the bot's endpoint ended while the bot runs")
	}
	removeBot()
	if !started.Wait(time.Now().Add(10 * time.Second)) {
		t.Fatal("the bot's endpoint still runs after the bot was removed")
	}
	if ended, _ := h.WaitTransports(time.Now()); ended {
		t.Fatal("the other transports ended with the bot's")
	}

	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if ended, err := h.WaitTransports(time.Now().Add(10 * time.Second)); !ended || err != nil {
		t.Fatalf("transports still running after the stop (ended %t, %v)", ended, err)
	}
}

// drain reads a peer's connection until it ends, so that the gateway's close is answered.
func drain(pc *peerConn) {
	go func() {
		for {
			if _, _, err := pc.c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
}
