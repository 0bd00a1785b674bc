package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/gateway/transport"
	"github.com/matrix-onebot/gateway/internal/model"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/wait"
)

// peerRequest is one request a test peer received.
type peerRequest struct {
	header http.Header
	body   []byte
}

// fakePeer is an httptest server standing in for a OneBot client that receives HTTP POST /
// webhook events. reply decides each answer; requests are handed to the test on a channel.
type fakePeer struct {
	srv  *httptest.Server
	reqs chan peerRequest

	mu     sync.Mutex
	reply  func(body []byte) (int, string) // status and JSON body
	accept func(r *http.Request) bool      // nil: every request; else the others get 503, unrecorded
}

func newFakePeer(t *testing.T) *fakePeer {
	t.Helper()
	p := &fakePeer{reqs: make(chan peerRequest, 256)}
	p.reply = func([]byte) (int, string) { return http.StatusNoContent, "" }
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		reply, accept := p.reply, p.accept
		p.mu.Unlock()
		if accept != nil && !accept(r) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		status, out := reply(body)
		if status < 300 {
			p.reqs <- peerRequest{header: r.Header.Clone(), body: body}
		}
		if out != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakePeer) setReply(f func(body []byte) (int, string)) {
	p.mu.Lock()
	p.reply = f
	p.mu.Unlock()
}

// setAccept makes the peer answer only the requests f accepts (the others get 503 and are not
// handed to the test).
func (p *fakePeer) setAccept(f func(r *http.Request) bool) {
	p.mu.Lock()
	p.accept = f
	p.mu.Unlock()
}

// next returns the next delivered request that is not a meta event.
func (p *fakePeer) next(t *testing.T) (peerRequest, map[string]any) {
	t.Helper()
	for {
		select {
		case r := <-p.reqs:
			var m map[string]any
			if err := json.Unmarshal(r.body, &m); err != nil {
				t.Fatalf("body is not JSON: %s", r.body)
			}
			if m["post_type"] == "meta_event" || m["type"] == "meta" {
				continue
			}
			return r, m
		case <-time.After(10 * time.Second):
			t.Fatal("timed out waiting for a request")
		}
	}
}

func runWebhook(t *testing.T, h *Hub, ep Webhook) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.RunWebhook(ctx, ep) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestV11HTTPPostHeadersSignatureAndQuickReply(t *testing.T) {
	h, bot, db := newTestHub(t, "")
	seedIDs(t, db)
	h.opts.WebhookSecret = "s3cr3t-key"
	peer := newFakePeer(t)
	peer.setReply(func(body []byte) (int, string) {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		if m["post_type"] == "message" {
			return http.StatusOK, `{"reply":"pong [CQ:at,qq=all]","auto_escape":true}`
		}
		return http.StatusNoContent, ""
	})
	runWebhook(t, h, Webhook{URL: peer.srv.URL, Version: 11, SelfID: 10001})

	if err := h.Publish(context.Background(), sampleEvent(false)); err != nil {
		t.Fatal(err)
	}
	req, ev := peer.next(t)
	if got := req.header.Get("X-Self-ID"); got != "10001" {
		t.Errorf("X-Self-ID = %q, want 10001", got)
	}
	if got, want := req.header.Get("X-Signature"), transport.Signature("s3cr3t-key", req.body); got != want {
		t.Errorf("X-Signature = %q, want %q over the exact body", got, want)
	}
	if req.header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", req.header.Get("Content-Type"))
	}
	if ev["message_type"] != "group" || ev["self_id"] != float64(10001) {
		t.Fatalf("event %v", ev)
	}
	waitUntil(t, "the quick reply to be sent", func() bool { return len(bot.Sent()) == 1 })
	s := bot.Sent()[0]
	if s.To.RoomID != "!room:example.org" || len(s.Segments) != 3 || s.Segments[0] != model.Segment(model.Mention{User: "@alice:example.org"}) ||
		s.Segments[2] != model.Segment(model.Text{Text: "pong [CQ:at,qq=all]"}) {
		t.Fatalf("quick reply sent %+v, want @alice, then the text escaped as it is", s)
	}
}

func TestV12WebhookHeadersAndReplyActions(t *testing.T) {
	h, bot, _ := newTestHub(t, "")
	h.opts.PushToken = "push-token"
	peer := newFakePeer(t)
	peer.setReply(func(body []byte) (int, string) {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		if m["type"] == "message" {
			return http.StatusOK, `[{"action":"send_message","params":{"detail_type":"group","group_id":"!room:example.org","message":[{"type":"text","data":{"text":"from the reply"}}]}},
				{"action":"no_such_action"}]`
		}
		return http.StatusNoContent, ""
	})
	runWebhook(t, h, Webhook{URL: peer.srv.URL, Version: 12})

	// The first request is status_update, so that the client learns the bots.
	first := <-peer.reqs
	var st map[string]any
	_ = json.Unmarshal(first.body, &st)
	if st["type"] != "meta" || st["detail_type"] != "status_update" {
		t.Fatalf("first webhook request %s, want meta.status_update", first.body)
	}
	if err := h.Publish(context.Background(), sampleEvent(false)); err != nil {
		t.Fatal(err)
	}
	req, ev := peer.next(t)
	for k, want := range map[string]string{
		"X-OneBot-Version": "12", "X-Impl": Impl, "Authorization": "Bearer push-token", "Content-Type": "application/json",
	} {
		if got := req.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if req.header.Get("X-Signature") != "" {
		t.Error("X-Signature sent without a secret")
	}
	if ev["type"] != "message" || ev["self"].(map[string]any)["user_id"] != "@bot:example.org" {
		t.Fatalf("event %v", ev)
	}
	waitUntil(t, "the action from the reply to run", func() bool { return len(bot.Sent()) == 1 })
	if s := bot.Sent()[0]; s.To.RoomID != "!room:example.org" || s.Segments[0] != model.Segment(model.Text{Text: "from the reply"}) {
		t.Fatalf("sent %+v", s)
	}
}

// While a webhook is down its events wait in the outbox (the hub does not hold them: the
// endpoint counts as a consumer); when it is back they arrive in order, marked as replayed, and
// later events arrive live, unmarked.
func TestWebhookOutboxReplaysInOrder(t *testing.T) {
	h, _, db := newTestHub(t, "")
	h.opts.Outbox = db.Outbox()
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100, MaxAge: time.Hour}
	h.opts.ReconnectInterval = 20 * time.Millisecond
	h.opts.ReplayRate = 1000
	peer := newFakePeer(t)
	var refused atomic.Int64
	peer.setReply(func(body []byte) (int, string) {
		if strings.Contains(string(body), `"type":"message"`) { // meta events are pushed on their own
			refused.Add(1)
		}
		return http.StatusServiceUnavailable, ""
	})
	runWebhook(t, h, Webhook{URL: peer.srv.URL, Version: 12, Outbox: true})

	for i := range 3 {
		ev := sampleEvent(false)
		ev.ID = "$ev" + string(rune('a'+i))
		if err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the events to wait in the outbox", func() bool {
		rows, _ := db.Outbox().OutboxPeek(context.Background(), push.EndpointKey("v12-webhook", peer.srv.URL, ""), 10)
		n := 0
		for _, r := range rows {
			if strings.Contains(string(r.Payload), `"type":"message"`) {
				n++
			}
		}
		return n == 3
	})
	// The first push of the first event was taken before the endpoint was known to be down, so
	// it is unmarked: wait until a whole push of an event has failed (one push makes at most
	// WebhookRetries+1 attempts) so that what comes next was taken while the endpoint was down.
	seen := refused.Load()
	waitUntil(t, "a whole push to fail after the events were queued", func() bool {
		return refused.Load() > seen+int64(h.opts.WebhookRetries)
	})
	peer.setReply(func([]byte) (int, string) { return http.StatusNoContent, "" })
	for i := range 3 {
		_, ev := peer.next(t)
		if ev["id"] != "$ev"+string(rune('a'+i)) || ev["matrix.replayed"] != true {
			t.Fatalf("replayed event %d: %v", i, ev)
		}
	}
	live := sampleEvent(false)
	live.ID = "$live"
	if err := h.Publish(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	_, ev := peer.next(t)
	if ev["id"] != "$live" || ev["matrix.replayed"] != nil {
		t.Fatalf("live event %v, want it unmarked", ev)
	}
	if n := h.Stats().OutboxReplayed.Load(); n < 3 { // and the status_update, when it waited too
		t.Fatalf("replayed %d, want at least the 3 events", n)
	}
}

// The outbox keeps at most MaxEvents per endpoint: the oldest go first, and are counted.
func TestWebhookOutboxCountLimit(t *testing.T) {
	h, _, db := newTestHub(t, "")
	h.opts.Outbox = db.Outbox()
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 2}
	h.opts.ReconnectInterval = 20 * time.Millisecond
	h.opts.ReplayRate = 1000
	peer := newFakePeer(t)
	tried := make(chan struct{}, 64)
	var refused atomic.Int64
	peer.setReply(func(body []byte) (int, string) {
		signal(tried)
		if strings.Contains(string(body), `"type":"message"`) { // meta events are pushed on their own
			refused.Add(1)
		}
		return http.StatusBadGateway, ""
	})
	runWebhook(t, h, Webhook{URL: peer.srv.URL, Version: 12, Outbox: true})
	<-tried // the status_update was refused: the feed is subscribed
	for i := range 5 {
		ev := sampleEvent(false)
		ev.ID = "$ev" + string(rune('a'+i))
		if err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.Stats().OutboxDropped.Load(); n != 3 { // Publish writes the outbox itself
		t.Fatalf("dropped %d, want the oldest 3", n)
	}
	// A push taken from the outbox before the last events were published holds frames that
	// were dropped since (one of them may be on its way): wait until a whole push has failed
	// (at most WebhookRetries+1 attempts) after the publishes, so that the outbox is read again.
	seen := refused.Load()
	waitUntil(t, "a whole push to fail after the events were queued", func() bool {
		return refused.Load() > seen+int64(h.opts.WebhookRetries)
	})
	peer.setReply(func([]byte) (int, string) { return http.StatusNoContent, "" })
	var got []any
	for len(got) < 2 {
		_, ev := peer.next(t)
		got = append(got, ev["id"])
	}
	if got[0] != "$evd" || got[1] != "$eve" {
		t.Fatalf("delivered %v, want the newest two ($evd, $eve)", got)
	}
}

// Frames in the outbox survive a restart and are replayed by the next run.
func TestWebhookOutboxSurvivesRestart(t *testing.T) {
	db := newTestDB(t)
	peer := newFakePeer(t)
	tried := make(chan struct{}, 64)
	peer.setReply(func(body []byte) (int, string) {
		if strings.Contains(string(body), `"type":"message"`) { // meta events are pushed on their own
			signal(tried)
		}
		return http.StatusServiceUnavailable, "" // down (an answer with another status is a delivery)
	})
	// Each run has its own version, which its requests carry in User-Agent.
	newHub := func(run string) *Hub {
		h, _, _ := newTestHub(t, "")
		h.opts.Version = run
		h.opts.IDs = db.IDs()
		h.faces.initFaces() // the faces take their options when made
		h.opts.Outbox = db.Outbox()
		h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100}
		h.opts.ReconnectInterval = 20 * time.Millisecond
		h.opts.ReplayRate = 1000
		return h
	}
	h1 := newHub("run1")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan struct{})
	go func() { defer close(done); h1.RunWebhook(ctx, Webhook{URL: peer.srv.URL, Version: 12, Outbox: true}) }()
	if err := h1.Publish(context.Background(), sampleEvent(false)); err != nil {
		t.Fatal(err)
	}
	// The first push of the event was taken before the endpoint was known to be down, so it is
	// unmarked, and a request of it still in flight at the stop could reach the peer after the
	// reply below changes: wait until that whole push has failed (WebhookRetries+1 attempts) and
	// the next, marked, has started.
	for range h1.opts.WebhookRetries + 2 {
		<-tried
	}
	waitUntil(t, "the event to reach the outbox", func() bool {
		rows, _ := db.Outbox().OutboxPeek(context.Background(), push.EndpointKey("v12-webhook", peer.srv.URL, ""), 10)
		for _, r := range rows {
			if strings.Contains(string(r.Payload), `"$ev1:example.org"`) {
				return true
			}
		}
		return false
	})
	cancel()
	<-done
	// A request of the first run may still reach the peer after the run has ended (the client
	// gave up on it, the server had not read it yet): a stopped process sends nothing, so the
	// peer takes only the second run's requests.
	peer.setAccept(func(r *http.Request) bool { return strings.HasSuffix(r.UserAgent(), "/run2") })
	peer.setReply(func([]byte) (int, string) { return http.StatusNoContent, "" })
	h2 := newHub("run2")
	runWebhook(t, h2, Webhook{URL: peer.srv.URL, Version: 12, Outbox: true})
	_, ev := peer.next(t)
	if ev["id"] != "$ev1:example.org" || ev["matrix.replayed"] != true {
		t.Fatalf("after restart: %v, want the waiting event, replayed", ev)
	}
}

// Without an outbox the endpoint's events wait in memory and are retried in order; a full queue
// holds the bot's sync rather than dropping events.
func TestWebhookWithoutOutboxRetriesInOrder(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	h.opts.ReconnectInterval = 20 * time.Millisecond
	peer := newFakePeer(t)
	fails := 3
	var mu sync.Mutex
	peer.setReply(func(body []byte) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		if m["type"] == "message" && fails > 0 {
			fails--
			return http.StatusServiceUnavailable, ""
		}
		return http.StatusNoContent, ""
	})
	runWebhook(t, h, Webhook{URL: peer.srv.URL, Version: 12})
	for _, id := range []string{"$a", "$b"} {
		ev := sampleEvent(false)
		ev.ID = id
		if err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	_, a := peer.next(t)
	_, b := peer.next(t)
	if a["id"] != "$a" || b["id"] != "$b" {
		t.Fatalf("delivered %v then %v, want $a then $b", a["id"], b["id"])
	}
}

// The v11 post format "string" renders message as a CQ string; text from Matrix stays escaped,
// so "[CQ:at,qq=all]" typed by a Matrix user is no CQ code.
func TestV11StringPostFormat(t *testing.T) {
	h, _, db := newTestHub(t, "")
	seedIDs(t, db)
	h.opts.V11PostFormat = "string"
	h.faces.initFaces() // the faces take their options when made
	s := push.NewSink(11, "@bot:example.org", true)
	h.fan.subscribe(s)
	if err := h.Publish(context.Background(), sampleEvent(false)); err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(<-s.Out(), &ev); err != nil {
		t.Fatal(err)
	}
	msg, ok := ev["message"].(string)
	if !ok {
		t.Fatalf("message = %#v, want a CQ string", ev["message"])
	}
	if msg != ev["raw_message"] || !strings.Contains(msg, " hi &#91;CQ:at,qq=all&#93;[CQ:at,qq=all]") {
		t.Fatalf("message = %q, raw_message %q; want the text escaped, then a real at-all code", msg, ev["raw_message"])
	}
	segs, err := ob11.ParseCQ(msg)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, s := range segs {
		types = append(types, s.Type)
	}
	if !slices.Equal(types, []string{"reply", "at", "text", "at"}) || segs[2].Data["text"] != " hi [CQ:at,qq=all]" {
		t.Fatalf("parsed back: %+v", segs)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.For(t, 10*time.Second, what, cond)
}

// signal sends on c without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// countingPeer stands in for a OneBot client that receives HTTP POST / webhook events: answer
// decides each answer to a message event (meta events get 204), and the attempts of each event
// are counted by ID.
type countingPeer struct {
	srv      *httptest.Server
	mu       sync.Mutex
	attempts map[string]int
	changed  chan struct{} // cap 1: an attempt was counted
}

func newCountingPeer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, id string)) *countingPeer {
	t.Helper()
	p := &countingPeer{attempts: map[string]int{}, changed: make(chan struct{}, 1)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			MsgID   any    `json:"message_id"`
			PostTyp string `json:"post_type"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &ev)
		if ev.Type != "message" && ev.PostTyp != "message" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		p.mu.Lock()
		p.attempts[ev.ID]++
		p.mu.Unlock()
		signal(p.changed)
		answer(w, r, ev.ID)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *countingPeer) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts[id]
}

// An HTTP answer is a delivery, whatever its status: a receiver that answers 404 (koishi's
// adapter does) or 500 gets each event once, and the next event is not held behind it.
func TestWebhookErrorAnswerIsDeliveredOnce(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusInternalServerError} {
		for _, outbox := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d outbox=%v", status, outbox), func(t *testing.T) {
				h, _, db := newTestHub(t, "")
				if outbox {
					h.opts.Outbox = db.Outbox()
					h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100}
				}
				h.opts.ReconnectInterval = 20 * time.Millisecond
				peer := newCountingPeer(t, func(w http.ResponseWriter, r *http.Request, id string) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(status)
					// An action list in an error answer is not run.
					_, _ = io.WriteString(w, `[{"action":"send_message","params":{"detail_type":"group","group_id":"!r:example.org","message":"no"}}]`)
				})
				runWebhook(t, h, Webhook{URL: peer.srv.URL, Version: 12, Outbox: outbox})
				for _, id := range []string{"$a", "$b"} {
					ev := sampleEvent(false)
					ev.ID = id
					if err := h.Publish(context.Background(), ev); err != nil {
						t.Fatal(err)
					}
				}
				waitUntil(t, "the second event to reach the endpoint", func() bool { return peer.count("$b") > 0 })
				if a, b := peer.count("$a"), peer.count("$b"); a != 1 || b != 1 {
					t.Fatalf("the endpoint got $a %d times and $b %d times, want each once", a, b)
				}
				if n := h.Stats().PushRefused.Load(); n < 1 {
					t.Fatalf("PushRefused %d, want the error answers counted", n)
				}
			})
		}
	}
}

// An event the endpoint takes but never answers (its handler hangs or is slow) is tried
// GATEWAY_WEBHOOK_RETRIES more times, then given up: the events after it are delivered.
func TestWebhookUnansweredEventIsGivenUp(t *testing.T) {
	h, _, db := newTestHub(t, "")
	h.opts.Outbox = db.Outbox()
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100}
	h.opts.ReconnectInterval = 20 * time.Millisecond
	h.opts.WebhookTimeout = 200 * time.Millisecond
	h.opts.WebhookRetries = 1
	peer := newCountingPeer(t, func(w http.ResponseWriter, r *http.Request, id string) {
		if id == "$hangs" {
			<-r.Context().Done() // the gateway gives up on the request
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	runWebhook(t, h, Webhook{URL: peer.srv.URL, Version: 12, Outbox: true})
	for _, id := range []string{"$hangs", "$next"} {
		ev := sampleEvent(false)
		ev.ID = id
		if err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the event after the unanswered one to reach the endpoint", func() bool { return peer.count("$next") > 0 })
	if n := peer.count("$hangs"); n != h.opts.WebhookRetries+1 {
		t.Fatalf("the unanswered event was sent %d times, want %d (1 + GATEWAY_WEBHOOK_RETRIES)", n, h.opts.WebhookRetries+1)
	}
	if n := h.Stats().PushAbandoned.Load(); n != 1 {
		t.Fatalf("PushAbandoned %d, want 1", n)
	}
	rows, err := db.Outbox().OutboxPeek(context.Background(), push.EndpointKey("v12-webhook", peer.srv.URL, ""), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if strings.Contains(string(r.Payload), `"$hangs"`) {
			t.Fatal("the given-up event is still in the outbox")
		}
	}
}

// The outbox gauges of /metrics label a webhook by its URL's scheme://host[:port] and a hash of
// the rest: a secret in the URL's path or query does not reach whoever reads metrics, and two
// webhooks of one host stay apart.
func TestOutboxMetricsHideTheWebhookPath(t *testing.T) {
	h, _, db := newTestHub(t, "")
	h.opts.Outbox = db.Outbox()
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100, MaxAge: time.Hour}
	h.opts.ReconnectInterval = 20 * time.Millisecond
	peer := newFakePeer(t)
	var mu sync.Mutex
	paths := map[string]bool{} // of the requests, refused: a webhook's first (its meta event) shows that its feed is up
	peer.setAccept(func(r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		paths[r.URL.Path] = true
		return false
	})
	urls := []string{peer.srv.URL + "/hooks/s3cretpath?token=q5ecret", peer.srv.URL + "/hooks/0therpath?token=q5ecret"}
	for _, u := range urls {
		runWebhook(t, h, Webhook{URL: u, Version: 12, Outbox: true})
	}
	waitUntil(t, "both webhooks to push", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return paths["/hooks/s3cretpath"] && paths["/hooks/0therpath"]
	})
	if err := h.Publish(context.Background(), sampleEvent(false)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the event to wait in both outboxes", func() bool {
		for _, u := range urls {
			if rows, _ := db.Outbox().OutboxPeek(context.Background(), push.EndpointKey("v12-webhook", u, ""), 10); len(rows) == 0 {
				return false
			}
		}
		return true
	})
	labels := map[string]bool{}
	for _, s := range h.fan.metricSamples() {
		if s.Name != "outbox_depth" {
			continue
		}
		ep := s.Labels["endpoint"]
		labels[ep] = true
		for _, secret := range []string{"s3cret", "0ther", "q5ecret", "token", "hooks"} {
			if strings.Contains(ep, secret) {
				t.Errorf("outbox_depth{endpoint=%q} shows %q of the URL", ep, secret)
			}
		}
		if !strings.HasPrefix(ep, "v12-webhook "+peer.srv.URL+"/…#") {
			t.Errorf("outbox_depth{endpoint=%q}: want the kind, the URL's origin and a hash", ep)
		}
	}
	if len(labels) != 2 {
		t.Errorf("outbox_depth endpoints %v: want the two webhooks apart", labels)
	}
}
