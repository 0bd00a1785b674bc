package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/model"
)

func dialWS(t *testing.T, ctx context.Context, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func readJSON(t *testing.T, ctx context.Context, c *websocket.Conn) map[string]any {
	t.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("frame is not JSON: %s", b)
	}
	return m
}

func wsURL(srv *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

func TestV12ForwardWS(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, resp, err := websocket.Dial(ctx, wsURL(srv, "/onebot/v12/"), nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without token: %v %v", resp, err)
	}
	c := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), http.Header{"Authorization": {"Bearer " + testToken}})
	first := readJSON(t, ctx, c)
	if first["type"] != "meta" || first["detail_type"] != "connect" || first["version"].(map[string]any)["onebot_version"] != "12" {
		t.Fatalf("first frame %v, want meta.connect", first)
	}
	st := readJSON(t, ctx, c)
	if st["detail_type"] != "status_update" {
		t.Fatalf("second frame %v, want status_update", st)
	}
	bots := st["status"].(map[string]any)["bots"].([]any)
	if len(bots) != 1 || bots[0].(map[string]any)["online"] != true {
		t.Fatalf("status_update bots: %v", bots)
	}

	if err := h.Publish(ctx, sampleEvent(false)); err != nil {
		t.Fatal(err)
	}
	ev := readJSON(t, ctx, c)
	if ev["type"] != "message" || ev["detail_type"] != "group" || ev["group_id"] != "!room:example.org" {
		t.Fatalf("event %v", ev)
	}
	if _, ok := ev["echo"]; ok {
		t.Fatal("events must not carry echo")
	}

	if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"get_version","params":{},"echo":"e1"}`)); err != nil {
		t.Fatal(err)
	}
	resp := readJSON(t, ctx, c)
	if resp["echo"] != "e1" || resp["retcode"] != float64(0) {
		t.Fatalf("response %v", resp)
	}
}

func TestV11ForwardWSRoles(t *testing.T) {
	h, _, db := newTestHub(t, "")
	seedIDs(t, db)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	universal := dialWS(t, ctx, wsURL(srv, "/onebot/v11/"), nil)
	first := readJSON(t, ctx, universal)
	if first["meta_event_type"] != "lifecycle" || first["sub_type"] != "connect" || first["self_id"] != float64(10001) {
		t.Fatalf("first frame %v, want lifecycle connect", first)
	}
	api := dialWS(t, ctx, wsURL(srv, "/onebot/v11/api"), nil)
	events := dialWS(t, ctx, wsURL(srv, "/onebot/v11/event"), nil)
	if f := readJSON(t, ctx, events); f["meta_event_type"] != "lifecycle" {
		t.Fatalf("event connection first frame %v", f)
	}

	if err := h.Publish(ctx, sampleEvent(false)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{universal, events} {
		ev := readJSON(t, ctx, c)
		if ev["post_type"] != "message" || ev["message_type"] != "group" || ev["message_id"] == nil {
			t.Fatalf("event %v", ev)
		}
	}
	// The API connection gets no events: its first frame is the answer to its request.
	if err := api.Write(ctx, websocket.MessageText, []byte(`{"action":"get_login_info","echo":42}`)); err != nil {
		t.Fatal(err)
	}
	resp := readJSON(t, ctx, api)
	if resp["echo"] != float64(42) || resp["data"].(map[string]any)["user_id"] != float64(10001) {
		t.Fatalf("api response %v", resp)
	}
}

func TestHeartbeats(t *testing.T) {
	h, bot, _ := newTestHub(t, "")
	h.opts.HeartbeatInterval = 20 * time.Millisecond
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bot.Control.SetStatus(model.BotStatus{State: model.StateBackoff})

	c11 := dialWS(t, ctx, wsURL(srv, "/onebot/v11/"), nil)
	readJSON(t, ctx, c11) // lifecycle
	hb := readJSON(t, ctx, c11)
	st := hb["status"].(map[string]any)
	if hb["meta_event_type"] != "heartbeat" || hb["interval"] != float64(20) || st["online"] != true || st["good"] != false {
		t.Fatalf("v11 heartbeat %v", hb)
	}
	c12 := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), nil)
	readJSON(t, ctx, c12) // connect
	readJSON(t, ctx, c12) // status_update
	if hb := readJSON(t, ctx, c12); hb["detail_type"] != "heartbeat" || hb["interval"] != float64(20) {
		t.Fatalf("v12 heartbeat %v", hb)
	}
}

// A client that does not read never blocks Publish: its queue fills, it is disconnected, and
// that is counted.
func TestSlowClientIsDisconnectedNotBlocking(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	h.opts.DropWithoutClient = true // once the slow client is gone, nobody is left to wait for
	s := push.NewSink(12, "", true)
	h.fan.subscribe(s)
	done := make(chan struct{})
	go func() {
		for range cap(s.Out()) + 10 { // the queue and then some
			_ = h.Publish(context.Background(), sampleEvent(false))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a client that does not read")
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("the slow sink was not closed")
	}
	if h.Stats().SlowDisconnects.Load() != 1 || h.Stats().EventsDropped.Load() == 0 {
		t.Fatalf("slow disconnects %d, dropped %d", h.Stats().SlowDisconnects.Load(), h.Stats().EventsDropped.Load())
	}
	// The same, per bot (/metrics, get_status): the bot whose events were dropped.
	c := h.Metrics().BotCounters(string(sampleEvent(false).Self))
	if c[`slow_client_total{result="disconnected"}`] != 1 || c[`slow_client_total{result="dropped"}`] != float64(h.Stats().EventsDropped.Load()) {
		t.Fatalf("per-bot slow client counters %v, want 1 disconnected and %d dropped", c, h.Stats().EventsDropped.Load())
	}
}

// While no client receives a bot's events, Publish holds the event (so the sync position does not
// move past it) until a client connects, or returns ctx's error when the gateway stops.
func TestPublishHoldsEventsUntilAClientConnects(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- h.Publish(ctx, sampleEvent(false)) }()
	select {
	case err := <-errc:
		t.Fatalf("Publish returned %v with no client connected", err)
	default:
	}
	s := push.NewSink(12, "", true)
	h.fan.subscribe(s)
	if err := <-errc; err != nil {
		t.Fatalf("Publish after a client connected: %v", err)
	}
	if got := len(s.Out()); got != 1 {
		t.Fatalf("the client got %d frames, want the held event", got)
	}
	h.fan.unsubscribe(s)

	go func() { errc <- h.Publish(ctx, sampleEvent(false)) }()
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Publish after stop: %v, want context.Canceled", err)
	}

	h.opts.DropWithoutClient = true
	if err := h.Publish(context.Background(), sampleEvent(false)); err != nil || h.Stats().EventsUnwanted.Load() != 1 {
		t.Fatalf("DropWithoutClient: %v, unwanted %d", err, h.Stats().EventsUnwanted.Load())
	}
}

// AddBot tells connected v12 clients about the new bot at once, with a status_update.
func TestAddBotAnnouncesTheBot(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	s := push.NewSink(12, "", true)
	h.fan.subscribe(s)
	h.AddBot(newSecondBot(), 10002)
	select {
	case frame := <-s.Out():
		var m map[string]any
		_ = json.Unmarshal(frame, &m)
		bots := m["status"].(map[string]any)["bots"].([]any)
		if m["detail_type"] != "status_update" || len(bots) != 2 {
			t.Fatalf("got %v, want a status_update listing both bots", m)
		}
	default:
		t.Fatal("AddBot queued no status_update")
	}
}
