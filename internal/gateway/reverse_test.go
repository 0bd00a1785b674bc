package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// reversePeer is an httptest WebSocket server standing in for a OneBot client that the gateway
// dials. Each accepted connection is handed to the test, which decides what to do with it.
type reversePeer struct {
	srv     *httptest.Server
	conns   chan *peerConn
	live    atomic.Int32 // connections open now
	maxLive atomic.Int32 // most connections open at once
	refuse  atomic.Bool  // answer 503 instead of upgrading
}

type peerConn struct {
	c      *websocket.Conn
	header http.Header
	closed chan struct{}
	peer   *reversePeer
}

func newReversePeer(t *testing.T) *reversePeer {
	t.Helper()
	p := &reversePeer{conns: make(chan *peerConn, 16)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.refuse.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		n := p.live.Add(1)
		for {
			m := p.maxLive.Load()
			if n <= m || p.maxLive.CompareAndSwap(m, n) {
				break
			}
		}
		pc := &peerConn{c: c, header: r.Header.Clone(), closed: make(chan struct{}), peer: p}
		p.conns <- pc
		<-pc.closed
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *reversePeer) url() string { return "ws" + strings.TrimPrefix(p.srv.URL, "http") + "/onebot" }

// next waits for the next connection.
func (p *reversePeer) next(t *testing.T) *peerConn {
	t.Helper()
	select {
	case c := <-p.conns:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the gateway to connect")
		return nil
	}
}

// close ends the connection from the peer's side. It is counted as closed first: the gateway
// may only dial again once the close handshake is over.
func (pc *peerConn) close(code websocket.StatusCode) {
	pc.peer.live.Add(-1)
	_ = pc.c.Close(code, "test")
	close(pc.closed)
}

func (pc *peerConn) read(t *testing.T) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := pc.c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("frame is not JSON: %s", b)
	}
	return m
}

func runReverse(t *testing.T, h *Hub, ep ReverseWS) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.RunReverseWS(ctx, ep, 10*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-done })
}

// The gateway dials again after every kind of close (normal 1000, going away 1001, abnormal),
// and never holds two connections to one endpoint at once.
func TestReverseWSReconnectsAfterAnyClose(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	peer := newReversePeer(t)
	runReverse(t, h, ReverseWS{URL: peer.url(), Version: 11, SelfID: 10001, AccessToken: "tok"})

	for _, code := range []websocket.StatusCode{websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusInternalError} {
		pc := peer.next(t)
		if pc.header.Get("X-Self-ID") != "10001" || pc.header.Get("X-Client-Role") != "Universal" || pc.header.Get("Authorization") != "Bearer tok" {
			t.Fatalf("headers %v", pc.header)
		}
		if f := pc.read(t); f["meta_event_type"] != "lifecycle" {
			t.Fatalf("first frame %v", f)
		}
		pc.close(code)
	}
	pc := peer.next(t) // the fourth connection: it came back after each close
	defer pc.close(websocket.StatusNormalClosure)
	if m := peer.maxLive.Load(); m != 1 {
		t.Fatalf("%d connections open at once, want exactly one", m)
	}
}

// API connections get no events; Event connections get events and their requests are ignored.
func TestReverseWSRoles(t *testing.T) {
	h, _, db := newTestHub(t, "")
	seedIDs(t, db)
	apiPeer, eventPeer := newReversePeer(t), newReversePeer(t)
	runReverse(t, h, ReverseWS{URL: apiPeer.url(), Version: 11, SelfID: 10001, Role: RoleAPI})
	runReverse(t, h, ReverseWS{URL: eventPeer.url(), Version: 11, SelfID: 10001, Role: RoleEvent})
	api, ev := apiPeer.next(t), eventPeer.next(t)
	defer api.close(websocket.StatusNormalClosure)
	defer ev.close(websocket.StatusNormalClosure)
	if api.header.Get("X-Client-Role") != "API" || ev.header.Get("X-Client-Role") != "Event" {
		t.Fatalf("roles %q %q", api.header.Get("X-Client-Role"), ev.header.Get("X-Client-Role"))
	}
	if f := ev.read(t); f["meta_event_type"] != "lifecycle" {
		t.Fatalf("event connection first frame %v", f)
	}
	if err := h.Publish(context.Background(), sampleEvent(false)); err != nil {
		t.Fatal(err)
	}
	if f := ev.read(t); f["post_type"] != "message" {
		t.Fatalf("event connection got %v", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := api.c.Write(ctx, websocket.MessageText, []byte(`{"action":"get_login_info","echo":1}`)); err != nil {
		t.Fatal(err)
	}
	if f := api.read(t); f["echo"] != float64(1) || f["retcode"] != float64(0) {
		t.Fatalf("API connection: first frame %v, want the response (no events)", f)
	}
}

// A reverse WebSocket with an outbox: events published while it is down wait (the hub does not
// hold them) and come first on the next connection, right after the connect frame, in order
// and marked as replayed.
func TestReverseWSOutboxReplay(t *testing.T) {
	h, _, db := newTestHub(t, "")
	h.opts.Outbox = db.Outbox()
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100}
	h.opts.ReplayRate = 1000
	peer := newReversePeer(t)
	peer.refuse.Store(true)
	runReverse(t, h, ReverseWS{URL: peer.url(), Version: 12, Outbox: true})
	for _, id := range []string{"$a", "$b", "$c"} {
		ev := sampleEvent(false)
		ev.ID = id
		if err := h.Publish(context.Background(), ev); err != nil { // returns at once: the outbox takes it
			t.Fatal(err)
		}
	}
	waitUntil(t, "the events to reach the outbox", func() bool {
		rows, _ := db.Outbox().OutboxPeek(context.Background(), push.EndpointKey("v12-ws", peer.url(), ""), 10)
		return len(rows) >= 3
	})
	peer.refuse.Store(false)
	pc := peer.next(t)
	defer pc.close(websocket.StatusNormalClosure)
	if f := pc.read(t); f["detail_type"] != "connect" {
		t.Fatalf("first frame %v, want meta.connect", f)
	}
	if f := pc.read(t); f["detail_type"] != "status_update" {
		t.Fatalf("second frame %v, want status_update", f)
	}
	var got []any
	for len(got) < 3 {
		f := pc.read(t)
		if f["type"] != "message" {
			continue // a status_update that waited too
		}
		if f["matrix.replayed"] != true {
			t.Fatalf("replayed event not marked: %v", f)
		}
		got = append(got, f["id"])
	}
	if got[0] != "$a" || got[1] != "$b" || got[2] != "$c" {
		t.Fatalf("replayed %v, want $a $b $c", got)
	}
	live := sampleEvent(false)
	live.ID = "$live"
	if err := h.Publish(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	for {
		f := pc.read(t)
		if f["type"] != "message" {
			continue
		}
		if f["id"] != "$live" || f["matrix.replayed"] != nil {
			t.Fatalf("live event %v, want $live unmarked", f)
		}
		break
	}
}

// Pings go both ways: the gateway answers the peer's pings, and a peer that stops answering
// the gateway's pings is dropped and dialled again.
func TestReverseWSPings(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	h.opts.PingInterval = 20 * time.Millisecond
	h.opts.PingTimeout = 100 * time.Millisecond
	peer := newReversePeer(t)
	runReverse(t, h, ReverseWS{URL: peer.url(), Version: 12})

	pc := peer.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	readCtx, stopReading := context.WithCancel(ctx)
	go func() { // reading lets the peer's side see our pongs (and answer our pings)
		defer wg.Done()
		for {
			if _, _, err := pc.c.Read(readCtx); err != nil {
				return
			}
		}
	}()
	if err := pc.c.Ping(ctx); err != nil {
		t.Fatalf("the gateway did not answer a ping: %v", err)
	}
	stopReading()
	wg.Wait()
	pc.close(websocket.StatusNormalClosure)

	silent := peer.next(t) // this peer reads nothing, so it never answers the gateway's pings
	third := peer.next(t)  // the gateway gave up on the silent peer and dialled again
	silent.close(websocket.StatusNormalClosure)
	third.close(websocket.StatusNormalClosure)
}
