package matrix

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// A bug that panics while the sync loop hands over an event (a hostile event, a panic in the hub)
// fails that bot's run, which Serve retries with backoff, the reason in its status; it never ends
// the process, every other bot with it.
func TestServeSurvivesAPanicInTheSyncLoop(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	batch := syncReply("s1", map[id.RoomID]any{roomA: timeline(message("$m1", aliceID, time.Now(), "hi"))})
	batch.Since = "s0"           // not for the request of the batch after it, which goes out during the hand-over
	h.hs.QueueSync(batch, batch) // the batch comes again after the restart: its position was not saved
	sink := newRecordingSink()
	var panicked atomic.Bool
	sink.hook = func(context.Context, *model.Event) error {
		if panicked.CompareAndSwap(false, true) {
			var m map[string]int
			m["boom"]++ // assignment to entry in nil map
		}
		return nil
	}
	s := h.session(t, sink, nil)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitUntil(t, "the status to say the run panicked", sink.Changed, func() bool {
		_, ok := sink.hasStatus(0, model.StateBackoff, "panic")
		return ok
	})
	waitEvents(t, sink, 1)
	assertEventIDs(t, sink, "$m1")
}
