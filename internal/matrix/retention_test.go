package matrix

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/wait"
)

// The message index marks the messages of encrypted rooms, and get_msg tells apart a message
// that is unknown, one past GATEWAY_MESSAGE_RETENTION and one whose decrypted body is past
// GATEWAY_ENCRYPTED_BODY_RETENTION, naming the variable.
func TestGetMessageRetention(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var now atomic.Int64
	now.Store(time.Now().UnixMilli())
	h.db.SetClock(func() time.Time { return time.UnixMilli(now.Load()) })
	states := newStateStore(t, h)
	if err := states.SetEncryptionEvent(ctx, roomB, &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}); err != nil {
		t.Fatal(err)
	}
	h.setToken(t, "s0")
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{
		roomA: timeline(message("$plain", aliceID, time.Now(), "in the clear")),
		roomB: timeline(message("$secret", aliceID, time.Now(), "decrypted secret")),
	}))
	sink := newRecordingSink()
	s := h.session(t, sink, func(o *Options) { o.StateStore = states })
	start(t, s)
	waitEvents(t, sink, 2)

	for evt, enc := range map[string]bool{"$plain": false, "$secret": true} {
		m, err := h.db.Messages().GetMessage(ctx, string(botID), evt)
		if err != nil || m.Encrypted != enc {
			t.Errorf("%s indexed as %+v, %v; want encrypted = %v", evt, m, err, enc)
		}
	}
	h.db.SetRetention(storage.Retention{MessageAge: 7 * 24 * time.Hour, MessageCount: 100, EncryptedBodyAge: 24 * time.Hour})
	if _, err := s.bot.out.GetMessage(ctx, "$secret"); err != nil {
		t.Fatalf("within the retention: %v", err)
	}
	now.Add((25 * time.Hour).Milliseconds())
	if ev, err := s.bot.out.GetMessage(ctx, "$plain"); err != nil || ev.Message.Plain != "in the clear" {
		t.Errorf("unencrypted message after a day: %+v, %v", ev, err)
	}
	_, err := s.bot.out.GetMessage(ctx, "$secret")
	if model.KindOf(err) != model.ErrGone || !strings.Contains(err.Error(), "GATEWAY_ENCRYPTED_BODY_RETENTION") {
		t.Errorf("encrypted body after a day: %v; want gone, naming GATEWAY_ENCRYPTED_BODY_RETENTION", err)
	}
	if got, elsewhere := s.bot.out.index.In(ctx, roomB, "$secret"); got != aliceID || elsewhere {
		t.Errorf("a reply to the encrypted message gets sender %q, want %s", got, aliceID)
	}
	now.Add((7 * 24 * time.Hour).Milliseconds())
	_, err = s.bot.out.GetMessage(ctx, "$plain")
	if model.KindOf(err) != model.ErrGone || !strings.Contains(err.Error(), "GATEWAY_MESSAGE_RETENTION") {
		t.Errorf("after a week: %v; want gone, naming GATEWAY_MESSAGE_RETENTION", err)
	}
	_, err = s.bot.out.GetMessage(ctx, "$never")
	if model.KindOf(err) != model.ErrNotFound || !strings.Contains(err.Error(), "GATEWAY_MESSAGE_RETENTION") {
		t.Errorf("unknown message: %v; want not found, naming the retention", err)
	}
}

// The messages of a batch are indexed together before they are handed over (held in memory until
// the batch is stored: TestBatchStoredBeforeThePositionMoves): each is in the index when the sink
// gets it, and a room that turns encryption on in the timeline has the messages
// after that state event indexed as encrypted, those before it not.
func TestBatchIndexedBeforeHandOver(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	states := newStateStore(t, h)
	h.setToken(t, "s0")
	now := time.Now()
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{roomA: timeline(
		message("$before", aliceID, now, "before"),
		stateEvent("$enc", "m.room.encryption", "", aliceID, now, map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}),
		message("$after", aliceID, now, "after"),
	)}))
	sink := newRecordingSink()
	sink.hook = func(ctx context.Context, ev *model.Event) error {
		if _, err := h.db.Messages().GetMessage(ctx, string(botID), ev.ID); err != nil {
			t.Errorf("%s handed over before it was indexed: %v", ev.ID, err)
		}
		return nil
	}
	s := h.session(t, sink, func(o *Options) { o.StateStore = states; o.HandleOldEvents = true })
	start(t, s)
	waitEvents(t, sink, 2)
	for evt, enc := range map[string]bool{"$before": false, "$after": true} {
		m, err := h.db.Messages().GetMessage(ctx, string(botID), evt)
		if err != nil || m.Encrypted != enc {
			t.Errorf("%s indexed as %+v, %v; want encrypted = %v", evt, m, err, enc)
		}
	}
}

// The index's commit is not on the way of an event to the clients (issue 12): a batch's messages
// are held in memory while they are handed over (get_msg answers from there) and stored before
// the sync position moves past them.
func TestBatchStoredBeforeThePositionMoves(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.setToken(t, "s0")
	now := time.Now()
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{roomA: timeline(
		message("$one", aliceID, now, "one"),
		message("$two", aliceID, now, "two"),
	)}))
	rows := func() (n int) {
		if err := h.db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM gateway_message").Scan(&n); err != nil {
			t.Error(err)
		}
		return n
	}
	sink := newRecordingSink()
	var atHandOver []int
	sink.hook = func(ctx context.Context, ev *model.Event) error {
		if _, err := h.db.Messages().GetMessage(ctx, string(botID), ev.ID); err != nil {
			t.Errorf("get_msg of %s when it is handed over: %v", ev.ID, err)
		}
		atHandOver = append(atHandOver, rows())
		return nil
	}
	s := h.session(t, sink, func(o *Options) { o.HandleOldEvents = true })
	start(t, s)
	waitEvents(t, sink, 2)
	wait.For(t, 10*time.Second, "the position to move to s1", func() bool {
		tok, err := h.db.Sync().SyncToken(ctx, string(botID))
		return err == nil && tok == "s1"
	})
	if n := rows(); n != 2 {
		t.Fatalf("%d messages stored once the position is s1, want 2", n)
	}
	if len(atHandOver) != 2 || atHandOver[0] != 0 || atHandOver[1] != 0 {
		t.Fatalf("rows in the database when each message was handed over: %v, want none (stored after the batch)", atHandOver)
	}
}

// What the sync loop keeps of a room's encryption (it asks for every batch of messages) is
// forgotten when the send path learns from the homeserver that the room is encrypted, not only at
// the room's next state event: the next messages are indexed as an encrypted room's.
func TestLearntEncryptionReachesTheSyncLoop(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	states := newStateStore(t, h)
	h.setToken(t, "s0")
	now := time.Now()
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{roomA: timeline(message("$plain", aliceID, now, "before"))}))
	sink := newRecordingSink()
	s := h.session(t, sink, func(o *Options) { o.StateStore = states; o.HandleOldEvents = true })
	start(t, s)
	waitEvents(t, sink, 1)
	h.hs.SetState(roomA, "m.room.encryption", "", megolmState)
	if _, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("hi")); err == nil {
		t.Fatal("a bot without end-to-end encryption sent into an encrypted room")
	}
	h.hs.QueueSync(syncReply("s2", map[id.RoomID]any{roomA: timeline(message("$later", aliceID, now, "after"))}))
	waitEvents(t, sink, 2)
	for evt, enc := range map[string]bool{"$plain": false, "$later": true} {
		m, err := h.db.Messages().GetMessage(ctx, string(botID), evt)
		if err != nil || m.Encrypted != enc {
			t.Errorf("%s indexed as %+v, %v; want encrypted = %v", evt, m, err, enc)
		}
	}
}

// A raw state send of m.room.encryption (matrix.send_state_event), which the mautrix client writes
// to the state store, reaches what the sync loop keeps of the room's encryption as well: the next
// messages are indexed as an encrypted room's (one cache, account.StoredEncryption, for the sync
// loop and the send path).
func TestRawEncryptionStateReachesTheSyncLoop(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	states := newStateStore(t, h)
	h.setToken(t, "s0")
	now := time.Now()
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{roomA: timeline(message("$plain", aliceID, now, "before"))}))
	sink := newRecordingSink()
	s := h.session(t, sink, func(o *Options) { o.StateStore = states; o.HandleOldEvents = true })
	start(t, s)
	waitEvents(t, sink, 1)
	if _, err := rawAPI(t, s).SendState(ctx, roomA, "m.room.encryption", "", json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)); err != nil {
		t.Fatal(err)
	}
	h.hs.QueueSync(syncReply("s2", map[id.RoomID]any{roomA: timeline(message("$later", aliceID, now, "after"))}))
	waitEvents(t, sink, 2)
	if m, err := h.db.Messages().GetMessage(ctx, string(botID), "$later"); err != nil || !m.Encrypted {
		t.Fatalf("$later indexed as %+v, %v; want encrypted", m, err)
	}
}
