package satori

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

// fakeOutbox is a stand-in for the hub's outbox under one key: frames numbered by a seq that
// grows, the oldest dropped beyond max, kept across "restarts" (faces made anew on it).
type fakeOutbox struct {
	mu     sync.Mutex
	max    int
	seq    int64
	frames []face.Frame
	grew   chan struct{} // closed and replaced when a frame comes
}

func newFakeOutbox(max int) *fakeOutbox {
	return &fakeOutbox{max: max, seq: 100, grew: make(chan struct{})}
}

// append is what Hub.Publish does for a retained stream: the frame is written, then handed over.
func (o *fakeOutbox) append(payload []byte) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq += 3 // seqs are shared with other endpoints: they grow, not one by one
	o.frames = append(o.frames, face.Frame{Seq: o.seq, Payload: payload, QueuedAt: time.Now()})
	if len(o.frames) > o.max {
		o.frames = o.frames[len(o.frames)-o.max:]
	}
	close(o.grew)
	o.grew = make(chan struct{})
	return o.seq
}

func (o *fakeOutbox) after(seq int64, limit int) ([]face.Frame, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []face.Frame
	for _, fr := range o.frames {
		if fr.Seq > seq && len(out) < limit {
			out = append(out, fr)
		}
	}
	return out, o.grew
}

func (o *fakeOutbox) newest() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.frames) == 0 {
		return 0
	}
	return o.frames[len(o.frames)-1].Seq
}

// fakeRetainingHost is fakeHubHost with a retained stream on a fakeOutbox.
type fakeRetainingHost struct {
	fakeHubHost
	box *fakeOutbox
}

func (h *fakeRetainingHost) Subscribe(_ context.Context, _ face.Face, sub face.Subscription) face.Stream {
	close(h.subscribed)
	if !sub.Retain || sub.Key == "" {
		panic("the Satori stream must be retained and durable")
	}
	return &fakeRetained{box: h.box, pos: h.box.newest()}
}

func (h *fakeRetainingHost) Retained(context.Context, face.Face, string) (bool, error) {
	return h.box.newest() > 0, nil
}

type fakeRetained struct {
	box *fakeOutbox
	pos int64
}

func (s *fakeRetained) Next(ctx context.Context) (face.Frame, error) {
	for {
		rows, grew := s.box.after(s.pos, 1)
		if len(rows) > 0 {
			return rows[0], nil
		}
		select {
		case <-grew:
		case <-ctx.Done():
			return face.Frame{}, ctx.Err()
		}
	}
}
func (s *fakeRetained) Done(_ context.Context, fr face.Frame) { s.pos = fr.Seq }
func (*fakeRetained) Fail()                                   {}
func (*fakeRetained) Close()                                  {}
func (s *fakeRetained) After(_ context.Context, seq int64, limit int) ([]face.Frame, error) {
	rows, _ := s.box.after(seq, limit)
	return rows, nil
}
func (s *fakeRetained) Position() int64 { return s.pos }

// gatewayRun is one run of the gateway's Satori face on a fakeOutbox that outlives it.
type gatewayRun struct {
	host *fakeRetainingHost
	face *Face
	srv  *httptest.Server
	logs *syncWriter
}

func startRun(t *testing.T, box *fakeOutbox, bot model.Bot) *gatewayRun {
	t.Helper()
	host := &fakeRetainingHost{box: box, fakeHubHost: fakeHubHost{fakeHost: fakeHost{bots: []model.Bot{bot}}, subscribed: make(chan struct{})}}
	logs := &syncWriter{w: &bytes.Buffer{}}
	f := New(Options{Path: "/satori", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	r := chi.NewRouter()
	f.MountPublic(r, host)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	t.Cleanup(f.Close)
	return &gatewayRun{host: host, face: f, srv: srv, logs: logs}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.String()
}

func (g *gatewayRun) log() string { return g.logs.String() }

func (g *gatewayRun) dial(t *testing.T, sn *int64) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.srv.URL, "http")+"/satori/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	s := &stream{t: t, c: c}
	s.identify(sn)
	return s
}

// Events a Satori client has not seen survive a restart: the face's stream is retained in the
// hub's outbox, an event's sn is its outbox seq, and after a restart the face subscribes at once
// (a client identified in the run before), so that what comes before the client is back is kept
// too. The client resumes with its last sn and gets exactly what it missed, once, then live
// events.
func TestResumeAfterRestartReplaysTheOutbox(t *testing.T) {
	bot := fakes.NewFakeBot("@bot:example.org")
	tf := &testFace{bot: bot}
	box := newFakeOutbox(100)
	enc := func(f *Face, n int) []byte {
		b, err := f.Encode(tf.message(n), nil)
		if err != nil || b == nil {
			t.Fatalf("Encode: %s %v", b, err)
		}
		return b
	}

	first := startRun(t, box, bot)
	select {
	case <-first.host.subscribed:
		t.Fatal("subscribed before any client identified")
	default:
	}
	c := first.dial(t, nil)
	<-first.host.subscribed
	seq0 := box.append(enc(first.face, 0))
	ev := c.event()
	if ev.SN != seq0 || ev.Message.ID != tf.message(0).ID {
		t.Fatalf("live event %+v, want sn %d (the outbox seq)", ev, seq0)
	}
	_ = c.c.Close(websocket.StatusNormalClosure, "away")
	missed := []int64{box.append(enc(first.face, 1)), box.append(enc(first.face, 2))}

	// The gateway restarts.
	first.face.Close()
	first.srv.Close()
	second := startRun(t, box, bot)
	select {
	case <-second.host.subscribed:
	default:
		t.Fatal("after a restart the face did not subscribe its retained stream at once")
	}
	missed = append(missed, box.append(enc(second.face, 3))) // while no client is connected

	c = second.dial(t, &seq0)
	for i, want := range missed {
		ev := c.event()
		if ev.SN != want || ev.Message.ID != tf.message(i+1).ID {
			t.Fatalf("replayed event %d: sn %d %s, want sn %d %s", i, ev.SN, ev.Message.ID, want, tf.message(i+1).ID)
		}
	}
	live := box.append(enc(second.face, 4))
	if ev := c.event(); ev.SN != live || ev.Message.ID != tf.message(4).ID {
		t.Fatalf("after the replay: sn %d %s, want the live event sn %d", ev.SN, ev.Message.ID, live)
	}
	// The resume is logged once its replay is written (the live event may be part of it).
	wait.For(t, 10*time.Second, "the resume to be logged", func() bool {
		return strings.Contains(second.log(), "satori client resumed")
	})
	if !strings.Contains(second.log(), "replayed=3") && !strings.Contains(second.log(), "replayed=4") || second.face.ResumeGaps() != 0 {
		t.Fatalf("resume log %q, gaps %d; want 3 (or 4) replayed and no gap", second.log(), second.face.ResumeGaps())
	}
}

// A client that resumes from an sn older than what the outbox keeps gets what is kept, and the
// loss is logged and counted, not silent; so is an sn this gateway never sent.
func TestResumeFromAnSNNoLongerKeptIsReported(t *testing.T) {
	bot := fakes.NewFakeBot("@bot:example.org")
	tf := &testFace{bot: bot}
	box := newFakeOutbox(2)
	run := startRun(t, box, bot)
	c := run.dial(t, nil)
	<-run.host.subscribed
	frame := func(n int) []byte { b, _ := run.face.Encode(tf.message(n), nil); return b }
	old := box.append(frame(0))
	if ev := c.event(); ev.SN != old {
		t.Fatalf("sn %d, want %d", ev.SN, old)
	}
	_ = c.c.Close(websocket.StatusNormalClosure, "away")
	box.append(frame(1))
	kept := []int64{box.append(frame(2)), box.append(frame(3))} // frame 1 is dropped
	again := run.dial(t, &old)
	for _, sn := range kept {
		if ev := again.event(); ev.SN != sn {
			t.Fatalf("replayed sn %d, want %d", ev.SN, sn)
		}
	}
	if run.face.ResumeGaps() != 1 || !strings.Contains(run.log(), "older than the events kept") {
		t.Fatalf("gaps %d, log %q: want the lost events reported", run.face.ResumeGaps(), run.log())
	}

	// An sn this gateway never sent is reported too; a client up to date resumes with nothing to
	// replay and nothing reported. Each gets the next live event (written after its resume).
	future, last := kept[1]+1_000_000, kept[1]
	wait.For(t, 10*time.Second, "the face to have pumped the kept events", func() bool { return run.face.lastSN.Load() == last })
	stranger, up := run.dial(t, &future), run.dial(t, &last)
	live := box.append(frame(4))
	for _, s := range []*stream{stranger, up} {
		if ev := s.event(); ev.SN != live {
			t.Fatalf("sn %d, want the live sn %d", ev.SN, live)
		}
	}
	if run.face.ResumeGaps() != 2 || !strings.Contains(run.log(), "never sent") {
		t.Fatalf("gaps %d, log %q: want the unknown sn reported, and only it", run.face.ResumeGaps(), run.log())
	}
}

// At a clean stop Drain waits until the bots' final login-updated (made by StatusChanged for the
// hub's stream) has been pumped, ends the streams with 1001 after what is queued on them, and
// stops the pump.
func TestDrainDeliversTheFinalStatusThenCloses(t *testing.T) {
	bot := fakes.NewFakeBot("@bot:example.org")
	box := newFakeOutbox(100)
	run := startRun(t, box, bot)
	c := run.dial(t, nil)
	<-run.host.subscribed
	bot.Control.SetStatus(model.BotStatus{State: model.StateOffline, Reason: "stopping"})
	final := run.face.StatusChanged(nil, face.Bot{Bot: bot}, false, true) // the hub's fan-out
	drained := make(chan struct{})
	go func() { defer close(drained); run.face.Drain(context.Background()) }()
	box.append(final) // the hub's outbox write comes after
	ev := c.event()
	if ev.Type != "login-updated" || ev.Login == nil || ev.Login.Status != StatusOffline {
		t.Fatalf("event %+v, want the final login-updated (offline)", ev)
	}
	if _, err := c.read(); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("after the final status: %v, want close 1001", err)
	}
	<-drained
	select {
	case <-run.face.pumped:
	default:
		t.Fatal("Drain returned with the pump running")
	}
}
