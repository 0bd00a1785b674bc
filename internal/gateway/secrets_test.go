package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/internal/gateway/intake"
	"github.com/matrix-onebot/gateway/internal/model"

	"github.com/matrix-onebot/gateway/test/fakes"
)

// logBuffer collects a hub's log lines; safe for the hub's goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The reverse WebSocket's dial error is logged on every reconnect: neither the URL's
// access_token query, nor its password, nor the Authorization token may appear in it.
func TestReverseWSDialErrorHidesTokens(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	var logs logBuffer
	h.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// A port nothing listens on: the dial fails in net/http, whose error repeats the URL.
	ln := httptest.NewServer(http.NotFoundHandler())
	closed := "ws://user:SECRET-PASS@" + strings.TrimPrefix(ln.URL, "http://") + "/onebot/v11/ws?access_token=SECRET-QUERY&x=1"
	ln.Close()
	// A server that refuses the upgrade.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer refusing.Close()
	refused := "ws://" + strings.TrimPrefix(refusing.URL, "http://") + "/ws?access_token=SECRET-QUERY2"

	runReverse(t, h, ReverseWS{URL: closed, Version: 11, SelfID: 10001, AccessToken: "SECRET-BEARER"})
	runReverse(t, h, ReverseWS{URL: refused, Version: 12, AccessToken: "SECRET-BEARER"})
	waitUntil(t, "two failed dials of each endpoint in the log", func() bool {
		s := logs.String()
		return strings.Count(s, "reconnecting") >= 4 && strings.Count(s, "403") >= 2 && strings.Count(s, "onebot/v11/ws") >= 2
	})
	out := logs.String()
	for _, secret := range []string{"SECRET-PASS", "SECRET-QUERY", "SECRET-BEARER"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %s:\n%s", secret, out)
		}
	}
	// What is left still tells the operator which endpoint failed and why, and what to set when
	// the endpoint refuses the token.
	if !strings.Contains(out, "refused") || !strings.Contains(out, "REDACTED") {
		t.Errorf("log does not say what failed:\n%s", out)
	}
	if !strings.Contains(out, "refused by the endpoint") || !strings.Contains(out, "set GATEWAY_PUSH_ACCESS_TOKEN") {
		t.Errorf("a 403 at the handshake does not tell the operator what to set:\n%s", out)
	}
}

// An endpoint that takes the connection and closes it with 1008 (NoneBot2 on a wrong token)
// gets the same hint.
func TestReverseWSPolicyCloseHintsAtTheToken(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	var logs logBuffer
	h.log = slog.New(slog.NewTextHandler(&logs, nil))
	peer := newReversePeer(t)
	runReverse(t, h, ReverseWS{URL: peer.url(), Version: 11, SelfID: 10001, AccessToken: "wrong"})
	pc := peer.next(t)
	pc.close(websocket.StatusPolicyViolation)
	waitUntil(t, "the reconnect to be logged", func() bool { return strings.Contains(logs.String(), "reconnecting") })
	if !strings.Contains(logs.String(), "set GATEWAY_PUSH_ACCESS_TOKEN") {
		t.Errorf("a 1008 close does not tell the operator what to set:\n%s", logs.String())
	}
	peer.next(t).close(websocket.StatusNormalClosure)
}

// twoBotHub serves bot A (self_id 10001, token tok-a) and bot B (10002, tok-b), and the global
// token that grants both.
func twoBotHub(t *testing.T, global string) (*Hub, *fakes.FakeBot, *fakes.FakeBot, *httptest.Server) {
	t.Helper()
	h := NewHub(Options{
		Version: "test", AccessToken: global, BotTokens: true, HeartbeatInterval: time.Hour, IDs: newTestDB(t).IDs(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ExpectedBots: 2, Transports: Transports{EventBuffer: 10},
	})
	a, b := fakes.NewFakeBot("@bot:example.org"), newSecondBot()
	h.AddBotWithToken(a, 10001, "tok-a")
	h.AddBotWithToken(b, 10002, "tok-b")
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	return h, a, b, srv
}

func auth(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// A bot's own token grants that bot only, over HTTP (v12 and v11, with and without
// /onebot/v11/{self_id}/) and over the forward WebSockets; the global token grants both.
func TestBotTokenGrantsOnlyItsBot(t *testing.T) {
	h, _, _, srv := twoBotHub(t, "global")
	selfB := `"self":{"platform":"matrix","user_id":"@bot2:example.org"}`

	t.Run("no or unknown token", func(t *testing.T) {
		if code, _ := post(t, srv, "/onebot/v12/", `{"action":"get_version"}`, nil); code != http.StatusUnauthorized {
			t.Errorf("no token: status %d, want 401", code)
		}
		if code, _ := post(t, srv, "/onebot/v12/", `{"action":"get_version"}`, auth("tok-c")); code != http.StatusForbidden {
			t.Errorf("unknown token: status %d, want 403", code)
		}
	})
	t.Run("v12 HTTP", func(t *testing.T) {
		_, r := post(t, srv, "/onebot/v12/", `{"action":"get_self_info"}`, auth("tok-a"))
		if d, _ := r["data"].(map[string]any); d["user_id"] != "@bot:example.org" {
			t.Errorf("tok-a without self: %v, want bot A (several bots are served, the token names one)", r)
		}
		_, r = post(t, srv, "/onebot/v12/", `{"action":"get_self_info",`+selfB+`}`, auth("tok-a"))
		if r["retcode"] != float64(v12UnknownSelf) {
			t.Errorf("tok-a acting as bot B: %v, want retcode 10102", r)
		}
		_, r = post(t, srv, "/onebot/v12/", `{"action":"send_message",`+selfB+`,"params":{"detail_type":"group","group_id":"!r:example.org","message":"hi"}}`, auth("tok-a"))
		if r["retcode"] != float64(v12UnknownSelf) {
			t.Errorf("tok-a sending as bot B: %v, want retcode 10102", r)
		}
		_, r = post(t, srv, "/onebot/v12/", `{"action":"get_self_info",`+selfB+`}`, auth("global"))
		if d, _ := r["data"].(map[string]any); d["user_id"] != "@bot2:example.org" {
			t.Errorf("global token as bot B: %v", r)
		}
		_, r = post(t, srv, "/onebot/v12/", `{"action":"get_status"}`, auth("tok-a"))
		if bots := r["data"].(map[string]any)["bots"].([]any); len(bots) != 1 || !strings.Contains(mustString(bots[0]), "@bot:example.org") {
			t.Errorf("tok-a get_status shows %v, want bot A only", bots)
		}
		// get_latest_events with tok-a polls bot A's events only.
		if _, r = post(t, srv, "/onebot/v12/", `{"action":"get_latest_events"}`, auth("tok-a")); r["retcode"] != float64(0) {
			t.Fatalf("tok-a get_latest_events: %v", r)
		}
		h.opts.DropWithoutClient = true // an event nobody takes is counted, not held
		evB, evA := sampleEvent(false), sampleEvent(false)
		evB.Self, evB.ID, evA.ID = "@bot2:example.org", "$b", "$a"
		for _, ev := range []*model.Event{evB, evA} {
			if err := h.Publish(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		_, r = post(t, srv, "/onebot/v12/", `{"action":"get_latest_events"}`, auth("tok-a"))
		if evs, _ := r["data"].([]any); len(evs) != 1 || evs[0].(map[string]any)["id"] != "$a" {
			t.Errorf("tok-a get_latest_events: %v, want bot A's event only", r)
		}
	})
	t.Run("v11 HTTP", func(t *testing.T) {
		for _, tc := range []struct {
			path, tok string
			code      int
			self      float64
		}{
			{"/onebot/v11/10002/get_login_info", "tok-a", http.StatusForbidden, 0},
			{"/onebot/v11/99999/get_login_info", "tok-a", http.StatusForbidden, 0}, // same answer as for an existing bot
			{"/onebot/v11/10001/get_login_info", "tok-a", http.StatusOK, 10001},
			{"/onebot/v11/get_login_info", "tok-a", http.StatusOK, 10001},
			{"/onebot/v11/get_login_info", "tok-b", http.StatusOK, 10002},
			{"/onebot/v11/10002/get_login_info", "global", http.StatusOK, 10002},
			{"/onebot/v11/10001/send_group_msg?access_token=tok-b", "", http.StatusForbidden, 0},
		} {
			hdr := auth(tc.tok)
			if tc.tok == "" {
				hdr = nil
			}
			code, r := post(t, srv, tc.path, `{}`, hdr)
			if code != tc.code {
				t.Errorf("%s with %s: status %d, want %d (%v)", tc.path, tc.tok, code, tc.code, r)
				continue
			}
			if tc.self != 0 {
				if d, _ := r["data"].(map[string]any); d["user_id"] != tc.self {
					t.Errorf("%s with %s: %v, want user_id %v", tc.path, tc.tok, r, tc.self)
				}
			}
		}
	})
	t.Run("v11 forward WebSocket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, path := range []string{"/onebot/v11/10002/", "/onebot/v11/10002/api", "/onebot/v11/10002/event"} {
			_, resp, err := websocket.Dial(ctx, wsURL(srv, path), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer tok-a"}}})
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("tok-a dialling %s: %v, want 403", path, err)
			}
		}
		c := dialWS(t, ctx, wsURL(srv, "/onebot/v11/"), http.Header{"Authorization": {"Bearer tok-a"}})
		if f := readJSON(t, ctx, c); f["self_id"] != float64(10001) {
			t.Errorf("tok-a on /onebot/v11/: first frame %v, want bot A's", f)
		}
	})
}

// A v12 forward WebSocket opened with a bot's token is that bot's: its status, its events, its
// actions only.
func TestBotTokenV12WebSocketCarriesOnlyItsBot(t *testing.T) {
	h, _, _, srv := twoBotHub(t, "global")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), http.Header{"Authorization": {"Bearer tok-a"}})
	if f := readJSON(t, ctx, c); f["detail_type"] != "connect" {
		t.Fatalf("first frame %v", f)
	}
	st := readJSON(t, ctx, c)
	if bots := st["status"].(map[string]any)["bots"].([]any); len(bots) != 1 || !strings.Contains(mustString(bots[0]), "@bot:example.org") {
		t.Errorf("status_update shows %v, want bot A only", bots)
	}

	h.opts.DropWithoutClient = true // an event no connection takes is counted, not held
	evB := sampleEvent(false)
	evB.Self, evB.ID = "@bot2:example.org", "$b"
	if err := h.Publish(ctx, evB); err != nil {
		t.Fatal(err)
	}
	if n := h.stats.EventsUnwanted.Load(); n != 1 {
		t.Errorf("bot B's event was taken by %d connections, want none (only bot A's connection is open)", 1-n)
	}
	evA := sampleEvent(false)
	evA.ID = "$a"
	if err := h.Publish(ctx, evA); err != nil {
		t.Fatal(err)
	}
	if f := readJSON(t, ctx, c); f["id"] != "$a" {
		t.Errorf("first event %v, want bot A's ($a); bot B's must never come", f)
	}

	req := `{"action":"get_self_info","echo":1,"self":{"platform":"matrix","user_id":"@bot2:example.org"}}`
	if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		t.Fatal(err)
	}
	if r := readJSON(t, ctx, c); r["retcode"] != float64(v12UnknownSelf) {
		t.Errorf("acting as bot B over bot A's connection: %v, want retcode 10102", r)
	}
}

func mustString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// A v12 webhook's reply acts only on the event it answers (GATEWAY_WEBHOOK_REPLY_SCOPE=event,
// the default): another room, user or message, an action that can reach anything else, or
// another bot are refused; GATEWAY_WEBHOOK_REPLY_SCOPE=bot allows any action, still only as the
// event's bot.
func TestWebhookReplyActsOnlyOnTheEvent(t *testing.T) {
	const selfB = `"self":{"platform":"matrix","user_id":"@bot2:example.org"}`
	refused := []string{
		`{"action":"send_message","params":{"detail_type":"group","group_id":"!private:example.org","message":"leak"}}`,
		`{"action":"send_message","params":{"detail_type":"private","user_id":"@mallory:example.org","message":"leak"}}`,
		`{"action":"matrix.kick","params":{"group_id":"!room:example.org","user_id":"@bob:example.org"}}`,
		`{"action":"matrix.ban","params":{"group_id":"!private:example.org","user_id":"@alice:example.org"}}`,
		`{"action":"delete_message","params":{"message_id":"$other:example.org"}}`,
		`{"action":"matrix.raw_request","params":{"method":"GET","path":"/_matrix/client/v3/joined_rooms"}}`,
		`{"action":"matrix.join_room","params":{"room":"#elsewhere:example.org"}}`,
		`{"action":"send_message","params":{"detail_type":"group","GROUP_ID":"!private:example.org","message":"leak"}}`, // encoding/json ignores case
		`{"action":"send_message",` + selfB + `,"params":{"detail_type":"group","group_id":"!room:example.org","message":"as bot B"}}`,
	}
	allowed := []string{
		`{"action":"matrix.react","params":{"message_id":"$ev1:example.org","key":"👍"}}`,
		`{"action":"matrix.kick","params":{"group_id":"!room:example.org","user_id":"@alice:example.org"}}`,
		`{"action":"send_message","params":{"detail_type":"group","group_id":"!room:example.org","message":"ok"}}`, // last: the sentinel
	}
	run := func(t *testing.T, scope string) (*fakes.FakeBot, *fakes.FakeBot, string) {
		h, a, _ := newTestHub(t, "")
		b := newSecondBot()
		h.AddBot(b, 10002)
		h.opts.WebhookReplyScope = scope
		var logs logBuffer
		h.log = slog.New(slog.NewTextHandler(&logs, nil))
		peer := newFakePeer(t)
		peer.setReply(func(body []byte) (int, string) {
			if bytes.Contains(body, []byte(`"type":"message"`)) {
				return http.StatusOK, "[" + strings.Join(append(append([]string(nil), refused...), allowed...), ",") + "]"
			}
			return http.StatusNoContent, ""
		})
		runWebhook(t, h, Webhook{URL: peer.srv.URL, Version: 12})
		if err := h.Publish(context.Background(), sampleEvent(false)); err != nil { // alice in !room, bot A
			t.Fatal(err)
		}
		waitUntil(t, "the reply's last action to run", func() bool {
			for _, s := range a.Sent() {
				if s.Segments[0] == model.Segment(model.Text{Text: "ok"}) {
					return true
				}
			}
			return false
		})
		return a, b, logs.String()
	}

	t.Run("event", func(t *testing.T) {
		a, b, logs := run(t, ReplyScopeEvent)
		if len(b.Sent()) != 0 || len(b.Actions.Calls()) != 0 {
			t.Errorf("bot B acted on bot A's event: %+v %+v", b.Sent(), b.Actions.Calls())
		}
		if sent := a.Sent(); len(sent) != 1 || sent[0].To.RoomID != "!room:example.org" {
			t.Errorf("sent %+v, want only the reply in the event's room", sent)
		}
		var calls []string
		for _, c := range a.Actions.Calls() {
			calls = append(calls, fmt.Sprint(c.Method, c.Args))
		}
		if got, want := strings.Join(calls, "; "), "React[ $ev1:example.org 👍]; Kick[!room:example.org @alice:example.org ]"; got != want {
			t.Errorf("calls %q, want %q", got, want)
		}
		if n := strings.Count(logs, "action from a webhook reply refused"); n != len(refused)-1 {
			t.Errorf("%d refusals logged, want %d:\n%s", n, len(refused)-1, logs)
		}
		if !strings.Contains(logs, "GATEWAY_WEBHOOK_REPLY_SCOPE=bot") {
			t.Errorf("the refusal does not say what to set:\n%s", logs)
		}
	})
	t.Run("bot", func(t *testing.T) {
		a, b, _ := run(t, ReplyScopeBot)
		if len(b.Sent()) != 0 {
			t.Errorf("bot B sent %+v from a reply to bot A's event", b.Sent())
		}
		rooms := map[string]bool{}
		for _, s := range a.Sent() {
			rooms[string(s.To.RoomID)+string(s.To.UserID)] = true
		}
		if !rooms["!private:example.org"] || !rooms["@mallory:example.org"] {
			t.Errorf("scope bot: sent %+v, want the other room and user too", a.Sent())
		}
	})
}

// A URL the gateway fails to fetch (upload_file, a media segment) is logged and answered without
// its query or password, which often carry a signature or token (a signed S3 link, a client's
// own file server); nor does a redirect's target leak through net/http's error.
func TestMediaFetchErrorHidesURLSecrets(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	var logs logBuffer
	h.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.opts.Media = intake.New(intake.Options{Files: newTestFiles(t, 1<<20, nil),
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, closedURL+"/b?X-Amz-Signature=SECRET-REDIRECT", http.StatusFound)
	}))
	defer redirect.Close()
	withSecrets := func(base string) string {
		return strings.Replace(base, "http://", "http://user:SECRET-PASS@", 1) + "/a.png?sig=SECRET-QUERY"
	}
	for _, u := range []string{withSecrets(closedURL), withSecrets(missing.URL), withSecrets(redirect.URL)} {
		resp := v12Action(t, srv, "upload_file", map[string]any{"type": "url", "name": "a.png", "url": u})
		if resp["retcode"] == float64(0) {
			t.Fatalf("upload_file of %s succeeded: %v", u, resp)
		}
		if msg := fmt.Sprint(resp["message"]); strings.Contains(msg, "SECRET") || !strings.Contains(msg, "127.0.0.1") {
			t.Errorf("answer %q shows a secret of the URL or not which URL failed", msg)
		}
	}
	out := logs.String()
	if strings.Count(out, "action failed") < 3 {
		t.Fatalf("want the three failures in the log:\n%s", out)
	}
	for _, secret := range []string{"SECRET-PASS", "SECRET-QUERY", "SECRET-REDIRECT"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %s:\n%s", secret, out)
		}
	}
}
