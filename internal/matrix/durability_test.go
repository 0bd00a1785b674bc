package matrix

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/fakes"
	testharness "github.com/matrix-onebot/gateway/test/harness"
)

// The disk of the database fills up after a batch's event was handed over, so saving the sync
// position fails: the bot does not stop, it says why ("database disk is full", status backoff)
// and retries; once space returns the position is saved and syncing goes on, with no event lost
// or handed over twice.
func TestPositionSaveWaitsForDiskSpace(t *testing.T) {
	disk := testharness.MountSmallDisk(t, 8<<20)
	db, err := storage.Open(context.Background(), filepath.Join(disk.Dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	h := &harness{hs: fakes.NewFakeHomeserver(t, botID, botToken), db: db}
	h.setToken(t, "s0")
	h.hs.QueueSync(
		syncReply("s1", map[id.RoomID]any{roomA: timeline(message("$m1", aliceID, time.Now(), "just before the disk filled"))}),
		syncReply("s2", map[id.RoomID]any{roomA: timeline(message("$m2", aliceID, time.Now(), "after space returned"))}),
	)
	sink := newRecordingSink()
	sink.hook = func(_ context.Context, ev *model.Event) error {
		if ev.ID == "$m1" {
			disk.Fill() // handed over; now the position cannot be saved
		}
		return nil
	}
	stop := start(t, h.session(t, sink, nil))

	waitUntil(t, "the bot to say the disk is full", sink.Changed, func() bool {
		_, ok := sink.hasStatus(0, model.StateBackoff, "database disk is full")
		return ok
	})
	if got := h.storedToken(t); got != "s0" {
		t.Fatalf("stored position %q while the disk is full, want s0", got)
	}
	disk.Free()
	h.waitSyncSince(t, "s2")
	waitEvents(t, sink, 2)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	assertEventIDs(t, sink, "$m1", "$m2")
	if got := h.storedToken(t); got != "s2" {
		t.Fatalf("stored position %q, want s2", got)
	}
	if _, ok := sink.hasStatus(0, model.StateSyncing, ""); !ok {
		t.Fatalf("never syncing again: %+v", sink.Statuses())
	}
}

// When handing an event over fails in the database (the hub could not write an outbox), the
// batch is retried from that event after a backoff, the status saying why; the position does not
// move past it, and the events handed over before it are not handed over again.
func TestHandOverFailureIsRetriedNotSkipped(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	now := time.Now()
	h.hs.QueueSync(
		syncReply("s1", map[id.RoomID]any{roomA: timeline(message("$m1", aliceID, now, "one"), message("$m2", aliceID, now, "two"))}),
		syncReply("s2", nil),
	)
	var failures atomic.Int32
	sink := newRecordingSink()
	sink.hook = func(_ context.Context, ev *model.Event) error {
		if ev.ID == "$m2" && failures.Add(1) <= 2 {
			return fmt.Errorf("failed to append to outbox: %w", storage.ErrDiskFull)
		}
		return nil
	}
	stop := start(t, h.session(t, sink, nil))
	h.waitSyncSince(t, "s2") // the batch ending at s1 was handed over, then the empty one
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	assertEventIDs(t, sink, "$m1", "$m2")
	if _, ok := sink.hasStatus(0, model.StateBackoff, "database disk is full"); !ok {
		t.Fatalf("no status saying the disk is full in %+v", sink.Statuses())
	}
	if n := failures.Load(); n != 3 {
		t.Fatalf("$m2 was tried %d times, want 3 (two failures, then handed over)", n)
	}
}

// A bot whose Run fails (here its sync position cannot be read) is not left dead: Serve shows
// the reason in its status and starts it again with backoff, and it syncs once the cause is gone.
func TestServeRetriesAFailedBotAndShowsWhy(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	ctx := context.Background()
	if _, err := h.db.SQL().ExecContext(ctx, `ALTER TABLE gateway_sync RENAME TO gateway_sync_away`); err != nil {
		t.Fatal(err)
	}
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{roomA: timeline(message("$m1", aliceID, time.Now(), "hi"))}))
	sink := newRecordingSink()
	s := h.session(t, sink, nil)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Serve(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitUntil(t, "the status to say why the bot failed", sink.Changed, func() bool {
		_, ok := sink.hasStatus(0, model.StateBackoff, "GATEWAY_DATABASE")
		return ok
	})
	if st := s.Status(); st.State != model.StateBackoff || st.Reason == "" {
		t.Fatalf("status %+v, want backoff with a reason", st)
	}
	if _, err := h.db.SQL().ExecContext(ctx, `ALTER TABLE gateway_sync_away RENAME TO gateway_sync`); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, sink, 1)
	h.waitSyncSince(t, "s1")
	assertEventIDs(t, sink, "$m1")
	if st := s.Status(); st.State != model.StateSyncing {
		t.Fatalf("status %+v after the cause was fixed, want syncing", st)
	}
}

// A run cut off while the disk is full (events handed over, the position and the record of what
// was handed over not saved) is followed by a run that hands the batch over again, each event
// marked as replayed: never an unmarked duplicate.
func TestBatchCutOffWhileDiskFullIsReplayedMarked(t *testing.T) {
	disk := testharness.MountSmallDisk(t, 8<<20)
	db, err := storage.Open(context.Background(), filepath.Join(disk.Dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	h := &harness{hs: fakes.NewFakeHomeserver(t, botID, botToken), db: db}
	h.setToken(t, "s0")
	now := time.Now()
	batch := syncReply("s1", map[id.RoomID]any{roomA: timeline(message("$m1", aliceID, now, "one"), message("$m2", aliceID, now, "two"))})
	h.hs.QueueSync(batch)
	first := newRecordingSink()
	first.hook = func(_ context.Context, ev *model.Event) error {
		if ev.ID == "$m2" {
			disk.Fill() // $m2 is handed over; nothing can be saved after it
		}
		return nil
	}
	stop := start(t, h.session(t, first, nil))
	waitUntil(t, "the bot to say the disk is full", first.Changed, func() bool {
		_, ok := first.hasStatus(0, model.StateBackoff, "database disk is full")
		return ok
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	assertEventIDs(t, first, "$m1", "$m2")
	for _, ev := range first.Events() {
		if ev.Replayed {
			t.Fatalf("first delivery of %s marked as replayed", ev.ID)
		}
	}

	disk.Free()
	h.hs.QueueSync(batch, syncReply("s2", nil))
	second := newRecordingSink()
	start(t, h.session(t, second, nil))
	h.waitSyncSince(t, "s2") // the batch ending at s1 was handed over, then the empty one
	assertEventIDs(t, second, "$m1", "$m2")
	for _, ev := range second.Events() {
		if !ev.Replayed {
			t.Fatalf("%s handed over again unmarked after the cut-off run had handed it over", ev.ID)
		}
	}
}
