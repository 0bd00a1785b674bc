package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
	"github.com/matrix-onebot/gateway/test/harness/postgres"
)

// The Satori face with real clients against Synapse: Koishi with @satorijs/adapter-satori and
// NoneBot2 with nonebot-adapter-satori dial the gateway's Satori event stream and call its API.
// Each does echo, mention, reply and image both ways: a Matrix user's "/echo hi" comes back
// "hi"; the client's mention is a pill with m.mentions, its quote an m.in_reply_to; a pill to
// the bot reaches the client as <at> of its own user (to_me); the client's image (a data: URL)
// is an m.image with the right bytes; a Matrix reply reaches the client as <quote> and the client
// reads the original with message.get; a Matrix image reaches the client as <img src> with a
// signed link it downloads without a token.
func TestSatoriNoneBot(t *testing.T) { testSatoriClient(t, "nonebot") }

func TestSatoriKoishi(t *testing.T) { testSatoriClient(t, "koishi") }

const satoriToken = "satori-token"

func satoriGateway(t *testing.T) (*gatewayProc, *harness.User, *human, id.RoomID) {
	t.Helper()
	bot, alice := newBotUser(t), newHuman(t, "alice")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": satoriToken,
	})
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	return g, bot, alice, room
}

func testSatoriClient(t *testing.T, which string) {
	g, bot, alice, room := satoriGateway(t)
	c := harness.SatoriClientForTest(t, which, harness.SatoriClientOptions{Endpoint: g.url + "/satori", Token: satoriToken})
	satoriProofs(t, c, bot, alice, room)

	// A direct room is a direct channel: the client sees a private message and answers in it.
	dm := alice.roomWith(bot, true)
	alice.waitJoined(dm, bot)
	alice.send(dm, "/echo in private")
	alice.waitMessage(dm, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "in private" })
	seen := `"channel":{"id":"` + string(dm) + `","type":1` // NoneBot logs the event's data
	if which == "koishi" {
		seen = "channel=" + string(dm) + " direct=true"
	}
	if !strings.Contains(c.Log(), seen) {
		t.Fatalf("the client did not see a direct channel (%s)", seen)
	}
}

func satoriProofs(t *testing.T, c *harness.SatoriClient, bot *harness.User, alice *human, room id.RoomID) {
	t.Helper()
	// Echo: Matrix → client → Matrix (the event is held until the client has identified).
	alice.send(room, "/echo hi <b>&amp;")
	evt := alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "hi <b>&amp;" })
	t.Logf("echo: %s", evt.Content.VeryRaw)
	// The rest as over OneBot; the original of the quote needs escaping in Satori's elements.
	messageProofs(t, bot, alice, room, "original <text>")
}

// satoriStream is a raw client of the gateway's Satori event stream.
type satoriStream struct {
	t *testing.T
	c *websocket.Conn
}

type satoriSignal struct {
	Op   int             `json:"op"`
	Body json.RawMessage `json:"body"`
}

type satoriEvent struct {
	SN      int64  `json:"sn"`
	Type    string `json:"type"`
	Message *struct {
		ID      string `json:"id"`
		Content string `json:"content"`
	} `json:"message"`
	Channel *struct {
		ID string `json:"id"`
	} `json:"channel"`
}

// dialSatori connects to url and IDENTIFYs with token and, when sn is set, the last sn seen.
func dialSatori(t *testing.T, url, token string, sn *int64) *satoriStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), deadline)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil) // no Authorization, as nonebot-adapter-satori
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	s := &satoriStream{t: t, c: c}
	body := map[string]any{"token": token}
	if sn != nil {
		body["sn"] = *sn
	}
	s.send(3, body)
	if sig := s.read(); sig.Op != 4 || !strings.Contains(string(sig.Body), `"logins":[{`) {
		t.Fatalf("after IDENTIFY: op %d %s, want READY with a login", sig.Op, sig.Body)
	}
	return s
}

func (s *satoriStream) send(op int, body any) {
	s.t.Helper()
	b, _ := json.Marshal(map[string]any{"op": op, "body": body})
	if err := s.c.Write(testCtx(s.t), websocket.MessageText, b); err != nil {
		s.t.Fatal(err)
	}
}

func (s *satoriStream) read() satoriSignal {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(s.t), deadline)
	defer cancel()
	_, data, err := s.c.Read(ctx)
	if err != nil {
		s.t.Fatalf("reading the Satori stream: %v", err)
	}
	var sig satoriSignal
	if err := json.Unmarshal(data, &sig); err != nil {
		s.t.Fatalf("frame %s: %v", data, err)
	}
	return sig
}

// event reads signals until an event (op 0) and returns it, decoded and as it came.
func (s *satoriStream) event() (satoriEvent, json.RawMessage) {
	s.t.Helper()
	for {
		sig := s.read()
		if sig.Op != 0 {
			continue
		}
		var ev satoriEvent
		if err := json.Unmarshal(sig.Body, &ev); err != nil {
			s.t.Fatal(err)
		}
		return ev, sig.Body
	}
}

// message reads events until a message-created whose content is text.
func (s *satoriStream) message(text string) satoriEvent {
	s.t.Helper()
	for {
		ev, body := s.event()
		if ev.SN == 0 {
			s.t.Fatalf("event without sn: %s", body)
		}
		if ev.Type == "message-created" && ev.Message != nil && ev.Message.Content == text {
			return ev
		}
	}
}

// A raw client that comes back with the last sn it saw gets the events it missed from the
// backlog, with the sn they had, before any new one. A second client, connected all along,
// shows that the gateway had published them before the first came back.
func TestSatoriResumeRawWS(t *testing.T) {
	g, _, alice, room := satoriGateway(t)
	url := g.wsURL("/satori/v1/events")
	first := dialSatori(t, url, satoriToken, nil)
	witness := dialSatori(t, url, satoriToken, nil)
	alice.send(room, "one")
	last := first.message("one").SN
	witness.message("one")
	_ = first.c.Close(websocket.StatusNormalClosure, "going away")

	alice.send(room, "two")
	alice.send(room, "three")
	two, three := witness.message("two"), witness.message("three")
	if two.SN != last+1 || three.SN != last+2 {
		t.Fatalf("sn of one, two, three: %d, %d, %d; want consecutive", last, two.SN, three.SN)
	}

	again := dialSatori(t, url, satoriToken, &last)
	if got := again.message("two"); got.SN != two.SN || got.Message.ID != two.Message.ID {
		t.Fatalf("replayed %+v, want sn %d (%s)", got, two.SN, two.Message.ID)
	}
	if got := again.message("three"); got.SN != three.SN {
		t.Fatalf("replayed sn %d, want %d", got.SN, three.SN)
	}
	alice.send(room, "four")
	if got := again.message("four"); got.SN != three.SN+1 {
		t.Fatalf("live sn %d after the replay, want %d", got.SN, three.SN+1)
	}
	waitFor(t, "the gateway to log the resume", func() bool {
		return strings.Contains(g.proc.Log(), "satori client resumed") && strings.Contains(g.proc.Log(), "replayed=2")
	})

	// A wrong token is refused in IDENTIFY.
	ctx, cancel := context.WithTimeout(testCtx(t), deadline)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_ = c.Write(ctx, websocket.MessageText, []byte(`{"op":3,"body":{"token":"wrong"}}`))
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != 4001 {
		t.Fatalf("IDENTIFY with a wrong token: %v, want close code 4001", err)
	}

	// The gateway stops cleanly with Satori clients connected: the bot's final login-updated
	// (offline) reaches them, then their streams end with 1001 (going away).
	g.stop()
	offline := false
	for {
		_, data, err := again.c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("the stream is still open after the gateway stopped")
			}
			if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
				t.Errorf("the stream ended with %v (close code %d), want 1001", err, code)
			}
			break
		}
		t.Logf("before the end: %s", data)
		var sig satoriSignal
		var ev struct {
			Type  string `json:"type"`
			Login *struct {
				Status int `json:"status"`
			} `json:"login"`
		}
		if json.Unmarshal(data, &sig) == nil && sig.Op == 0 && json.Unmarshal(sig.Body, &ev) == nil &&
			ev.Type == "login-updated" && ev.Login != nil && ev.Login.Status == 0 {
			offline = true
		}
	}
	if !offline {
		t.Fatal("the stream ended without the bot's final login-updated (status 0, offline)")
	}
}

// The real clients resume too: the network between the client and the gateway is cut (a thin
// TCP relay in the test, the only stand-in here), a Matrix user sends a command meanwhile, and
// when the network is back the client reconnects, IDENTIFYs with its last sn, gets the command
// replayed and answers it.
func TestSatoriClientsResumeAfterReconnect(t *testing.T) {
	for _, which := range []string{"nonebot", "koishi"} {
		t.Run(which, func(t *testing.T) {
			g, bot, alice, room := satoriGateway(t)
			relay := newFakeTCPRelay(t, strings.TrimPrefix(g.url, "http://"))
			harness.SatoriClientForTest(t, which, harness.SatoriClientOptions{Endpoint: "http://" + relay.addr() + "/satori", Token: satoriToken})
			alice.send(room, "/echo before")
			alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "before" })
			witness := dialSatori(t, g.wsURL("/satori/v1/events"), satoriToken, nil)

			relay.cut()
			alice.send(room, "/echo while away")
			witness.message("/echo while away") // the gateway has it in the backlog
			relay.restore()
			alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "while away" })
			waitFor(t, "the gateway to log the resume", func() bool { return resumedWithReplay.MatchString(g.proc.Log()) })
		})
	}
}

var resumedWithReplay = regexp.MustCompile(`satori client resumed.* replayed=[1-9]`)

// fakeTCPRelay forwards TCP connections to a target; cut closes them all and refuses new ones
// until restore. It stands in for a network outage between a client and the gateway.
type fakeTCPRelay struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func newFakeTCPRelay(t *testing.T, target string) *fakeTCPRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeTCPRelay{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = ln.Close(); r.cut() })
	go r.serve()
	return r
}

func (r *fakeTCPRelay) addr() string { return r.ln.Addr().String() }

func (r *fakeTCPRelay) serve() {
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.down {
			r.mu.Unlock()
			_ = in.Close()
			continue
		}
		out, err := net.Dial("tcp", r.target)
		if err != nil {
			r.mu.Unlock()
			_ = in.Close()
			continue
		}
		r.conns[in], r.conns[out] = struct{}{}, struct{}{}
		r.mu.Unlock()
		go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
		go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
	}
}

func (r *fakeTCPRelay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = true
	for c := range r.conns {
		_ = c.Close()
	}
	clear(r.conns)
}

func (r *fakeTCPRelay) restore() {
	r.mu.Lock()
	r.down = false
	r.mu.Unlock()
}

// satoriCall POSTs a Satori API call as a client does and decodes the answer into out.
func satoriCall(t *testing.T, g *gatewayProc, bot *harness.User, method string, body any, out any) int {
	t.Helper()
	return satoriCallWith(t, g, satoriToken, bot, method, body, out)
}

// satoriCallWith is satoriCall with another access token.
func satoriCallWith(t *testing.T, g *gatewayProc, token string, bot *harness.User, method string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, g.url+"/satori/v1/"+method, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Satori-Platform", "matrix")
	req.Header.Set("Satori-User-ID", bot.UserID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s answered %s: %v", method, data, err)
		}
	}
	t.Logf("%s → %d %s", method, resp.StatusCode, data)
	return resp.StatusCode
}

// message.create, message.update and message.delete through the API against Synapse: the
// update is an m.replace the Matrix user sees with the new text, the delete a redaction; a
// message of someone else cannot be edited (Matrix shows edits by the original sender only).
func TestSatoriMessageUpdateAndDelete(t *testing.T) {
	g, bot, alice, room := satoriGateway(t)
	var created []struct {
		ID string `json:"id"`
	}
	if st := satoriCall(t, g, bot, "message.create", map[string]any{"channel_id": room, "content": "frist <b>post</b>"}, &created); st != 200 || len(created) != 1 {
		t.Fatalf("message.create: %d %+v", st, created)
	}
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "frist post" })
	if st := satoriCall(t, g, bot, "message.update", map[string]any{"channel_id": room, "message_id": created[0].ID, "content": "first post"}, nil); st != 200 {
		t.Fatalf("message.update: %d", st)
	}
	edit := alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool {
		return c.NewContent != nil && c.NewContent.Body == "first post"
	})
	if rel := edit.Content.AsMessage().RelatesTo; rel == nil || rel.Type != event.RelReplace || rel.EventID != id.EventID(created[0].ID) {
		t.Fatalf("the edit relates %+v, want m.replace of %s", rel, created[0].ID)
	}
	stream := dialSatori(t, g.wsURL("/satori/v1/events"), satoriToken, nil) // a consumer: the bot's sync goes on
	theirs := alice.send(room, "not yours")
	stream.message("not yours")
	var got struct {
		Content string `json:"content"`
		User    struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if st := satoriCall(t, g, bot, "message.get", map[string]any{"channel_id": room, "message_id": theirs}, &got); st != 200 ||
		got.Content != "not yours" || got.User.ID != alice.user.UserID {
		t.Fatalf("message.get: %d %+v", st, got)
	}
	if st := satoriCall(t, g, bot, "message.update", map[string]any{"channel_id": room, "message_id": theirs, "content": "x"}, nil); st != 400 {
		t.Fatalf("editing alice's message: %d, want 400", st)
	}
	// message.list reads the history from Synapse: newest first page by page backward (the edit
	// is not a message of its own), then forward again from the second page's next token.
	type page struct {
		Data []struct {
			ID      string `json:"id"`
			Content string `json:"content"`
			User    struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"data"`
		Prev string `json:"prev"`
		Next string `json:"next"`
	}
	var p1, p2, p3 page
	if st := satoriCall(t, g, bot, "message.list", map[string]any{"channel_id": room, "limit": 1}, &p1); st != 200 ||
		len(p1.Data) != 1 || p1.Data[0].ID != string(theirs) || p1.Data[0].User.ID != alice.user.UserID || p1.Prev == "" {
		t.Fatalf("message.list: %d %+v, want alice's message and a prev token", st, p1)
	}
	if st := satoriCall(t, g, bot, "message.list", map[string]any{"channel_id": room, "limit": 1, "next": p1.Prev, "direction": "before"}, &p2); st != 200 ||
		len(p2.Data) != 1 || p2.Data[0].ID != created[0].ID || p2.Data[0].User.ID != bot.UserID || p2.Next == "" {
		t.Fatalf("message.list before: %d %+v, want the bot's message and a next token", st, p2)
	}
	if st := satoriCall(t, g, bot, "message.list", map[string]any{"channel_id": room, "limit": 5, "next": p2.Next, "direction": "after"}, &p3); st != 200 ||
		len(p3.Data) != 1 || p3.Data[0].ID != string(theirs) || p3.Data[0].Content != "not yours" {
		t.Fatalf("message.list after: %d %+v, want alice's message again", st, p3)
	}
	// Reactions through the relations API: alice's 👍 is listed, the bot's 🎉 deleted (redacted).
	alice.sendContent(room, event.EventReaction, &event.ReactionEventContent{RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: id.EventID(created[0].ID), Key: "👍"}})
	if st := satoriCall(t, g, bot, "reaction.create", map[string]any{"channel_id": room, "message_id": created[0].ID, "emoji_id": "🎉"}, nil); st != 200 {
		t.Fatalf("reaction.create: %d", st)
	}
	reacted := func(key string) []string {
		var l struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if st := satoriCall(t, g, bot, "reaction.list", map[string]any{"channel_id": room, "message_id": created[0].ID, "emoji_id": key}, &l); st != 200 {
			t.Fatalf("reaction.list: %d", st)
		}
		var ids []string
		for _, u := range l.Data {
			ids = append(ids, u.ID)
		}
		return ids
	}
	waitFor(t, "alice's 👍 and the bot's 🎉 to be listed", func() bool {
		return slices.Equal(reacted("👍"), []string{alice.user.UserID}) && slices.Equal(reacted("🎉"), []string{bot.UserID})
	})
	if st := satoriCall(t, g, bot, "reaction.delete", map[string]any{"channel_id": room, "message_id": created[0].ID, "emoji_id": "🎉"}, nil); st != 200 {
		t.Fatalf("reaction.delete: %d", st)
	}
	waitFor(t, "the bot's 🎉 to be gone", func() bool { return len(reacted("🎉")) == 0 })
	if st := satoriCall(t, g, bot, "message.delete", map[string]any{"channel_id": room, "message_id": created[0].ID}, nil); st != 200 {
		t.Fatalf("message.delete: %d", st)
	}
	waitFor(t, "the message to be redacted", func() bool {
		evt, err := alice.cli.GetEvent(testCtx(t), room, id.EventID(created[0].ID))
		return err == nil && evt.Unsigned.RedactedBecause != nil
	})
	satoriUploadProof(t, g, bot, alice, room)
}

// upload.create stores a multipart body's file in the gateway's store; the link it answers is
// an <img src> of message.create, and the Matrix user gets that very file as m.image.
func satoriUploadProof(t *testing.T, g *gatewayProc, bot *harness.User, alice *human, room id.RoomID) {
	t.Helper()
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, _ := w.CreateFormFile("pic", "dot.gif")
	fw.Write(gif)
	w.Close()
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, g.url+"/satori/v1/upload.create", &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+satoriToken)
	req.Header.Set("Satori-User-ID", bot.UserID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var links map[string]string
	if resp.StatusCode != 200 || json.Unmarshal(data, &links) != nil || !strings.HasPrefix(links["pic"], g.url+"/media/") {
		t.Fatalf("upload.create: %d %s, want {pic: a link to the gateway's /media}", resp.StatusCode, data)
	}
	if st := satoriCall(t, g, bot, "message.create", map[string]any{"channel_id": room, "content": `<img src="` + links["pic"] + `"/>`}, nil); st != 200 {
		t.Fatalf("message.create with the uploaded image: %d", st)
	}
	img := alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.MsgType == event.MsgImage })
	mxc, err := img.Content.AsMessage().URL.Parse()
	if err != nil {
		t.Fatalf("the image has no mxc URL: %v", err)
	}
	dl, err := alice.cli.Download(testCtx(t), mxc)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(dl.Body)
	dl.Body.Close()
	if !bytes.Equal(got, gif) {
		t.Fatalf("the Matrix user got %q, want the uploaded file", got)
	}
}

// Nothing is lost across a restart: a raw client identifies, goes away, messages arrive, the
// GATEWAY RESTARTS (one message comes while it is down, one after it is back and before the
// client is), and the client resumes with its last sn: it gets exactly the events it missed,
// once each, in order, with growing sn, then live events.
func TestSatoriResumeAfterGatewayRestart(t *testing.T) { satoriResumeAfterRestart(t, nil) }

// The same with the outbox, and so the Satori stream, in PostgreSQL, where frames of concurrent
// transactions could commit out of seq order (storage TestOutboxFramesCommitInSeqOrder).
func TestSatoriResumeAfterGatewayRestartOnPostgres(t *testing.T) {
	satoriResumeAfterRestart(t, map[string]string{
		"GATEWAY_DATABASE":   postgres.ForTest(t).DatabaseForTest(t),
		"GATEWAY_PICKLE_KEY": "e2e-pickle-key-for-postgres",
	})
}

func satoriResumeAfterRestart(t *testing.T, extra map[string]string) {
	bot, alice := newBotUser(t), newHuman(t, "alice")
	dir := t.TempDir()
	env := map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": satoriToken,
	}
	maps.Copy(env, extra)
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)

	first := dialSatori(t, g.wsURL("/satori/v1/events"), satoriToken, nil)
	witness := dialSatori(t, g.wsURL("/satori/v1/events"), satoriToken, nil)
	alice.send(room, "one")
	last := first.message("one").SN
	_ = first.c.Close(websocket.StatusNormalClosure, "going away")
	alice.send(room, "two")
	witness.message("two") // the gateway has it
	g.stop()

	alice.send(room, "three") // while the gateway is down
	g = startGateway(t, dir, env)
	witness = dialSatori(t, g.wsURL("/satori/v1/events"), satoriToken, nil)
	alice.send(room, "four") // before the client is back
	witness.message("four")  // after three: the sync is in order

	again := dialSatori(t, g.wsURL("/satori/v1/events"), satoriToken, &last)
	alice.send(room, "five")
	var got []string
	prev := last
	for len(got) == 0 || got[len(got)-1] != "five" {
		ev, body := again.event()
		if ev.SN <= prev {
			t.Fatalf("sn %d after %d (%s): want growing sn, nothing twice", ev.SN, prev, body)
		}
		prev = ev.SN
		if ev.Type == "message-created" && ev.Message != nil {
			got = append(got, ev.Message.Content)
		}
	}
	if want := []string{"two", "three", "four", "five"}; !slices.Equal(got, want) {
		t.Fatalf("after the restart the client got %q, want %q (each missed event once, then live)", got, want)
	}
	waitFor(t, "the gateway to log the resume", func() bool {
		return strings.Contains(g.proc.Log(), "satori client resumed") && strings.Contains(g.proc.Log(), fmt.Sprintf("sn=%d ", last))
	})
}

// An invite the bot does not accept by itself reaches a Satori client as guild-request (its id
// the room ID); guild.approve with approve: true joins the room on Synapse.
func TestSatoriGuildApprove(t *testing.T) {
	bot, alice := newBotUser(t), newHuman(t, "alice")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": false}),
		"GATEWAY_ACCESS_TOKEN": satoriToken,
	})
	stream := dialSatori(t, g.wsURL("/satori/v1/events"), satoriToken, nil)
	room := alice.roomWith(bot, false)
	for {
		sig := stream.read()
		if sig.Op != 0 {
			continue
		}
		var ev struct {
			Type    string `json:"type"`
			Message struct {
				ID string `json:"id"`
			} `json:"message"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		}
		if err := json.Unmarshal(sig.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "guild-request" && ev.Message.ID == string(room) {
			if ev.User.ID != alice.user.UserID {
				t.Fatalf("guild-request from %q, want alice", ev.User.ID)
			}
			break
		}
	}
	if st := satoriCall(t, g, bot, "guild.approve", map[string]any{"message_id": room, "approve": true}, nil); st != 200 {
		t.Fatalf("guild.approve: %d", st)
	}
	alice.waitJoined(room, bot)
}
