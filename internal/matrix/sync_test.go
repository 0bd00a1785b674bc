package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

const (
	botID    id.UserID = "@bot:example.org"
	botToken           = "syt_test_token"
	aliceID  id.UserID = "@alice:example.org"
	roomA    id.RoomID = "!a:example.org"
	roomB    id.RoomID = "!b:example.org"

	waitLimit = 10 * time.Second // a deadline for conditions, not a duration the tests take
)

// recordingSink is a model.Sink that records events and status changes. hook, when set, runs
// before an event is recorded; an error from it is returned and the event is not recorded.
type recordingSink struct {
	hook func(ctx context.Context, ev *model.Event) error

	mu       sync.Mutex
	events   []*model.Event
	statuses []model.BotStatus
	changed  chan struct{}
}

var _ model.Sink = (*recordingSink)(nil)

func newRecordingSink() *recordingSink { return &recordingSink{changed: make(chan struct{})} }

func (r *recordingSink) Publish(ctx context.Context, ev *model.Event) error {
	if r.hook != nil {
		if err := r.hook(ctx, ev); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	r.notifyLocked()
	return nil
}

func (r *recordingSink) BotStatusChanged(self id.UserID, st model.BotStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if self == botID {
		r.statuses = append(r.statuses, st)
	}
	r.notifyLocked()
}

func (r *recordingSink) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recordingSink) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// EventIDs are the IDs of the recorded events, in the order they were published.
func (r *recordingSink) EventIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, len(r.events))
	for i, ev := range r.events {
		ids[i] = ev.ID
	}
	return ids
}

func (r *recordingSink) Events() []*model.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recordingSink) Statuses() []model.BotStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.statuses)
}

// hasStatus reports whether a status with state and a reason containing reason was recorded at
// index from or later, and the index after it.
func (r *recordingSink) hasStatus(from int, state model.BotState, reason string) (int, bool) {
	sts := r.Statuses()
	for i := from; i < len(sts); i++ {
		if sts[i].State == state && strings.Contains(sts[i].Reason, reason) {
			return i + 1, true
		}
	}
	return 0, false
}

// waitUntil waits until cond holds, re-checking it whenever changed fires; it fails the test
// after waitLimit.
func waitUntil(t *testing.T, what string, changed func() <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		ch := changed() // taken before the check, so that no change between them is missed
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		}
	}
}

// harness is one bot against a fake homeserver, with a real database.
type harness struct {
	hs *fakes.FakeHomeserver
	db *storage.DB
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	hs := fakes.NewFakeHomeserver(t, botID, botToken)
	db, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return &harness{hs: hs, db: db}
}

// newStateStore is a mautrix state store in the harness's database (Options.StateStore).
func newStateStore(t testing.TB, h *harness) *sqlstatestore.SQLStateStore {
	t.Helper()
	s := sqlstatestore.NewSQLStateStore(h.db.DBUtil(), dbutil.NoopLogger, false)
	if err := s.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func (h *harness) options(t testing.TB, sink model.Sink) Options {
	return Options{
		Bot:           config.Bot{Homeserver: h.hs.URL, AccessToken: botToken, UserID: botID},
		APITimeout:    5 * time.Second,
		SyncTimeout:   time.Second,
		RetryInterval: 10 * time.Millisecond,
		DB:            h.db,
		Sink:          sink,
		Logger:        slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (h *harness) session(t testing.TB, sink model.Sink, edit func(*Options)) *Session {
	t.Helper()
	opts := h.options(t, sink)
	if edit != nil {
		edit(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs s.Run in the background. The returned stop cancels it and returns Run's result;
// it also runs at cleanup, so that no Run outlives its test.
func start(t *testing.T, s *Session) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(waitLimit):
				t.Errorf("Run did not return within %v of its context ending", waitLimit)
			}
		})
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func (h *harness) setToken(t *testing.T, token string) {
	t.Helper()
	if err := h.db.Sync().SetSyncToken(context.Background(), string(botID), token); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) storedToken(t *testing.T) string {
	t.Helper()
	tok, err := h.db.Sync().SyncToken(context.Background(), string(botID))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (h *harness) syncs() []fakes.FakeRequest { return h.hs.RequestsTo("/v3/sync") }

// waitSyncSince waits until the batch that ends at token was handed over: a /sync request with
// since=token (the loop asks for it while it hands that batch over) and token saved (only after
// the hand-over). token must be the last position scripted, so that the saved one stays there.
func (h *harness) waitSyncSince(t *testing.T, token string) {
	t.Helper()
	waitUntil(t, "a /sync with since="+token, h.hs.Changed, func() bool {
		return slices.ContainsFunc(h.syncs(), func(r fakes.FakeRequest) bool { return r.Query.Get("since") == token })
	})
	wait.For(t, waitLimit, "the position "+token+" saved", func() bool { return h.storedToken(t) == token })
}

func waitEvents(t *testing.T, sink *recordingSink, n int) {
	t.Helper()
	waitUntil(t, "events to be published", sink.Changed, func() bool { return len(sink.EventIDs()) >= n })
}

func assertEventIDs(t *testing.T, sink *recordingSink, want ...string) {
	t.Helper()
	if got := sink.EventIDs(); !slices.Equal(got, want) {
		t.Fatalf("published events %v, want %v", got, want)
	}
}

// Sync response builders.

func message(evtID string, sender id.UserID, ts time.Time, body any) map[string]any {
	return map[string]any{
		"type": "m.room.message", "event_id": evtID, "sender": sender, "origin_server_ts": ts.UnixMilli(),
		"content": map[string]any{"msgtype": "m.text", "body": body},
	}
}

func timeline(events ...any) map[string]any {
	return map[string]any{"timeline": map[string]any{"events": events}}
}

func syncReply(next string, join map[id.RoomID]any) fakes.FakeResponse {
	return fakes.JSONResponse(http.StatusOK, map[string]any{"next_batch": next, "rooms": map[string]any{"join": join}})
}

func TestRunBacksOffAndRecovers(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	h.hs.QueueSync(
		fakes.FakeResponse{Status: http.StatusBadGateway, Body: "bad gateway"},
		fakes.FakeResponse{Drop: true},
		syncReply("s1", map[id.RoomID]any{roomA: timeline(message("$m1", aliceID, time.Now(), "after the outage"))}),
	)
	sink := newRecordingSink()
	start(t, h.session(t, sink, nil))

	waitUntil(t, "syncing after two failures", sink.Changed, func() bool {
		_, ok := sink.hasStatus(0, model.StateSyncing, "")
		return ok
	})
	// In order: backoff for the 502, backoff for the dropped connection, then syncing.
	next, ok := sink.hasStatus(0, model.StateBackoff, "HTTP 502")
	if !ok {
		t.Fatalf("no backoff status naming the 502 in %+v", sink.Statuses())
	}
	if next, ok = sink.hasStatus(next, model.StateBackoff, "homeserver unreachable"); !ok {
		t.Fatalf("no backoff status for the network failure after the 502 in %+v", sink.Statuses())
	}
	if _, ok = sink.hasStatus(next, model.StateSyncing, ""); !ok {
		t.Fatalf("not syncing after the failures: %+v", sink.Statuses())
	}
	waitEvents(t, sink, 1)
	assertEventIDs(t, sink, "$m1")
	if got := h.syncs(); len(got) < 3 || got[0].Query.Get("since") != "s0" || got[2].Query.Get("since") != "s0" {
		t.Fatalf("the failed /sync requests were not retried from s0: %+v", got)
	}
}

func TestRunWaitsRetryAfterOn429(t *testing.T) {
	const retryAfterMS = 200
	h := newHarness(t)
	h.setToken(t, "s0")
	h.hs.QueueSync(
		fakes.MatrixError(http.StatusTooManyRequests, "M_LIMIT_EXCEEDED", "slow down", map[string]any{"retry_after_ms": retryAfterMS}),
		syncReply("s1", nil),
	)
	sink := newRecordingSink()
	start(t, h.session(t, sink, nil))

	waitUntil(t, "a second /sync", h.hs.Changed, func() bool { return len(h.syncs()) >= 2 })
	reqs := h.syncs()
	// A lower bound on the wait (RetryInterval is 10 ms, so only retry_after_ms explains it).
	if gap := reqs[1].At.Sub(reqs[0].At); gap < retryAfterMS*time.Millisecond {
		t.Fatalf("the /sync after a 429 came %v after it, want at least %d ms", gap, retryAfterMS)
	}
	if _, ok := sink.hasStatus(0, model.StateBackoff, "rate limited"); !ok {
		t.Fatalf("no rate-limited backoff status in %+v", sink.Statuses())
	}
}

func TestRunUnknownTokenGoesOffline(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(h *harness, opts *Options)
	}{
		{"on /sync", func(h *harness, _ *Options) {
			// A refused token is tried once more before the bot is shown offline.
			for range 2 {
				h.hs.QueueSync(fakes.MatrixError(http.StatusUnauthorized, "M_UNKNOWN_TOKEN", "Invalid access token passed.", nil))
			}
		}},
		{"on whoami", func(_ *harness, opts *Options) { opts.Bot.AccessToken = "revoked" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.setToken(t, "s0")
			sink := newRecordingSink()
			s := h.session(t, sink, func(o *Options) { tc.setup(h, o) })
			stop := start(t, s)

			waitUntil(t, "the offline status", sink.Changed, func() bool {
				_, ok := sink.hasStatus(0, model.StateOffline, "")
				return ok
			})
			st := s.Status()
			if st.State != model.StateOffline || !strings.Contains(st.Reason, "M_UNKNOWN_TOKEN") || !strings.Contains(st.Reason, "access_token") {
				t.Fatalf("status %+v, want offline with a reason naming M_UNKNOWN_TOKEN and what to set (access_token)", st)
			}
			// The offline wait is long; a stop must still end Run at once, cleanly.
			if err := stop(); err != nil {
				t.Fatalf("Run returned %v after a stop, want nil", err)
			}
			if got := s.Status().State; got != model.StateStopped && got != model.StateOffline {
				t.Fatalf("state after stop = %s", got)
			}
		})
	}
}

func TestLoginRejectsAnotherUser(t *testing.T) {
	h := newHarness(t)
	h.hs.SetWhoami("@someone-else:example.org")
	s := h.session(t, newRecordingSink(), nil)

	err := s.Login(context.Background())
	if !errors.Is(err, ErrFatal) {
		t.Fatalf("Login = %v, want an error wrapping ErrFatal", err)
	}
	if !strings.Contains(err.Error(), "@someone-else:example.org") || !strings.Contains(err.Error(), string(botID)) {
		t.Errorf("error %q does not name both users", err)
	}
	if st := s.Status(); st.State != model.StateStopped || st.Reason == "" {
		t.Fatalf("status %+v, want stopped with a reason", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := s.Run(ctx); !errors.Is(err, ErrFatal) {
		t.Fatalf("Run = %v, want an error wrapping ErrFatal", err)
	}
	if n := len(h.syncs()); n != 0 {
		t.Fatalf("%d /sync requests with a token of the wrong user", n)
	}
}

func TestRunSkipsMalformedEvents(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	now := time.Now()
	room := timeline(
		message("$bad-body", aliceID, now, 42), // content.body is a number
		json.RawMessage(`42`),                  // not an object
		json.RawMessage(`"an event"`),
		map[string]any{"type": "m.room.message", "event_id": "$bad-relation", "sender": aliceID, "origin_server_ts": now.UnixMilli(),
			"content": map[string]any{"msgtype": "m.text", "body": "x", "m.relates_to": "not an object"}},
		message("$good", aliceID, now, "still delivered"),
	)
	room["state"] = map[string]any{"events": []any{json.RawMessage(`[]`)}}
	h.hs.QueueSync(
		syncReply("s1", map[id.RoomID]any{roomA: room}),
		syncReply("s2", map[id.RoomID]any{roomA: timeline(message("$next", aliceID, now, "next batch"))}),
	)
	sink := newRecordingSink()
	start(t, h.session(t, sink, nil))

	h.waitSyncSince(t, "s2")
	assertEventIDs(t, sink, "$good", "$next")
	if got := h.storedToken(t); got != "s2" {
		t.Fatalf("stored token %q, want s2", got)
	}
	msg := sink.Events()[0].Message
	if msg == nil || msg.Plain != "still delivered" || msg.Sender != aliceID || msg.RoomID != roomA {
		t.Fatalf("delivered message %+v", msg)
	}
}

func TestRunSavesTokenOnlyAfterPublish(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{roomA: timeline(message("$m1", aliceID, time.Now(), "hi"))}))
	entered := make(chan struct{})
	release := make(chan struct{})
	sink := newRecordingSink()
	sink.hook = func(ctx context.Context, ev *model.Event) error {
		if ev.ID == "$m1" {
			close(entered)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	start(t, h.session(t, sink, nil))

	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("the message was never published")
	}
	if got := h.storedToken(t); got != "s0" {
		t.Fatalf("token %q stored while the batch was still being published, want s0", got)
	}
	close(release)
	h.waitSyncSince(t, "s1")
	if got := h.storedToken(t); got != "s1" {
		t.Fatalf("stored token %q after the batch was published, want s1", got)
	}
	assertEventIDs(t, sink, "$m1")
}

func TestRunFirstSyncFilters(t *testing.T) {
	old := time.UnixMilli(1_600_000_000_000)
	for _, tc := range []struct {
		name       string
		handleOld  bool
		handleSelf bool
		want       []string
	}{
		{"defaults", false, false, []string{"$new", "$old2"}},
		{"old events", true, false, []string{"$old", "$new", "$old2"}},
		{"self messages", false, true, []string{"$self", "$new", "$old2", "$self2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t) // no stored position: a first sync
			sink := newRecordingSink()
			s := h.session(t, sink, func(o *Options) {
				o.HandleOldEvents = tc.handleOld
				o.HandleSelfMessage = tc.handleSelf
			})
			later := time.Now().Add(time.Minute) // after the session started
			h.hs.QueueSync(
				syncReply("s1", map[id.RoomID]any{roomA: timeline(
					message("$old", aliceID, old, "before the gateway started"),
					message("$self", botID, later, "the bot's own"),
					message("$new", aliceID, later, "new"),
				)}),
				// Not a first sync any more: old timestamps pass, the bot's own messages still not.
				syncReply("s2", map[id.RoomID]any{roomA: timeline(
					message("$old2", aliceID, old, "late delivery of an old message"),
					message("$self2", botID, later, "the bot's own again"),
				)}),
			)
			start(t, s)

			h.waitSyncSince(t, "s2")
			assertEventIDs(t, sink, tc.want...)
			if first := h.syncs()[0]; first.Query.Has("since") || first.Query.Get("timeout") != "0" {
				t.Fatalf("first /sync query %v, want no since and timeout=0", first.Query)
			}
		})
	}
}

func TestRunFillsTimelineGap(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	now := time.Now()
	ev := func(n string) map[string]any { return message("$e"+n, aliceID, now, "message "+n) }
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{
		roomA: map[string]any{"timeline": map[string]any{
			"limited": true, "prev_batch": "p1", "events": []any{ev("4"), ev("5")},
		}},
		roomB: timeline(message("$b1", aliceID, now, "another room, not limited")),
	}))
	// First the newest event at or before s0 (none here: the room is new), then the pages, newest
	// first, as /messages with dir=b answers; $e4 and $e2 come twice.
	h.hs.QueueMessages(roomA,
		fakes.JSONResponse(http.StatusOK, map[string]any{"chunk": []any{}}),
		fakes.JSONResponse(http.StatusOK, map[string]any{"chunk": []any{ev("4"), ev("3"), ev("2")}, "start": "p1", "end": "p2"}),
		fakes.JSONResponse(http.StatusOK, map[string]any{"chunk": []any{ev("2"), ev("1")}, "start": "p2", "end": "p3"}),
	)
	sink := newRecordingSink()
	start(t, h.session(t, sink, nil))

	h.waitSyncSince(t, "s1")
	assertEventIDs(t, sink, "$e1", "$e2", "$e3", "$e4", "$e5", "$b1")
	reqs := h.hs.RequestsTo("/rooms/" + string(roomA) + "/messages")
	if len(reqs) < 3 {
		t.Fatalf("%d /messages requests, want the gap's end looked up, then the gap filled page by page", len(reqs))
	}
	if q := reqs[0].Query; q.Get("from") != "s0" || q.Get("dir") != "b" || q.Get("limit") != "1" {
		t.Errorf("first /messages request query %v, want from=s0 dir=b limit=1", q)
	}
	for i, wantFrom := range []string{"p1", "p2"} {
		q := reqs[i+1].Query
		if q.Get("from") != wantFrom || q.Get("to") != "s0" || q.Get("dir") != "b" {
			t.Errorf("/messages request %d query %v, want from=%s to=s0 dir=b", i, q, wantFrom)
		}
	}
	if n := len(h.hs.RequestsTo("/rooms/" + string(roomB) + "/messages")); n != 0 {
		t.Errorf("%d /messages requests for a room whose timeline was not limited", n)
	}
}

// Dendrite pages /messages past a sync token given as `to`, back to the room's creation: the fill
// stops at the newest event at or before since, so nothing delivered before comes again.
func TestRunGapFillStopsAtTheSincePosition(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	now := time.Now()
	ev := func(n string) map[string]any { return message("$e"+n, aliceID, now, "message "+n) }
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{
		roomA: map[string]any{"timeline": map[string]any{
			"limited": true, "prev_batch": "p1", "events": []any{ev("4"), ev("5")},
		}},
	}))
	h.hs.QueueMessages(roomA,
		fakes.JSONResponse(http.StatusOK, map[string]any{"chunk": []any{ev("1")}}), // $e1 was there at s0
		fakes.JSONResponse(http.StatusOK, map[string]any{"chunk": []any{ev("3"), ev("2")}, "start": "p1", "end": "p2"}),
		fakes.JSONResponse(http.StatusOK, map[string]any{"chunk": []any{ev("1"), ev("0")}, "start": "p2", "end": "p3"}),
		fakes.JSONResponse(http.StatusOK, map[string]any{"chunk": []any{ev("-1")}, "start": "p3", "end": "p4"}),
	)
	sink := newRecordingSink()
	start(t, h.session(t, sink, nil))

	h.waitSyncSince(t, "s1")
	assertEventIDs(t, sink, "$e2", "$e3", "$e4", "$e5")
	if n := len(h.hs.RequestsTo("/rooms/" + string(roomA) + "/messages")); n != 3 {
		t.Errorf("%d /messages requests, want 3 (the gap's end, then pages until it)", n)
	}
}

func TestRunResumesInterruptedBatch(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	batch := syncReply("s1", map[id.RoomID]any{roomA: timeline(
		message("$p1", aliceID, time.Now(), "one"),
		message("$p2", aliceID, time.Now(), "two"),
		message("$p3", aliceID, time.Now(), "three"),
	)})
	batch.Since = "s0"           // not for the request of the batch after it, which goes out during the hand-over
	h.hs.QueueSync(batch, batch) // the interrupted run does not move past s0, so it gets it again

	// First run: the sink takes $p1, then blocks on $p2 (no client) until the gateway stops.
	blocked := make(chan struct{})
	sink1 := newRecordingSink()
	sink1.hook = func(ctx context.Context, ev *model.Event) error {
		if ev.ID == "$p2" {
			close(blocked)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	stop := start(t, h.session(t, sink1, nil))
	select {
	case <-blocked:
	case <-time.After(waitLimit):
		t.Fatal("the second event was never published")
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v when stopped while publishing, want nil", err)
	}
	assertEventIDs(t, sink1, "$p1")
	if got := h.storedToken(t); got != "s0" {
		t.Fatalf("stored token %q after an interrupted batch, want s0", got)
	}

	// Second run, from the same position: only what the first run did not hand over.
	sink2 := newRecordingSink()
	start(t, h.session(t, sink2, nil))
	h.waitSyncSince(t, "s1")
	assertEventIDs(t, sink2, "$p2", "$p3")
	if got := h.storedToken(t); got != "s1" {
		t.Fatalf("stored token %q after the resumed batch, want s1", got)
	}
	// Each run's first /sync is its catch-up (timeout=0); the one for the batch after s1 goes out
	// during the hand-over and is not a run's start.
	var starts []string
	for _, r := range h.syncs() {
		if r.Query.Get("timeout") == "0" {
			starts = append(starts, r.Query.Get("since"))
		}
	}
	if !slices.Equal(starts, []string{"s0", "s0"}) {
		t.Fatalf("the runs started from %v, want both from s0: %+v", starts, h.syncs())
	}
}

func TestSendMessageToRoom(t *testing.T) {
	h := newHarness(t)
	s := h.session(t, newRecordingSink(), nil)
	if err := s.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	sent, err := s.bot.SendMessage(context.Background(), model.Target{RoomID: roomA},
		[]model.Segment{model.Text{Text: "hi "}, model.Mention{User: aliceID}})
	if err != nil {
		t.Fatal(err)
	}
	got := h.hs.Sent()
	if len(got) != 1 || got[0].RoomID != roomA || got[0].Type != "m.room.message" || got[0].EventID != sent.EventID {
		t.Fatalf("sent %+v (returned %+v), want one m.room.message in %s", got, sent, roomA)
	}
	var content map[string]any
	if err := json.Unmarshal(got[0].Content, &content); err != nil {
		t.Fatal(err)
	}
	if content["body"] != "hi "+string(aliceID) || content["format"] != "org.matrix.custom.html" {
		t.Fatalf("sent content %s", got[0].Content)
	}
	stored, err := h.db.Messages().GetMessage(context.Background(), string(botID), string(sent.EventID))
	if err != nil || stored.Sender != string(botID) || stored.RoomID != string(roomA) {
		t.Fatalf("sent message not indexed: %+v, %v", stored, err)
	}
}

// SendOptions.Replace sends an edit: m.replace of the original with the new text in
// m.new_content and a "* " fallback body; a reply segment is dropped from an edit, and media are
// refused (an edit carries text only).
func TestSendMessageAsEdit(t *testing.T) {
	h := newHarness(t)
	s := h.session(t, newRecordingSink(), nil)
	if err := s.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	sender, ok := model.As[model.OptionSender](s.bot)
	if !ok {
		t.Fatal("the bot sends with options")
	}
	if _, err := sender.SendMessageWith(context.Background(), model.Target{RoomID: roomA},
		[]model.Segment{model.Reply{Event: "$other", Sender: aliceID}, model.Text{Text: "fixed"}}, model.SendOptions{Replace: "$orig"}); err != nil {
		t.Fatal(err)
	}
	got := h.hs.Sent()
	if len(got) != 1 {
		t.Fatalf("sent %d events, want 1", len(got))
	}
	var content struct {
		Body       string `json:"body"`
		NewContent *struct {
			Body      string          `json:"body"`
			RelatesTo json.RawMessage `json:"m.relates_to"`
		} `json:"m.new_content"`
		RelatesTo struct {
			RelType string `json:"rel_type"`
			EventID string `json:"event_id"`
		} `json:"m.relates_to"`
	}
	if err := json.Unmarshal(got[0].Content, &content); err != nil {
		t.Fatal(err)
	}
	if content.Body != "* fixed" || content.NewContent == nil || content.NewContent.Body != "fixed" || content.NewContent.RelatesTo != nil ||
		content.RelatesTo.RelType != "m.replace" || content.RelatesTo.EventID != "$orig" {
		t.Fatalf("sent %s, want an m.replace of $orig with the new text", got[0].Content)
	}
	_, err := sender.SendMessageWith(context.Background(), model.Target{RoomID: roomA},
		[]model.Segment{model.Text{Text: "a"}, model.Media{Kind: model.MediaImage, File: model.FileInfo{ID: "f"}}}, model.SendOptions{Replace: "$orig"})
	if model.KindOf(err) != model.ErrBadParam {
		t.Fatalf("an edit with an image: %v, want bad_param", err)
	}
}

// In a room the bot joined in this batch, what the timeline shows before its join is history:
// it is not handed over, and no gap before it is filled, even when the timeline is limited.
func TestRunSkipsHistoryBeforeOwnJoin(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	now := time.Now()
	join := map[string]any{
		"type": "m.room.member", "event_id": "$join", "sender": botID, "state_key": string(botID),
		"origin_server_ts": now.UnixMilli(), "content": map[string]any{"membership": "join"},
		"unsigned": map[string]any{"prev_content": map[string]any{"membership": "invite"}},
	}
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{
		roomA: map[string]any{"timeline": map[string]any{
			"limited": true, "prev_batch": "p1",
			"events": []any{message("$old", aliceID, now, "before the bot came"), join, message("$new", aliceID, now, "after")},
		}},
	}))
	sink := newRecordingSink()
	start(t, h.session(t, sink, nil))

	h.waitSyncSince(t, "s1")
	got := sink.EventIDs()
	if slices.Contains(got, "$old") || !slices.Contains(got, "$new") {
		t.Fatalf("published %v, want $new and not the history before the join ($old)", got)
	}
	if n := len(h.hs.RequestsTo("/rooms/" + string(roomA) + "/messages")); n != 0 {
		t.Errorf("%d /messages requests: the history before the bot's join was filled in", n)
	}
}

// A restarted bot (a stored sync position) catches up with timeout 0, so that it is syncing
// within a round trip instead of after a whole long poll of quiet rooms; the syncs after it
// long-poll as configured.
func TestRunRestartCatchesUpAtOnce(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	h.hs.QueueSync(syncReply("s1", nil), syncReply("s2", nil))
	sink := newRecordingSink()
	start(t, h.session(t, sink, func(o *Options) { o.SyncTimeout = 30 * time.Second }))
	h.waitSyncSince(t, "s2")
	syncs := h.syncs()
	if first := syncs[0]; first.Query.Get("since") != "s0" || first.Query.Get("timeout") != "0" {
		t.Fatalf("first /sync after a restart has query %v, want since=s0 and timeout=0", first.Query)
	}
	if second := syncs[1]; second.Query.Get("since") != "s1" || second.Query.Get("timeout") != "30000" {
		t.Fatalf("second /sync has query %v, want since=s1 and timeout=30000 (MATRIX_SYNC_TIMEOUT)", second.Query)
	}
	if _, ok := sink.hasStatus(0, model.StateSyncing, ""); !ok {
		t.Fatalf("the bot is not syncing after its catch-up sync: %v", sink.Statuses())
	}
}

// A message the interrupted run already handed over is not converted again when its batch comes
// back: no homeserver lookup of the event it replies to (nor any other per-message work).
func TestResumedBatchDoesNotConvertHandedOverMessagesAgain(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	batch := syncReply("s1", map[id.RoomID]any{roomA: timeline(
		replyTo("$r1", aliceID, "$nowhere", "a reply to an event the gateway never saw"),
		message("$r2", aliceID, time.Now(), "two"),
	)})
	batch.Since = "s0" // not for the request of the batch after it, which goes out during the hand-over
	h.hs.QueueSync(batch, batch)

	blocked := make(chan struct{})
	sink1 := newRecordingSink()
	sink1.hook = func(ctx context.Context, ev *model.Event) error {
		if ev.ID == "$r2" {
			close(blocked)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	stop := start(t, h.session(t, sink1, nil))
	select {
	case <-blocked:
	case <-time.After(waitLimit):
		t.Fatal("the second event was never published")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	assertEventIDs(t, sink1, "$r1")
	lookups := len(h.hs.RequestsTo("nowhere"))
	if lookups == 0 {
		t.Fatal("the first run never looked up the replied-to event")
	}

	sink2 := newRecordingSink()
	start(t, h.session(t, sink2, nil))
	h.waitSyncSince(t, "s1")
	assertEventIDs(t, sink2, "$r2")
	if n := len(h.hs.RequestsTo("nowhere")); n != lookups {
		t.Errorf("the resumed batch looked the replied-to event of a handed-over message up again (%d requests, want %d)", n, lookups)
	}
}

// The next /sync goes out while a batch is still being handed over (the homeserver holds it, so
// that an event arriving meanwhile is answered at once), but the position moves only after the
// hand-over: a stop before it leaves the batch to be fetched again.
func TestRunAsksForNextBatchWhileHandingOver(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{roomA: timeline(message("$m1", aliceID, time.Now(), "hi"))}))
	entered := make(chan struct{})
	release := make(chan struct{})
	sink := newRecordingSink()
	sink.hook = func(ctx context.Context, ev *model.Event) error {
		if ev.ID == "$m1" {
			close(entered)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	start(t, h.session(t, sink, nil))
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("the message was never published")
	}
	waitUntil(t, "a /sync with since=s1 while $m1 is being handed over", h.hs.Changed, func() bool {
		return slices.ContainsFunc(h.syncs(), func(r fakes.FakeRequest) bool { return r.Query.Get("since") == "s1" })
	})
	if got := h.storedToken(t); got != "s0" {
		t.Fatalf("token %q stored while the batch was still being handed over, want s0", got)
	}
	close(release)
	h.waitSyncSince(t, "s1")
	assertEventIDs(t, sink, "$m1")
}

// A bot without sync_filter asks for up to 100 timeline events of a room per /sync, so that a
// burst of more than the homeserver's default 10 comes whole instead of as a limited timeline
// whose gap is filled in with /messages round trips before any of it is handed over.
func TestRunDefaultFilterAsksForWholeBursts(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	h.hs.QueueSync(syncReply("s1", nil))
	start(t, h.session(t, newRecordingSink(), nil))
	h.waitSyncSince(t, "s1")
	for _, r := range h.syncs() {
		var f struct {
			Room struct {
				Timeline struct {
					Limit int `json:"limit"`
				} `json:"timeline"`
			} `json:"room"`
		}
		if err := json.Unmarshal([]byte(r.Query.Get("filter")), &f); err != nil || f.Room.Timeline.Limit != 100 {
			t.Fatalf("/sync query %v: want an inline filter with room.timeline.limit 100 (error %v)", r.Query, err)
		}
	}
}

// An idle long poll (the answer keeps the position and hands nothing over) does not write the
// position again: with a thousand idle bots that would be a database write ~30 times a second.
// The stored position is changed behind the loop's back; only a write would put s1 back.
func TestRunIdlePollsDoNotRewriteThePosition(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{roomA: timeline(message("$m1", aliceID, time.Now(), "hi"))}))
	sink := newRecordingSink()
	start(t, h.session(t, sink, nil))
	h.waitSyncSince(t, "s1")
	assertEventIDs(t, sink, "$m1")

	h.setToken(t, "marker")
	polls := len(h.syncs())
	// The fake answers a /sync it has nothing scripted for with the same next_batch: idle polls.
	waitUntil(t, "three more idle polls", h.hs.Changed, func() bool { return len(h.syncs()) >= polls+3 })
	if got := h.storedToken(t); got != "marker" {
		t.Fatalf("stored position %q after idle polls that kept it at s1: the loop wrote it again", got)
	}
}
