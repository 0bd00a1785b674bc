package satori

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

const testToken = "secret"

// fakeHost is a stand-in for the gateway's hub: fixed bots, one access token, and media sources
// "stored" under made-up file ids.
type fakeHost struct {
	mu   sync.Mutex
	bots []model.Bot
}

func (h *fakeHost) Bots() []model.Bot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]model.Bot(nil), h.bots...)
}

func (h *fakeHost) Authorize(token string) (model.Bot, bool) { return nil, token == testToken }

func (h *fakeHost) ResolveMedia(_ context.Context, segs []model.Segment) error {
	for i, s := range segs {
		if m, ok := s.(model.Media); ok && m.Source != "" {
			segs[i] = model.Media{Kind: m.Kind, File: model.FileInfo{ID: "stored:" + m.Source}}
		}
	}
	return nil
}

type testFace struct {
	face *Face
	bot  *fakes.FakeBot
	srv  *httptest.Server
}

func newTestFace(t *testing.T, opts Options) *testFace {
	t.Helper()
	bot := fakes.NewFakeBot("@bot:example.org")
	opts.Host = &fakeHost{bots: []model.Bot{bot}}
	f := New(opts)
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return &testFace{face: f, bot: bot, srv: srv}
}

func (tf *testFace) message(n int) *model.Event {
	evt := id.EventID("$m" + string(rune('a'+n)) + ":example.org")
	return &model.Event{ID: string(evt), Time: time.UnixMilli(1700000000000), Self: tf.bot.ID, Kind: model.KindMessage,
		Message: &model.Message{EventID: evt, RoomID: fakes.FakeRoom, Sender: "@alice:example.org", SenderName: "Alice",
			Segments: []model.Segment{model.Mention{User: tf.bot.ID}, model.Text{Text: " hi <3"}}}}
}

// stream is a raw event-stream client.
type stream struct {
	t *testing.T
	c *websocket.Conn
}

func (tf *testFace) dial(t *testing.T) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(tf.srv.URL, "http")+"/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return &stream{t: t, c: c}
}

func (s *stream) send(op int, body any) {
	s.t.Helper()
	b, _ := json.Marshal(body)
	data, _ := json.Marshal(Signal{Op: op, Body: b})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.c.Write(ctx, websocket.MessageText, data); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stream) read() (Signal, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := s.c.Read(ctx)
	if err != nil {
		return Signal{}, err
	}
	var sig Signal
	if err := json.Unmarshal(data, &sig); err != nil {
		s.t.Fatalf("frame %s: %v", data, err)
	}
	return sig, nil
}

func (s *stream) expect(op int) Signal {
	s.t.Helper()
	sig, err := s.read()
	if err != nil {
		s.t.Fatal(err)
	}
	if sig.Op != op {
		s.t.Fatalf("got op %d (%s), want op %d", sig.Op, sig.Body, op)
	}
	return sig
}

func (s *stream) event() Event {
	s.t.Helper()
	var ev Event
	if err := json.Unmarshal(s.expect(OpEvent).Body, &ev); err != nil {
		s.t.Fatal(err)
	}
	return ev
}

func (s *stream) identify(sn *int64) Ready {
	s.t.Helper()
	s.send(OpIdentify, Identify{Token: testToken, SN: sn})
	var r Ready
	if err := json.Unmarshal(s.expect(OpReady).Body, &r); err != nil {
		s.t.Fatal(err)
	}
	return r
}

// connected waits until the face has n live streams.
func (tf *testFace) connected(t *testing.T, n int) {
	t.Helper()
	wait.For(t, 10*time.Second, fmt.Sprintf("%d event streams", n), func() bool {
		tf.face.mu.Lock()
		defer tf.face.mu.Unlock()
		return len(tf.face.sessions) == n
	})
}

func TestEventStreamIdentifyReadyEventsPing(t *testing.T) {
	tf := newTestFace(t, Options{})
	s := tf.dial(t)
	r := s.identify(nil)
	if len(r.Logins) != 1 || r.Logins[0].User == nil || r.Logins[0].User.ID != "@bot:example.org" ||
		r.Logins[0].Platform != "matrix" || r.Logins[0].Status != StatusOnline || r.Logins[0].SelfID != "@bot:example.org" {
		t.Fatalf("READY logins = %+v", r.Logins)
	}
	if n := tf.face.Publish(context.Background(), tf.message(0)); n != 2 { // the stream and the backlog
		t.Fatalf("Publish took %d consumers, want 2", n)
	}
	ev := s.event()
	if ev.Type != "message-created" || ev.Message == nil || ev.Message.Content != `<at id="@bot:example.org"/> hi &lt;3` ||
		ev.Channel == nil || ev.Channel.ID != string(fakes.FakeRoom) || ev.Channel.Type != ChannelText ||
		ev.Guild == nil || ev.User == nil || ev.User.ID != "@alice:example.org" || ev.Member == nil ||
		ev.Login == nil || ev.Login.User.ID != "@bot:example.org" || ev.SN == 0 || ev.Timestamp != 1700000000000 {
		t.Fatalf("event = %+v", ev)
	}
	tf.face.Publish(context.Background(), tf.message(1))
	if ev2 := s.event(); ev2.SN != ev.SN+1 {
		t.Fatalf("second event sn %d, want %d", ev2.SN, ev.SN+1)
	}
	s.send(OpPing, map[string]any{})
	s.expect(OpPong)
}

func TestEventStreamRefusesBadIdentify(t *testing.T) {
	tf := newTestFace(t, Options{})
	for name, first := range map[string]func(s *stream){
		"wrong token": func(s *stream) { s.send(OpIdentify, Identify{Token: "nope"}) },
		"no token":    func(s *stream) { s.send(OpIdentify, map[string]any{}) },
		"ping first":  func(s *stream) { s.send(OpPing, map[string]any{}) },
	} {
		t.Run(name, func(t *testing.T) {
			s := tf.dial(t)
			first(s)
			_, err := s.read()
			if code := websocket.CloseStatus(err); code != closeUnauthorized {
				t.Fatalf("read after a bad IDENTIFY: %v (close code %d), want close code %d", err, code, closeUnauthorized)
			}
		})
	}
	if n := tf.face.Publish(context.Background(), tf.message(0)); n != 0 {
		t.Fatalf("Publish took %d consumers with no client identified, want 0", n)
	}
}

// A client that comes back with the last sn it saw gets the events it missed, in order, once,
// then the live ones.
func TestEventStreamResumeReplaysMissedEvents(t *testing.T) {
	tf := newTestFace(t, Options{})
	ctx := context.Background()
	s := tf.dial(t)
	s.identify(nil)
	tf.face.Publish(ctx, tf.message(0))
	last := s.event().SN
	_ = s.c.Close(websocket.StatusNormalClosure, "")
	tf.connected(t, 0)

	// Missed while away: the backlog takes them (a client identified before).
	for i := 1; i <= 3; i++ {
		if n := tf.face.Publish(ctx, tf.message(i)); n != 1 {
			t.Fatalf("Publish with the client away took %d consumers, want 1 (the backlog)", n)
		}
	}
	s2 := tf.dial(t)
	s2.identify(&last)
	for i := 1; i <= 3; i++ {
		ev := s2.event()
		if ev.SN != last+int64(i) || ev.Message.ID != tf.message(i).ID {
			t.Fatalf("replayed event %d: sn %d id %s, want sn %d id %s", i, ev.SN, ev.Message.ID, last+int64(i), tf.message(i).ID)
		}
	}
	tf.face.Publish(ctx, tf.message(4))
	if ev := s2.event(); ev.SN != last+4 {
		t.Fatalf("live event after the replay: sn %d, want %d", ev.SN, last+4)
	}

	// A client without sn gets no replay.
	s3 := tf.dial(t)
	s3.identify(nil)
	tf.face.Publish(ctx, tf.message(5))
	if ev := s3.event(); ev.SN != last+5 {
		t.Fatalf("new client's first event sn %d, want %d (no replay)", ev.SN, last+5)
	}
}

func TestEventStreamSlowClientIsDisconnected(t *testing.T) {
	tf := newTestFace(t, Options{QueueSize: 2})
	s := tf.dial(t)
	s.identify(nil)
	tf.connected(t, 1)
	// The client reads nothing: the kernel's socket buffers fill, then the face's queue; then the
	// session ends rather than block. How many events that takes depends on the buffers and on how
	// fast the writer drains the queue, so events go on until the session has ended (200 were not
	// always enough under -race on a loaded machine).
	i := 0
	wait.For(t, 30*time.Second, "the slow client's session to end", func() bool {
		for range 200 {
			tf.face.Publish(context.Background(), tf.message(i%20))
			i++
		}
		tf.face.mu.Lock()
		defer tf.face.mu.Unlock()
		return len(tf.face.sessions) == 0
	})
}

func TestBacklogKeepsTheNewest(t *testing.T) {
	b := newBacklog(3, 100)
	for i := 0; i < 5; i++ {
		b.add("@b:x", func(sn int64) []byte { return []byte{byte(sn)} })
	}
	frames, complete := b.after(100) // 101 was dropped
	if complete || len(frames) != 3 || frames[0].sn != 102 || frames[2].sn != 104 {
		t.Fatalf("after(100) = %v, complete %v; want sn 102..104, incomplete", frames, complete)
	}
	if frames, complete = b.after(101); !complete || len(frames) != 3 {
		t.Fatalf("after(101) = %v, complete %v; want sn 102..104, complete", frames, complete)
	}
	frames, complete = b.after(102)
	if !complete || len(frames) != 2 || frames[0].sn != 103 {
		t.Fatalf("after(102) = %v, complete %v; want 103, 104 complete", frames, complete)
	}
	if frames, complete = b.after(104); !complete || len(frames) != 0 {
		t.Fatalf("after(104) = %v, %v; want nothing, complete", frames, complete)
	}
	if b.last() != 104 {
		t.Fatalf("last = %d", b.last())
	}
}

func (tf *testFace) post(t *testing.T, method, body string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, tf.srv.URL+"/v1/"+method, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func TestAPIMessageCreate(t *testing.T) {
	tf := newTestFace(t, Options{})
	status, body := tf.post(t, "message.create",
		`{"channel_id":"`+string(fakes.FakeRoom)+`","content":"<quote id=\"$q\"/><at id=\"@alice:example.org\"/> a &amp; b<img src=\"https://example.org/c.png\"/>"}`,
		map[string]string{"Satori-Platform": "matrix", "Satori-User-ID": "@bot:example.org"})
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var msgs []Message
	if err := json.Unmarshal(body, &msgs); err != nil || len(msgs) != 1 || msgs[0].ID != "$fake1:example.org" || msgs[0].Channel.ID != string(fakes.FakeRoom) {
		t.Fatalf("answer %s (%v)", body, err)
	}
	sent := tf.bot.Sent()
	if len(sent) != 1 || sent[0].To.RoomID != fakes.FakeRoom {
		t.Fatalf("sent %+v", sent)
	}
	want := []model.Segment{
		model.Reply{Event: "$q"}, model.Mention{User: "@alice:example.org"}, model.Text{Text: " a & b"},
		model.Media{Kind: model.MediaImage, File: model.FileInfo{ID: "stored:https://example.org/c.png"}},
	}
	if got := sent[0].Segments; !reflect.DeepEqual(got, want) {
		t.Fatalf("segments %#v\nwant %#v", got, want)
	}

	// A private channel names a user: the bot finds or creates the direct room.
	if status, body := tf.post(t, "message.create", `{"channel_id":"private:@carol:example.org","content":"hey"}`,
		map[string]string{"X-Self-ID": "@bot:example.org", "X-Platform": "matrix"}); status != 200 {
		t.Fatalf("private: status %d: %s", status, body)
	}
	if sent := tf.bot.Sent(); len(sent) != 2 || sent[1].To.UserID != "@carol:example.org" {
		t.Fatalf("sent %+v", sent)
	}
}

func TestAPIResources(t *testing.T) {
	tf := newTestFace(t, Options{})
	room := string(fakes.FakeRoom)
	for _, c := range []struct{ method, body, want string }{
		{"login.get", ``, `"user":{"id":"@bot:example.org"`},
		{"guild.get", `{"guild_id":"` + room + `"}`, `{"id":"` + room + `","name":"Room"}`},
		{"guild.list", `{}`, `{"data":[{"id":"` + room + `","name":"Room"}]}`},
		{"channel.get", `{"channel_id":"!dm:example.org"}`, `"type":1`},
		{"channel.get", `{"channel_id":"` + room + `"}`, `{"id":"` + room + `","type":0,"name":"Room"}`},
		{"channel.list", `{"guild_id":"` + room + `"}`, `{"data":[{"id":"` + room + `","type":0,"name":"Room"}]}`},
		{"user.channel.create", `{"user_id":"@alice:example.org"}`, `{"id":"!dm:example.org","type":1,"name":"Alice"}`},
		{"user.channel.create", `{"user_id":"@dave:example.org"}`, `{"id":"private:@dave:example.org","type":1}`},
		{"guild.member.list", `{"guild_id":"` + room + `"}`, `"user":{"id":"@alice:example.org","name":"Alice"}`},
		{"message.delete", `{"channel_id":"` + room + `","message_id":"$x"}`, `{}`},
		{"reaction.create", `{"channel_id":"` + room + `","message_id":"$x","emoji_id":"👍"}`, `{}`},
		{"guild.member.mute", `{"guild_id":"` + room + `","user_id":"@alice:example.org","duration":60000}`, `{}`},
		{"channel.mute", `{"channel_id":"` + room + `","enable":true}`, `{}`},
	} {
		status, body := tf.post(t, c.method, c.body, nil)
		if status != 200 || !strings.Contains(string(body), c.want) {
			t.Errorf("%s %s: %d %s, want 200 with %s", c.method, c.body, status, body, c.want)
		}
	}
	calls := tf.bot.Actions.Calls()
	var names []string
	for _, c := range calls {
		names = append(names, c.Method)
	}
	for _, want := range []string{"DeleteMessage", "React", "Mute", "SetWholeMute"} {
		if !slices.Contains(names, want) {
			t.Errorf("bot calls %v: no %s", names, want)
		}
	}
	for _, c := range calls {
		if c.Method == "Mute" && fmt.Sprint(c.Args) != fmt.Sprint([]any{fakes.FakeRoom, id.UserID("@alice:example.org"), time.Minute}) {
			t.Errorf("Mute%v, want the room, alice and 1m0s", c.Args)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	tf := newTestFace(t, Options{})
	for _, c := range []struct {
		name, method, body string
		hdr                map[string]string
		status             int
	}{
		{"no token", "login.get", ``, map[string]string{"Authorization": ""}, 401},
		{"wrong token", "login.get", ``, map[string]string{"Authorization": "Bearer nope"}, 403},
		{"not bearer", "login.get", ``, map[string]string{"Authorization": "Basic x"}, 401},
		{"unknown method", "channel.explode", `{}`, nil, 404},
		{"mute without duration", "guild.member.mute", `{"guild_id":"!r:x","user_id":"@a:x"}`, nil, 400},
		{"mute too long", "guild.member.mute", `{"guild_id":"!r:x","user_id":"@a:x","duration":1e12}`, nil, 400},
		{"other platform", "login.get", ``, map[string]string{"Satori-Platform": "discord"}, 400},
		{"unknown bot", "login.get", ``, map[string]string{"Satori-User-ID": "@other:example.org"}, 404},
		{"body not JSON", "message.create", `{`, nil, 400},
		{"wrong field type", "message.create", `{"channel_id":1}`, nil, 400},
		{"missing channel", "message.create", `{"content":"x"}`, nil, 400},
		{"channel not a room", "message.create", `{"channel_id":"general","content":"x"}`, nil, 400},
		{"bad element", "message.create", `{"channel_id":"!r:x","content":"<at/>"}`, nil, 400},
		{"empty content", "message.create", `{"channel_id":"!r:x","content":""}`, nil, 400},
		{"room unknown to the bot", "guild.get", `{"guild_id":"!nope:x"}`, nil, 404},
	} {
		status, body := tf.post(t, c.method, c.body, c.hdr)
		var e apiError
		if status != c.status || json.Unmarshal(body, &e) != nil || e.Message == "" {
			t.Errorf("%s: %d %s, want %d with a message", c.name, status, body, c.status)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, tf.srv.URL+"/v1/login.get", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d, want 405", resp.StatusCode)
	}
	tf.bot.Actions.FailWith(&model.ActionError{Kind: model.ErrPlatform, MatrixErr: "M_FORBIDDEN", Message: "no"})
	if status, body := tf.post(t, "message.delete", `{"channel_id":"!r:x","message_id":"$m"}`, nil); status != 403 {
		t.Fatalf("a homeserver refusal: %d %s, want 403", status, body)
	}
}

// The hub encodes each event once for the face: without sn (the face numbers events as they
// reach its streams), marked when replayed; kinds Satori has no event for are not encoded.
func TestEncodeForTheHub(t *testing.T) {
	tf := newTestFace(t, Options{})
	frame, err := tf.face.Encode(tf.message(0), nil)
	if err != nil || !bytes.HasPrefix(frame, []byte(`{"type":"message-created",`)) {
		t.Fatalf("Encode = %s, %v", frame, err)
	}
	replayed := tf.face.MarkReplayed(frame)
	if !bytes.HasPrefix(replayed, []byte(`{"matrix":{"replayed":true},"type":`)) || !bytes.Equal(tf.face.MarkReplayed(replayed), replayed) {
		t.Fatalf("MarkReplayed = %s", replayed)
	}
	var ev Event
	if err := json.Unmarshal(withSN(replayed, 7), &ev); err != nil || ev.SN != 7 || ev.Type != "message-created" {
		t.Fatalf("numbered %s: %+v %v", withSN(replayed, 7), ev, err)
	}
	typing := &model.Event{ID: "t", Self: tf.bot.ID, Kind: model.KindTyping, Typing: &model.Typing{RoomID: fakes.FakeRoom}}
	if frame, err := tf.face.Encode(typing, nil); frame != nil || err != nil {
		t.Fatalf("Encode(typing) = %s, %v; want nothing", frame, err)
	}
}

// A bot's status change reaches the streams as login-added (a bot they had not heard of) or
// login-updated, numbered like any event.
func TestStatusChangedIsALoginEvent(t *testing.T) {
	tf := newTestFace(t, Options{})
	s := tf.dial(t)
	s.identify(nil) // READY names the bot: it is known
	tf.bot.Control.SetStatus(model.BotStatus{State: model.StateOffline, Reason: "token refused"})
	frame := tf.face.StatusChanged(nil, face.Bot{Bot: tf.bot}, false, true)
	tf.face.emit(tf.bot.ID, frame)
	ev := s.event()
	if ev.Type != "login-updated" || ev.Login == nil || ev.Login.Status != StatusOffline || ev.SN == 0 || ev.Login.User.ID != string(tf.bot.ID) {
		t.Fatalf("event %+v", ev)
	}
	other := fakes.NewFakeBot("@new:example.org")
	var added Event
	if err := json.Unmarshal(tf.face.StatusChanged(nil, face.Bot{Bot: other}, true, false), &added); err != nil ||
		added.Type != "login-added" || added.SelfID != "@new:example.org" || added.Login.Status != StatusOnline {
		t.Fatalf("a new bot: %+v (%v)", added, err)
	}
}

// fakeHubHost is a stand-in for the hub as face.Host: its stream hands out the frames the test
// queues, as the hub does once the face has subscribed.
type fakeHubHost struct {
	fakeHost
	subscribed chan struct{}
	frames     chan []byte
	done       chan face.Frame
}

func (h *fakeHubHost) Bot(u id.UserID) model.Bot     { return nil }
func (h *fakeHubHost) Grant(*http.Request) model.Bot { return nil }
func (h *fakeHubHost) Logger() *slog.Logger          { return slog.Default() }
func (h *fakeHubHost) Subscribe(context.Context, face.Face, face.Subscription) face.Stream {
	close(h.subscribed)
	return fakeStream{h}
}

type fakeStream struct{ h *fakeHubHost }

func (s fakeStream) Next(ctx context.Context) (face.Frame, error) {
	select {
	case b := <-s.h.frames:
		return face.Frame{Payload: b}, nil
	case <-ctx.Done():
		return face.Frame{}, ctx.Err()
	}
}
func (s fakeStream) Done(_ context.Context, fr face.Frame) { s.h.done <- fr }
func (fakeStream) Fail()                                   {}
func (fakeStream) Close()                                  {}

// Mounted on the hub, the face subscribes to the hub's events at the first IDENTIFY (not
// before: until a client comes, the hub holds the bots' events), and numbers the hub's frames
// in order onto the streams of their bot; an event the hub held for want of a consumer reaches
// that first client.
func TestHubStreamFeedsTheSessions(t *testing.T) {
	bot := fakes.NewFakeBot("@bot:example.org")
	host := &fakeHubHost{fakeHost: fakeHost{bots: []model.Bot{bot}}, subscribed: make(chan struct{}),
		frames: make(chan []byte, 4), done: make(chan face.Frame, 4)}
	f := New(Options{Path: "/satori"})
	r := chi.NewRouter()
	f.MountPublic(r, host)
	srv := httptest.NewServer(r)
	defer srv.Close()
	tf := &testFace{face: f, bot: bot, srv: srv}

	held, _ := f.Encode(tf.message(0), nil) // queued before any client: the hub held it
	host.frames <- held
	select {
	case <-host.subscribed:
		t.Fatal("subscribed before a client identified")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/satori/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	s := &stream{t: t, c: c}
	s.identify(nil)
	first := s.event()
	if first.Message == nil || first.Message.ID != tf.message(0).ID || first.SN == 0 {
		t.Fatalf("first event %+v, want the held message", first)
	}
	next, _ := f.Encode(tf.message(1), nil)
	host.frames <- f.MarkReplayed(next)
	if ev := s.event(); ev.SN != first.SN+1 || ev.Message.ID != tf.message(1).ID {
		t.Fatalf("second event %+v, want sn %d", ev, first.SN+1)
	}
	for range 2 {
		select {
		case <-host.done:
		case <-ctx.Done():
			t.Fatal("the face did not mark the hub's frames done")
		}
	}
}

// Login.features names only methods the face serves, and every optional method it serves.
func TestFeaturesAreServed(t *testing.T) {
	for _, f := range features {
		if _, ok := resources[f]; !ok {
			t.Errorf("feature %q is not served", f)
		}
	}
	for _, m := range []string{"message.list", "reaction.list", "reaction.delete", "reaction.clear", "upload.create", "message.update"} {
		if _, ok := resources[m]; ok && !slices.Contains(features, m) {
			t.Errorf("%q is served but not in Login.features", m)
		}
	}
}

// A text frame that is not UTF-8 ends the event stream with 1007 (invalid frame payload data), as
// on OneBot's WebSockets, before and after IDENTIFY: a text frame must be UTF-8 (RFC 6455 §5.6),
// and the JSON decoder would otherwise take it with its bad bytes replaced. Before, the stream
// took such a PING and answered it.
func TestEventStreamRefusesTextThatIsNotUTF8(t *testing.T) {
	tf := newTestFace(t, Options{})
	write := func(s *stream, data string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.c.Write(ctx, websocket.MessageText, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	for name, identified := range map[string]bool{"before IDENTIFY": false, "after IDENTIFY": true} {
		t.Run(name, func(t *testing.T) {
			s := tf.dial(t)
			frame := `{"op":1,"body":{"x":"` + "\xff\xfe" + `"}}`
			if identified {
				s.identify(nil)
			} else {
				frame = `{"op":3,"body":{"token":"` + testToken + "\xff" + `"}}`
			}
			write(s, frame)
			sig, err := s.read()
			if code := websocket.CloseStatus(err); code != websocket.StatusInvalidFramePayloadData {
				t.Fatalf("after a text frame that is not UTF-8: op %d, %v (close code %d); want close code 1007", sig.Op, err, code)
			}
		})
	}
}
