package push

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/matrix-onebot/gateway/internal/storage"
)

// handoverMax bounds the frames a feed collects for its deliverer in memory: past it, the
// deliverer reads them from the outbox.
const handoverMax = 4 * outboxBatch

// handover gives a feed's deliverer the frames just written to its outbox in memory, with their
// seq, instead of the deliverer reading each back from the database (issue 12: a query on the
// way of every frame to a reverse WebSocket or webhook). The outbox stays the record: a frame
// is handed over only once it is committed, and the deliverer deletes or marks it there as
// before, so a restart replays from the outbox exactly as without the hand-over.
//
// Order and gaps: appends to one feed's outbox take the feed's lock from before their write
// until they have handed their frame over, so frames are handed over in the order of their seq
// (the database gives seqs in commit order: SQLite has one writer, PostgreSQL appends to one
// endpoint under an advisory lock). The deliverer calls listen before each read of the outbox
// and collects from then on; once a read has returned every frame there (fewer than a batch),
// it takes the collected frames after the last one it read (take), and reads the outbox again
// only when the collection was given up (spoil): a frame that was committed but could not be
// collected (a status frame, whose append does not return its seq; a write that failed, which
// may have committed all the same), or too many frames waiting for a slow deliverer.
type handover struct {
	lock chan struct{} // cap 1: held by one append from before its write until its hand-over
	id   uint64        // appends to several feeds take their locks in the order of id

	mu     sync.Mutex
	open   bool                  // collecting: listen was called and nothing was given up since
	frames []storage.OutboxEntry // committed since listen, in the order of seq
}

var handoverIDs atomic.Uint64

func newHandover() *handover {
	return &handover{lock: make(chan struct{}, 1), id: handoverIDs.Add(1)}
}

// acquire takes the lock of an append; false when ctx ended first.
func (h *handover) acquire(ctx context.Context) bool {
	select {
	case h.lock <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (h *handover) release() { <-h.lock }

// give collects a committed frame for the deliverer; the caller holds the lock.
func (h *handover) give(e storage.OutboxEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.open {
		return
	}
	if len(h.frames) >= handoverMax {
		h.open, h.frames = false, nil // the deliverer reads them from the outbox
		return
	}
	h.frames = append(h.frames, e)
}

// spoil gives up the collection: a frame may have been committed that it does not hold, so the
// deliverer reads the outbox next.
func (h *handover) spoil() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open, h.frames = false, nil
}

// listen starts a collection: call it before reading the outbox. Every frame committed after
// the read is collected; one committed before it may be too (take leaves those out by seq).
func (h *handover) listen() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open, h.frames = true, nil
}

// take returns the collected frames with a seq above after (the newest the deliverer has read),
// oldest first, and empties the collection; ok is false when the collection was given up (read
// the outbox, after listen).
func (h *handover) take(after int64) (frames []storage.OutboxEntry, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.open {
		return nil, false
	}
	frames, h.frames = h.frames, nil
	i, _ := slices.BinarySearchFunc(frames, after, func(e storage.OutboxEntry, seq int64) int { return cmp.Compare(e.Seq, seq+1) })
	return frames[i:], true
}

// AppendAll writes frames[i] to the outbox of feeds[i] (its Durable feed), all in one
// transaction (OutboxStore.OutboxAppendAll), and hands each frame over to its feed's deliverer
// (handover). It reports whether it woke a deliverer: the caller lets it run at once (the
// scheduler otherwise often keeps it waiting until the caller blocks). An error means that none
// was stored.
func AppendAll(ctx context.Context, store OutboxStore, feeds []*Feed, frames []storage.OutboxFrame, lim storage.OutboxLimits) (bool, error) {
	// The locks in one order (handover.id), so that two appends cannot wait for each other.
	locked := make([]*handover, 0, len(feeds))
	for _, f := range feeds {
		if f.hand != nil {
			locked = append(locked, f.hand)
		}
	}
	slices.SortFunc(locked, func(a, b *handover) int { return cmp.Compare(a.id, b.id) })
	for i, h := range locked {
		if !h.acquire(ctx) {
			for _, h := range locked[:i] {
				h.release()
			}
			return false, ctx.Err()
		}
	}
	defer func() {
		for _, h := range locked {
			h.release()
		}
	}()
	at := time.Now()
	app, err := store.OutboxAppendAll(ctx, frames, at, lim)
	if err != nil {
		for _, h := range locked {
			h.spoil() // the commit may have happened all the same
		}
		return false, err
	}
	woken := false
	for i, f := range feeds {
		dropped := app.Dropped[f.Key()]
		switch {
		case f.hand == nil:
		case len(app.Seqs) != len(frames) || dropped > 0 && !f.retain:
			// The limits dropped frames that wait: the deliverer reads what is left from the
			// outbox, so that it does not deliver a frame counted as dropped (a retained
			// outbox drops its oldest, delivered, frames at every append once full). Or the
			// store did not say the seqs.
			f.hand.spoil()
		default:
			f.hand.give(storage.OutboxEntry{Seq: app.Seqs[i], QueuedAt: at, Payload: frames[i].Payload, Encrypted: frames[i].Encrypted})
		}
		woken = f.Appended(dropped) || woken
	}
	return woken, nil
}
