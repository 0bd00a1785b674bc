package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

// Issue 12: a feed whose deliverer has read its outbox to the end gets the frames appended next
// in memory (push.handover), instead of reading each back from the database. These tests hold
// the outbox's guarantees on that path: no frame lost, none repeated unmarked, none reordered.

// countingOutbox counts the reads of frames from the outbox.
type countingOutbox struct {
	OutboxStore
	reads atomic.Int64
}

func (o *countingOutbox) OutboxPeek(ctx context.Context, endpoint string, limit int) ([]storage.OutboxEntry, error) {
	o.reads.Add(1)
	return o.OutboxStore.OutboxPeek(ctx, endpoint, limit)
}

func (o *countingOutbox) OutboxAfter(ctx context.Context, endpoint string, after int64, limit int) ([]storage.OutboxEntry, error) {
	o.reads.Add(1)
	return o.OutboxStore.OutboxAfter(ctx, endpoint, after, limit)
}

// metaFace is fakeFace with status frames ({"status": "offline"}), which reach a durable stream
// through its feed's own append (not Publish's).
type metaFace struct{ fakeFace }

// Encode is fakeFace's without the count: the tests publish from several goroutines at once.
func (*metaFace) Encode(ev *model.Event, _ face.IDs) ([]byte, error) {
	return json.Marshal(map[string]any{"id": ev.ID})
}

func (*metaFace) Hello([]face.Bot) [][]byte                  { return nil }
func (*metaFace) Heartbeat([]face.Bot, time.Duration) []byte { return nil }
func (*metaFace) StatusChanged(_ []face.Bot, _ face.Bot, online, _ bool) []byte {
	if online {
		return []byte(`{"status":"online"}`)
	}
	return []byte(`{"status":"offline"}`)
}

// handoverHub is a hub with the bots and a metaFace, whose outbox is store.
func handoverHub(db *storage.DB, store OutboxStore, maxEvents int, bots ...*fakes.FakeBot) (*Hub, *metaFace) {
	mf := &metaFace{}
	h := NewHub(Options{
		Version: "test", HeartbeatInterval: time.Hour, IDs: db.IDs(), Faces: []face.Face{mf},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ExpectedBots: len(bots),
		Transports: Transports{Outbox: store, OutboxLimits: storage.OutboxLimits{MaxEvents: maxEvents}},
	})
	for i, b := range bots {
		h.AddBot(b, int64(10001+i))
	}
	return h, mf
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// subscribe subscribes a stream of mf until the test ends (a feed closes once its context has).
func subscribe(t *testing.T, ctx context.Context, h *Hub, mf *metaFace, sub face.Subscription) face.Stream {
	ctx, cancel := context.WithCancel(ctx)
	st := faceHost{h}.Subscribe(ctx, mf, sub)
	t.Cleanup(func() { cancel(); st.Close() })
	return st
}

// streamFrame is what a stream gave: its seq, the event's ID or the status, and the replay mark.
type streamFrame struct {
	seq      int64
	what     string
	replayed bool
}

// take reads the stream's next frame and marks it done.
func take(t *testing.T, ctx context.Context, st face.Stream) streamFrame {
	t.Helper()
	fr, err := st.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Done(ctx, fr)
	var m struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Replayed bool   `json:"replayed"`
	}
	if err := json.Unmarshal(fr.Payload, &m); err != nil {
		t.Fatalf("frame %s: %v", fr.Payload, err)
	}
	what := m.ID
	if m.Status != "" {
		what = "status:" + m.Status
	}
	return streamFrame{fr.Seq, what, m.Replayed || fr.Replayed}
}

func publishID(t *testing.T, ctx context.Context, h *Hub, bot id.UserID, eventID string) {
	t.Helper()
	ev := sampleEvent(false)
	ev.Self, ev.ID = bot, eventID
	if err := h.Publish(ctx, ev); err != nil {
		t.Error(err)
	}
}

// A stream that has read its outbox to the end takes the frames published next without reading
// the outbox again; each is still deleted from the outbox once done. (Before the hand-over, the
// outbox was read once per frame.)
func TestCaughtUpStreamTakesFramesWithoutReadingTheOutbox(t *testing.T) {
	db := newTestDB(t)
	store := &countingOutbox{OutboxStore: db.Outbox()}
	bot := fakes.NewFakeBot("@bot:example.org")
	h, mf := handoverHub(db, store, 100, bot)
	ctx := testContext(t, 10*time.Second)
	st := subscribe(t, ctx, h, mf, face.Subscription{Key: "events"})

	publishID(t, ctx, h, bot.ID, "$first")
	if fr := take(t, ctx, st); fr.what != "$first" || fr.replayed {
		t.Fatalf("first frame %+v, want $first, live", fr)
	}
	readsBefore := store.reads.Load()
	last := int64(0)
	for i := range 20 {
		eventID := fmt.Sprintf("$e%d", i)
		publishID(t, ctx, h, bot.ID, eventID)
		fr := take(t, ctx, st)
		if fr.what != eventID || fr.replayed || fr.seq <= last {
			t.Fatalf("frame %d: %+v, want %s, live, after seq %d", i, fr, eventID, last)
		}
		last = fr.seq
	}
	if n := store.reads.Load() - readsBefore; n != 0 {
		t.Fatalf("the caught-up stream read the outbox %d times for 20 frames, want 0 (they are handed over)", n)
	}
	if n, err := db.Outbox().OutboxCount(ctx, "fake:events"); err != nil || n != 0 {
		t.Fatalf("%d frames left in the outbox (%v), want 0: a done frame is deleted", n, err)
	}
}

// A status frame (written by the feed itself, not by Publish) between two handed-over events is
// not passed by: the stream reads the outbox again and gets it in its place.
func TestStatusFrameBetweenHandedOverFramesKeepsItsPlace(t *testing.T) {
	db := newTestDB(t)
	bot := fakes.NewFakeBot("@bot:example.org")
	h, mf := handoverHub(db, db.Outbox(), 100, bot)
	ctx := testContext(t, 10*time.Second)
	st := subscribe(t, ctx, h, mf, face.Subscription{Key: "events"})

	publishID(t, ctx, h, bot.ID, "$a")
	if fr := take(t, ctx, st); fr.what != "$a" {
		t.Fatalf("first frame %+v, want $a", fr)
	}
	h.BotStatusChanged(bot.ID, model.BotStatus{State: model.StateOffline, Since: time.Now()})
	wait.For(t, 10*time.Second, "the status frame in the outbox", func() bool {
		n, err := db.Outbox().OutboxCount(ctx, "fake:events")
		return err == nil && n == 1
	})
	publishID(t, ctx, h, bot.ID, "$b")
	var got []string
	for range 2 {
		got = append(got, take(t, ctx, st).what)
	}
	if fmt.Sprint(got) != "[status:offline $b]" {
		t.Fatalf("after $a the stream gave %q, want the status frame, then $b", got)
	}
	if n, _ := db.Outbox().OutboxCount(ctx, "fake:events"); n != 0 {
		t.Fatalf("%d frames left in the outbox, want 0", n)
	}
}

// A stream that does not keep up (more frames than the hand-over holds, or frames the outbox's
// limit drops) reads the outbox again: it gets what the outbox has, in order, once each, and
// never a frame counted as dropped.
func TestSlowStreamReadsTheOutboxAgain(t *testing.T) {
	for _, c := range []struct {
		name      string
		maxEvents int
		publish   int
	}{
		{"more than the hand-over holds", 10000, 300},
		{"the outbox limit drops the oldest", 3, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := newTestDB(t)
			bot := fakes.NewFakeBot("@bot:example.org")
			h, mf := handoverHub(db, db.Outbox(), c.maxEvents, bot)
			ctx := testContext(t, 20*time.Second)
			st := subscribe(t, ctx, h, mf, face.Subscription{Key: "events"})
			publishID(t, ctx, h, bot.ID, "$a")
			if fr := take(t, ctx, st); fr.what != "$a" {
				t.Fatalf("first frame %+v, want $a", fr)
			}
			for i := range c.publish {
				publishID(t, ctx, h, bot.ID, fmt.Sprintf("$e%d", i))
			}
			kept := min(c.publish, c.maxEvents)
			last := int64(0)
			for i := c.publish - kept; i < c.publish; i++ {
				fr := take(t, ctx, st)
				if want := fmt.Sprintf("$e%d", i); fr.what != want || fr.seq <= last || fr.replayed {
					t.Fatalf("got %+v after seq %d, want %s, live (the outbox keeps the newest %d)", fr, last, want, kept)
				}
				last = fr.seq
			}
			publishID(t, ctx, h, bot.ID, "$z")
			if fr := take(t, ctx, st); fr.what != "$z" || fr.seq <= last {
				t.Fatalf("then %+v, want $z after seq %d", fr, last)
			}
		})
	}
}

// Two bots publish at once while status frames come between them: the stream gives every frame
// once, in the order of the outbox (seq), and leaves nothing behind.
func TestHandedOverFramesKeepTheOutboxOrder(t *testing.T) {
	for _, retain := range []bool{false, true} {
		t.Run(fmt.Sprintf("retain=%v", retain), func(t *testing.T) {
			db := newTestDB(t)
			store := &countingOutbox{OutboxStore: db.Outbox()}
			bots := []*fakes.FakeBot{fakes.NewFakeBot("@bot:example.org"), newSecondBot()}
			h, mf := handoverHub(db, store, 10000, bots...)
			ctx := testContext(t, 30*time.Second)
			st := subscribe(t, ctx, h, mf, face.Subscription{Key: "events", Retain: retain})

			const perBot, statuses = 150, 20
			var wg sync.WaitGroup
			for _, b := range bots {
				wg.Go(func() {
					for i := range perBot {
						publishID(t, ctx, h, b.ID, fmt.Sprintf("%s/%d", b.ID, i))
					}
				})
			}
			wg.Go(func() {
				for i := range statuses {
					state := model.StateOffline
					if i%2 == 1 {
						state = model.StateSyncing
					}
					h.BotStatusChanged(bots[0].ID, model.BotStatus{State: state, Since: time.Now()})
				}
			})
			var got []streamFrame
			for range len(bots)*perBot + statuses {
				got = append(got, take(t, ctx, st))
			}
			wg.Wait()

			seen := map[string]bool{}
			next := map[string]int{}
			for i, fr := range got {
				if i > 0 && fr.seq <= got[i-1].seq {
					t.Fatalf("frame %d %+v after %+v: out of seq order", i, fr, got[i-1])
				}
				if fr.replayed {
					t.Fatalf("frame %d %+v marked replayed: nothing was replayed", i, fr)
				}
				if b, n, ok := strings.Cut(fr.what, "/"); ok {
					if n != strconv.Itoa(next[b]) {
						t.Fatalf("frame %d is %s, want %s/%d next: a bot's events in order", i, fr.what, b, next[b])
					}
					next[b]++
				}
				if fr.what[0] == '@' && seen[fr.what] {
					t.Fatalf("frame %d %s twice", i, fr.what)
				}
				seen[fr.what] = true
			}
			var rest []storage.OutboxEntry
			var err error
			if retain {
				rest, err = db.Outbox().OutboxAfter(ctx, "fake:events", got[len(got)-1].seq, 10)
			} else {
				rest, err = db.Outbox().OutboxPeek(ctx, "fake:events", 10)
			}
			if err != nil || len(rest) != 0 {
				t.Fatalf("left in the outbox after the last frame: %d (%v), want none", len(rest), err)
			}
			t.Logf("%d frames, %d reads of the outbox", len(got), store.reads.Load())
		})
	}
}

// A frame handed over but not done when the gateway stops is in the outbox: the next run
// delivers it again, marked replayed, and then goes on live.
func TestHandedOverFrameNotDoneIsReplayedNextRun(t *testing.T) {
	db := newTestDB(t)
	bot := fakes.NewFakeBot("@bot:example.org")
	ctx := testContext(t, 10*time.Second)

	h, mf := handoverHub(db, db.Outbox(), 100, bot)
	subCtx, endSub := context.WithCancel(ctx)
	st := faceHost{h}.Subscribe(subCtx, mf, face.Subscription{Key: "events"})
	publishID(t, ctx, h, bot.ID, "$a")
	take(t, ctx, st)
	publishID(t, ctx, h, bot.ID, "$b")
	fr, err := st.Next(ctx) // handed over, written to the client, say, but the gateway stops now
	if err != nil || fr.Seq == 0 {
		t.Fatalf("$b: %+v, %v", fr, err)
	}
	endSub()
	st.Close()

	h, mf = handoverHub(db, db.Outbox(), 100, bot)
	st = subscribe(t, ctx, h, mf, face.Subscription{Key: "events"})
	if got := take(t, ctx, st); got.what != "$b" || !got.replayed || got.seq != fr.Seq {
		t.Fatalf("next run's first frame %+v, want $b (seq %d) marked replayed", got, fr.Seq)
	}
	publishID(t, ctx, h, bot.ID, "$c")
	if got := take(t, ctx, st); got.what != "$c" || got.replayed {
		t.Fatalf("then %+v, want $c, live", got)
	}
}

// postCommitGate holds an append after its commit until release is closed, once armed.
type postCommitGate struct {
	OutboxStore
	armed   atomic.Bool
	release chan struct{}
}

func (o *postCommitGate) OutboxAppendAll(ctx context.Context, f []storage.OutboxFrame, at time.Time, l storage.OutboxLimits) (storage.OutboxAppended, error) {
	app, err := o.OutboxStore.OutboxAppendAll(ctx, f, at, l)
	if err == nil && o.armed.Swap(false) {
		<-o.release
	}
	return app, err
}

// A frame committed before the stream reads the outbox, but handed over after that read, is not
// given twice: the stream takes from the hand-over only what comes after what it has read.
func TestFrameReadFromTheOutboxIsNotHandedOverAgain(t *testing.T) {
	db := newTestDB(t)
	store := &postCommitGate{OutboxStore: db.Outbox(), release: make(chan struct{})}
	bot := fakes.NewFakeBot("@bot:example.org")
	h, mf := handoverHub(db, store, 100, bot)
	ctx := testContext(t, 10*time.Second)
	st := subscribe(t, ctx, h, mf, face.Subscription{Key: "events"})

	store.armed.Store(true)
	published := make(chan struct{})
	go func() { defer close(published); publishID(t, ctx, h, bot.ID, "$a") }()
	wait.For(t, 10*time.Second, "$a committed", func() bool {
		n, err := db.Outbox().OutboxCount(ctx, "fake:events")
		return err == nil && n == 1
	})
	if fr := take(t, ctx, st); fr.what != "$a" { // read from the outbox, before its hand-over
		t.Fatalf("first frame %+v, want $a", fr)
	}
	close(store.release)
	<-published
	publishID(t, ctx, h, bot.ID, "$b")
	if fr := take(t, ctx, st); fr.what != "$b" {
		t.Fatalf("then %+v, want $b ($a once)", fr)
	}
}
