package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

// fakeFace is a third protocol face as thin as can be: it encodes an event as {"n": <calls>,
// "id": …}, and serves GET /fake/next, which answers the next event of the token's bot.
type fakeFace struct {
	encodes int
	host    face.Host
}

func (*fakeFace) Name() string { return "fake" }

func (f *fakeFace) Encode(ev *model.Event, _ face.IDs) ([]byte, error) {
	f.encodes++
	return json.Marshal(map[string]any{"n": f.encodes, "id": ev.ID})
}

func (*fakeFace) MarkReplayed(frame []byte) []byte { return face.MarkField(frame, `"replayed":true,`) }

func (f *fakeFace) Mount(r chi.Router, host face.Host) {
	f.host = host
	r.Get("/fake/next", func(w http.ResponseWriter, r *http.Request) {
		var bot model.Bot = host.Bots()[0]
		if g := host.Grant(r); g != nil {
			bot = g
		}
		st := host.Subscribe(r.Context(), f, face.Subscription{Bot: bot.UserID()})
		defer st.Close()
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // subscribed: the test publishes now
		fr, err := st.Next(r.Context())
		if err != nil {
			return
		}
		st.Done(r.Context(), fr)
		_, _ = w.Write(fr.Payload)
	})
}

// A face registers with one line (Options.Faces): the hub mounts its routes behind the access
// token, tells it which bot a token grants, and streams it the events it encodes, once per event
// whatever the number of its subscribers.
func TestFaceRegistersWithOneLine(t *testing.T) {
	ff := &fakeFace{}
	h := NewHub(Options{
		Version: "test", AccessToken: "secret", HeartbeatInterval: time.Hour, IDs: newTestDB(t).IDs(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ExpectedBots: 1,
		Faces: []face.Face{ff},
	})
	bot := fakes.NewFakeBot("@bot:example.org")
	h.AddBot(bot, 10001)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	if resp, err := http.Get(srv.URL + "/fake/next"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the token: %v %v, want 401", resp, err)
	}
	if ff.host == nil || ff.host.Bot(bot.ID) != bot || len(ff.host.Bots()) != 1 {
		t.Fatalf("the face was not mounted with a host that knows the bot")
	}
	type answer struct {
		body []byte
		err  error
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answers := make(chan answer, 2)
	for range 2 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/fake/next", nil)
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("with the token: %v %v", resp, err)
		}
		go func() {
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answers <- answer{b, err}
		}()
	}
	ev := sampleEvent(false)
	if err := h.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		a := <-answers
		if a.err != nil || string(a.body) != `{"id":"$ev1:example.org","n":1}` {
			t.Fatalf("subscriber got %s (%v), want the event encoded once", a.body, a.err)
		}
	}
}

// stuckIDs is an ID map whose lookups hang until their context ends (a database locked by
// another process, a stuck disk).
type stuckIDs struct{}

func (stuckIDs) V11ID(ctx context.Context, _ storage.IDKind, _ string) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func (stuckIDs) MatrixID(ctx context.Context, _ storage.IDKind, _ int64) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

// The v11 numbers of an event are looked up before it is encoded, within a deadline: a stuck ID
// map holds the event (Publish returns an error, the sync loop publishes it again) instead of
// holding the bot's sync for ever (issue 11 item 2).
func TestStuckIDMapDoesNotHoldTheSyncForEver(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	h.opts.IDs = stuckIDs{}
	h.faces.initFaces()
	h.syncTimeout = 100 * time.Millisecond
	h.fan.subscribe(push.NewSink(11, "@bot:example.org", true))
	done := make(chan error, 1)
	go func() { done <- h.Publish(context.Background(), sampleEvent(false)) }()
	var err error
	wait.For(t, 30*time.Second, "Publish to return", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish: %v, want the lookup's deadline", err)
	}
}

// publicFace serves GET /public/who, which checks the token it is given in the query itself
// (Host.Authorize), as Satori's event stream does with the token of its first frame.
type publicFace struct{ fakeFace }

func (f *publicFace) MountPublic(r chi.Router, host face.Host) {
	r.Get("/public/who", func(w http.ResponseWriter, r *http.Request) {
		bot, ok := host.Authorize(r.URL.Query().Get("t"))
		switch {
		case !ok:
			w.WriteHeader(http.StatusForbidden)
		case bot == nil:
			_, _ = io.WriteString(w, "every bot")
		default:
			_, _ = io.WriteString(w, string(bot.UserID()))
		}
	})
}

// A face whose routes check the token themselves (face.PublicMounter) is mounted without the
// hub's token check, and Host.Authorize answers as the hub would: the gateway's token grants
// every bot, a bot's own token that bot, anything else nothing.
func TestPublicMounterChecksTokensItself(t *testing.T) {
	pf := &publicFace{}
	h := NewHub(Options{
		Version: "test", AccessToken: "secret", BotTokens: true, HeartbeatInterval: time.Hour, IDs: newTestDB(t).IDs(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ExpectedBots: 1,
		Faces: []face.Face{pf},
	})
	bot := fakes.NewFakeBot("@bot:example.org")
	h.AddBotWithToken(bot, 10001, "bot-secret")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	for token, want := range map[string]string{"secret": "every bot", "bot-secret": "@bot:example.org", "wrong": "403", "": "403"} {
		resp, err := http.Get(srv.URL + "/public/who?t=" + token) // no Authorization header
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := string(body)
		if resp.StatusCode != http.StatusOK {
			got = strconv.Itoa(resp.StatusCode)
		}
		if got != want {
			t.Errorf("token %q: %s, want %s", token, got, want)
		}
	}
}

// stuckOutbox is an outbox whose appends hang until their context ends.
type stuckOutbox struct{ OutboxStore }

func (stuckOutbox) OutboxAppendAll(ctx context.Context, _ []storage.OutboxFrame, _ time.Time, _ storage.OutboxLimits) (storage.OutboxAppended, error) {
	<-ctx.Done()
	return storage.OutboxAppended{}, ctx.Err()
}

// The outbox write of Publish has a deadline too: a stuck database holds the event (the sync
// loop publishes it again) instead of the bot's sync for ever (issue 11 item 2).
func TestStuckOutboxDoesNotHoldTheSyncForEver(t *testing.T) {
	h, _, db := newTestHub(t, "")
	h.opts.Outbox = stuckOutbox{db.Outbox()}
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100}
	h.syncTimeout = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	f := h.push.NewFeed(ctx, "test-endpoint", 12, "", true, "webhook")
	t.Cleanup(func() { cancel(); f.Close() })
	done := make(chan error, 1)
	go func() { done <- h.Publish(context.Background(), sampleEvent(false)) }()
	var err error
	wait.For(t, 30*time.Second, "Publish to return", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish: %v, want the outbox write's deadline", err)
	}
}

// A retained stream (face.Subscription.Retain) keeps its frames in the outbox after Done: the
// face reads them again from any position (face.History), a new run of the hub on the same
// database starts after the frames kept, and a face can tell that its stream was used before
// (face.Retainer). The frames are written before Publish returns (the sync moves on only then).
func TestRetainedFaceStreamKeepsFramesAcrossRuns(t *testing.T) {
	db := newTestDB(t)
	bot := fakes.NewFakeBot("@bot:example.org")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	run := func() (*Hub, faceHost, *fakeFace) {
		h, ff := outboxHub(db, bot, 3)
		return h, faceHost{h}, ff
	}
	publish := func(h *Hub, id string) {
		ev := sampleEvent(false)
		ev.ID = id
		if err := h.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}

	h, host, ff := run()
	if used, err := host.Retained(ctx, ff, "events"); used || err != nil {
		t.Fatalf("Retained before any subscription = %v, %v", used, err)
	}
	subCtx, endSub := context.WithCancel(ctx) // a feed closes once its context has ended
	st := host.Subscribe(subCtx, ff, face.Subscription{Key: "events", Retain: true})
	hist, ok := st.(face.History)
	if !ok {
		t.Fatalf("a retained stream with an outbox is not a face.History: %T", st)
	}
	if hist.Position() != 0 {
		t.Fatalf("position of a new stream = %d, want 0", hist.Position())
	}
	var seqs []int64
	next := func() {
		fr, err := st.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Done(ctx, fr)
		seqs = append(seqs, fr.Seq)
	}
	publish(h, "$a")
	next()
	for _, id := range []string{"$b", "$c", "$d"} {
		publish(h, id)
	}
	for range 3 {
		next()
	}
	if hist.Position() != seqs[3] || !(seqs[0] < seqs[1] && seqs[1] < seqs[2] && seqs[2] < seqs[3]) {
		t.Fatalf("seqs %v, position %d: want growing seqs and the last as position", seqs, hist.Position())
	}
	kept, err := hist.After(ctx, 0, 10)
	if err != nil || len(kept) != 3 || kept[0].Seq != seqs[1] || !strings.Contains(string(kept[0].Payload), `"$b"`) {
		t.Fatalf("kept after Done: %+v, %v; want $b..$d (3 kept, the oldest dropped)", kept, err)
	}
	endSub()
	st.Close()

	// The next run: the frames kept are history; the stream goes on after them.
	h, host, ff = run()
	if used, err := host.Retained(ctx, ff, "events"); !used || err != nil {
		t.Fatalf("Retained after a run = %v, %v; want true", used, err)
	}
	subCtx, endSub = context.WithCancel(ctx)
	st = host.Subscribe(subCtx, ff, face.Subscription{Key: "events", Retain: true})
	defer st.Close()
	defer endSub()
	if got := st.(face.History).Position(); got != seqs[3] {
		t.Fatalf("position at the start of the next run = %d, want %d", got, seqs[3])
	}
	publish(h, "$e")
	fr, err := st.Next(ctx)
	if err != nil || fr.Seq <= seqs[3] || !strings.Contains(string(fr.Payload), `"$e"`) || fr.Replayed {
		t.Fatalf("next of the new run: %+v %v; want $e, live, after %d", fr, err, seqs[3])
	}
	if rows, _ := st.(face.History).After(ctx, seqs[2], 10); len(rows) != 2 || rows[0].Seq != seqs[3] || rows[1].Seq != fr.Seq {
		t.Fatalf("after %d: %+v, want $d and $e", seqs[2], rows)
	}
}

// GATEWAY_ENCRYPTED_BODY_RETENTION=0 holds for a retained stream: an event of an encrypted room
// (decrypted by the gateway) is written to the outbox only to be handed over, and is deleted once
// it is; the other events stay for clients that resume. One that an earlier run left in the
// outbox undelivered goes when the next run's stream starts, since it is history then.
func TestRetainedStreamKeepsNoDecryptedFrames(t *testing.T) {
	db := newTestDB(t)
	db.SetRetention(storage.Retention{MessageAge: time.Hour, NoEncryptedBodies: true})
	bot := fakes.NewFakeBot("@bot:example.org")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	run := func() (*Hub, face.Stream, context.CancelFunc) {
		h, ff := outboxHub(db, bot, 100)
		subCtx, endSub := context.WithCancel(ctx)
		return h, faceHost{h}.Subscribe(subCtx, ff, face.Subscription{Key: "events", Retain: true}), endSub
	}
	publish := func(h *Hub, id string, decrypted bool) {
		ev := sampleEvent(false)
		ev.ID, ev.Decrypted = id, decrypted
		if err := h.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	kept := func() []string {
		rows, err := db.Outbox().OutboxAfter(ctx, "fake:events", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range rows {
			ids = append(ids, regexp.MustCompile(`\$[a-z]+`).FindString(string(r.Payload)))
		}
		return ids
	}

	h, st, endSub := run()
	publish(h, "$plain", false)
	publish(h, "$secret", true)
	publish(h, "$late", true) // not handed over in this run
	for _, want := range []string{"$plain", "$secret"} {
		fr, err := st.Next(ctx)
		if err != nil || !strings.Contains(string(fr.Payload), `"`+want+`"`) {
			t.Fatalf("Next = %s, %v; want %s", fr.Payload, err, want)
		}
		st.Done(ctx, fr)
	}
	if got := fmt.Sprint(kept()); got != "[$plain $late]" {
		t.Fatalf("kept after delivery: %s; want $plain (and $late, not delivered yet), not the decrypted $secret", got)
	}
	endSub()
	st.Close()

	_, st, endSub = run()
	defer st.Close()
	defer endSub()
	if got := fmt.Sprint(kept()); got != "[$plain]" {
		t.Fatalf("kept at the start of the next run: %s; want only $plain", got)
	}
}

// The outbox metrics of a retained stream (Satori's) say what waits to be handed over, not what
// is kept after delivery for clients that resume: outbox_depth counts the frames after the
// stream's position, outbox_kept all of its frames.
func TestRetainedStreamOutboxDepthIsWhatWaits(t *testing.T) {
	db := newTestDB(t)
	bot := fakes.NewFakeBot("@bot:example.org")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, ff := outboxHub(db, bot, 100)
	subCtx, endSub := context.WithCancel(ctx)
	st := faceHost{h}.Subscribe(subCtx, ff, face.Subscription{Key: "events", Retain: true})
	defer st.Close()
	defer endSub()
	for _, id := range []string{"$a", "$b", "$c"} {
		ev := sampleEvent(false)
		ev.ID = id
		if err := h.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		fr, err := st.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Done(ctx, fr)
	}
	got := map[string]float64{}
	for _, s := range h.fan.metricSamples() {
		if s.Labels["endpoint"] == "fake:events" {
			got[s.Name] = s.Value
		}
	}
	if got["outbox_depth"] != 1 || got["outbox_kept"] != 3 {
		t.Fatalf("metrics of the retained stream: %v; want outbox_depth 1 (one frame not handed over yet) and outbox_kept 3", got)
	}
}

// A face's request bodies count against the process's request bytes in flight
// (face.BodyReader) as OneBot's do: held until released, refused with face.ErrBusy when the
// budget stays full, face.ErrTooLarge over the face's limit.
func TestFaceBodiesCountInFlight(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	h.inflight = web.NewBudget(1000, 50*time.Millisecond)
	h.opts.Web.MaxActionSize = 100
	host := faceHost{h}
	ctx := context.Background()

	big := strings.Repeat("x", 600)
	body, release, err := host.ReadBody(ctx, strings.NewReader(big), 800)
	if err != nil || string(body) != big {
		t.Fatalf("ReadBody: %d bytes, %v; want the 600 bytes", len(body), err)
	}
	if held := h.inflight.Held(); held < 600 {
		t.Fatalf("held %d bytes while the body is in use, want at least 600", held)
	}
	if _, _, err := host.ReadBody(ctx, strings.NewReader(big), 800); !errors.Is(err, face.ErrBusy) {
		t.Fatalf("a second 600 bytes within 1000: %v, want face.ErrBusy", err)
	}
	release()
	release() // once only
	if held := h.inflight.Held(); held != 0 {
		t.Fatalf("held %d bytes after release, want 0", held)
	}
	if _, _, err := host.ReadBody(ctx, strings.NewReader(big), 500); !errors.Is(err, face.ErrTooLarge) {
		t.Fatalf("600 bytes over a limit of 500: %v, want face.ErrTooLarge", err)
	}
	if held := h.inflight.Held(); held != 0 {
		t.Fatalf("held %d bytes after a refused body, want 0", held)
	}
}

// outboxHub is a hub of one fakeFace with bot (v11 self ID 10001) whose outbox is db's, keeping
// at most maxEvents frames a stream.
func outboxHub(db *storage.DB, bot *fakes.FakeBot, maxEvents int) (*Hub, *fakeFace) {
	ff := &fakeFace{}
	h := NewHub(Options{
		Version: "test", HeartbeatInterval: time.Hour, IDs: db.IDs(), Faces: []face.Face{ff},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ExpectedBots: 1,
		Transports: Transports{Outbox: db.Outbox(), OutboxLimits: storage.OutboxLimits{MaxEvents: maxEvents}},
	})
	h.AddBot(bot, 10001)
	return h, ff
}
