package push

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/await"
	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// OutboxStore keeps the frames of pushing endpoints while they are down (storage.DB).
type OutboxStore interface {
	OutboxAppend(ctx context.Context, endpoint string, payload []byte, at time.Time, lim storage.OutboxLimits) (int64, error)
	OutboxAppendAll(ctx context.Context, frames []storage.OutboxFrame, at time.Time, lim storage.OutboxLimits) (storage.OutboxAppended, error)
	OutboxPeek(ctx context.Context, endpoint string, limit int) ([]storage.OutboxEntry, error)
	OutboxDelete(ctx context.Context, endpoint string, seq int64) error
	OutboxPurge(ctx context.Context, cutoff time.Time) (int64, error)
	// For a retained stream (face.Subscription.Retain): read from a position, the newest seq,
	// and that frames were delivered (the retention of decrypted content applies).
	OutboxAfter(ctx context.Context, endpoint string, after int64, limit int) ([]storage.OutboxEntry, error)
	OutboxNewest(ctx context.Context, endpoint string) (int64, error)
	OutboxDelivered(ctx context.Context, endpoint string, seq int64) (int64, error)
}

const (
	outboxBatch      = 64              // frames read from the outbox at a time
	outboxRetryAfter = 2 * time.Second // after a database error
)

// Feed is the event stream of one pushing endpoint (webhook, HTTP POST, or a reverse WebSocket
// with an outbox). It is subscribed to the hub for the endpoint's whole life, so it counts as a
// consumer (Hub.Publish does not hold events for it) even while the endpoint is down.
//
// With an outbox, every frame is first written to SQLite and deleted once delivered: order is
// kept, nothing is lost across restarts, and after an outage the backlog is replayed at a capped
// rate, each frame marked as replayed. Without one, frames wait in the sink's bounded queue; when
// that is full the hub holds the bot's sync (a full queue refuses, it never disconnects).
//
// One goroutine calls next and done/fail; fill runs in another.
type Feed struct {
	p       *Pushers
	key     string
	version int
	sink    *Sink
	store   OutboxStore // nil: no outbox
	log     *slog.Logger
	notify  chan struct{} // cap 1: the outbox got a frame
	filled  chan struct{} // closed when fill has returned

	batch []storage.OutboxEntry
	// hand gives the deliverer the frames appended once it has read the outbox to its end
	// (caughtUp), instead of it reading them back; seen is the newest seq it has read. nil: every
	// frame is read from the outbox (other gateways append to it too: GATEWAY_CLUSTER).
	hand     *handover
	caughtUp bool
	seen     int64
	// retain keeps delivered frames in the outbox (until its limits drop them): next reads the
	// frames after pos, and done moves pos instead of deleting (a face's History). pos is the
	// newest frame delivered, also without retain.
	retain bool
	pos    int64
	// handed is pos for the goroutines other than the deliverer's (RetainedPositions).
	handed     atomic.Int64
	held       []byte // without outbox: the frame being retried
	heldFailed bool   // the held frame could not be delivered at least once
	// down is set while the endpoint cannot be reached; frames queued before backlogBefore
	// (when it was last reached again) waited for it: they are replayed, paced and marked.
	down          bool
	backlogBefore time.Time
	lastReplay    time.Time
}

// pending is a frame handed to an endpoint's deliverer.
type pending struct {
	seq       int64 // outbox row; 0 without outbox
	queuedAt  time.Time
	payload   []byte
	replay    bool
	encrypted bool // the frame holds decrypted content (storage.OutboxEntry.Encrypted)
}

// NewFeed subscribes a feed for bot's events ("" = all bots) in the given protocol version;
// persistent asks for an outbox (when the hub has one). Call close when done.
func (p *Pushers) NewFeed(ctx context.Context, key string, version int, bot id.UserID, persistent bool, transport string) *Feed {
	return p.newFaceFeed(ctx, key, version, p.host.FaceOf(version), bot, persistent, false, transport)
}

// newFaceFeed is newFeed for any face (version 0 for faces other than OneBot's); retain keeps
// the delivered frames of a persistent feed (face.Subscription.Retain).
func (p *Pushers) newFaceFeed(ctx context.Context, key string, version int, fc face.Face, bot id.UserID, persistent, retain bool, transport string) *Feed {
	set := p.settings()
	s := NewSink(version, bot, true)
	s.Face = fc
	s.Transport = transport
	s.refuseWhenFull = true
	f := &Feed{p: p, key: key, version: version, sink: s, notify: make(chan struct{}, 1),
		log: set.Log.With("endpoint", RedactKey(key))}
	if persistent && set.Outbox != nil && set.OutboxLimits.MaxEvents > 0 {
		f.store = set.Outbox
		if !set.OutboxShared {
			f.hand = newHandover()
		}
		s.durable = f // Hub.Publish writes events to the outbox itself (hub.go fanOut)
		p.outboxOnce.Do(func() { p.purgeOutbox(ctx, set) })
		if retain {
			// The frames kept from before are history (clients resume from them by seq); the
			// feed hands over what comes from now on.
			f.retain = true
			for attempt := 0; ; attempt++ {
				pos, err := f.store.OutboxNewest(ctx, key)
				if err == nil {
					f.pos = pos
					f.handed.Store(pos)
					// What an earlier run handed over, or left undelivered, is history now:
					// without a retention of decrypted content, its encrypted frames go.
					f.delivered(ctx, pos)
					break
				}
				f.log.Error("failed to read the outbox", "error", err)
				if attempt >= 2 || ctx.Err() != nil {
					break // from 0: the kept frames are handed over again, none is lost
				}
				time.Sleep(outboxRetryAfter)
			}
		} else if rows, err := f.store.OutboxPeek(ctx, key, 1); err == nil && len(rows) > 0 {
			f.backlogBefore = time.Now()
			f.log.Info("replaying the outbox of a previous run")
		}
		f.filled = make(chan struct{})
		go func() { defer close(f.filled); f.fill(ctx) }()
		if f.retain {
			p.retained.Store(key, f)
		}
	}
	p.host.Subscribe(s)
	return f
}

// RetainedPositions gives, for each retained stream with an outbox (face.Subscription.Retain),
// the seq of the newest frame it has handed over: the frames after it wait, those up to it are
// kept for clients that resume. The outbox metrics tell the two apart.
func (p *Pushers) RetainedPositions() map[string]int64 {
	out := map[string]int64{}
	p.retained.Range(func(k, v any) bool {
		out[k.(string)] = v.(*Feed).handed.Load()
		return true
	})
	return out
}

func (p *Pushers) purgeOutbox(ctx context.Context, set Settings) {
	if set.OutboxLimits.MaxAge <= 0 {
		return
	}
	n, err := set.Outbox.OutboxPurge(ctx, time.Now().Add(-set.OutboxLimits.MaxAge))
	if err != nil {
		set.Log.Warn("failed to purge expired outbox frames", "error", err)
	} else if n > 0 {
		set.Log.Warn("dropped expired outbox frames", "count", n, "max_age", set.OutboxLimits.MaxAge)
	}
}

// Close unsubscribes the feed. Call it once ctx of NewFeed has ended: it waits until the frames
// still queued in memory are written to the outbox.
func (f *Feed) Close() {
	f.p.retained.CompareAndDelete(f.key, f)
	f.p.host.Unsubscribe(f.sink)
	f.sink.Close("endpoint stopped")
	if f.filled != nil {
		<-f.filled
	}
}

// takeFrame receives a frame from the sink's queue and lets held Publish calls retry when the
// queue had been full.
func (f *Feed) takeFrame(frame []byte) []byte {
	if len(f.sink.out) == cap(f.sink.out)-1 {
		f.p.host.WakePublishers()
	}
	return frame
}

// Key names the feed's endpoint in the outbox (EndpointKey; RedactKey for logs).
func (f *Feed) Key() string { return f.key }

// Appended records that an event was written to the outbox (AppendAll), dropping n old frames to
// keep within the limits; it reports whether it woke the deliverer.
func (f *Feed) Appended(n int64) bool {
	if n > 0 && !f.retain { // a retained outbox is kept full: dropping its oldest is its window
		set := f.p.settings()
		set.Stats.OutboxDropped.Add(n)
		f.log.Warn("outbox full: dropped the oldest frames", "count", n,
			"max_events", set.OutboxLimits.MaxEvents, "max_age", set.OutboxLimits.MaxAge)
	}
	select {
	case f.notify <- struct{}{}:
		return true
	default:
		return false
	}
}

// fill moves status frames (events are written by Hub.Publish) from the hub into the outbox until ctx ends, then saves what is queued.
func (f *Feed) fill(ctx context.Context) {
	for {
		select {
		case frame := <-f.sink.out:
			if ctx.Err() != nil { // stopping: saved below, not with a context that has ended
				f.saveQueued(ctx, frame)
				return
			}
			// Not with ctx: a stop arriving during the write would drop the frame (the final
			// status_update is written exactly then); append's retries are bounded.
			f.append(context.WithoutCancel(ctx), f.takeFrame(frame))
		case <-ctx.Done():
			f.saveQueued(ctx, nil)
			return
		}
	}
}

// saveQueued writes first (if not nil) and what is still queued to the outbox once ctx has
// ended: Publish has stopped (bots stop before transports); keep what it handed over.
func (f *Feed) saveQueued(ctx context.Context, first []byte) {
	save, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if first != nil {
		f.append(save, first)
	}
	for {
		select {
		case frame := <-f.sink.out:
			f.append(save, frame)
		default:
			return
		}
	}
}

func (f *Feed) append(ctx context.Context, frame []byte) {
	for attempt := 1; ; attempt++ {
		dropped, err := f.appendStatus(ctx, frame)
		if err == nil {
			f.Appended(dropped)
			return
		}
		if attempt >= 3 || ctx.Err() != nil {
			// Only status frames come this way; the next one says the same, more recently.
			f.p.settings().Stats.OutboxDropped.Add(1)
			f.log.Error("failed to write a status frame to the outbox: frame dropped", "error", err)
			return
		}
		_ = await.Sleep(ctx, outboxRetryAfter)
	}
}

// appendStatus writes a status frame to the outbox. Its seq is not known, so the deliverer reads
// the outbox next (handover.spoil).
func (f *Feed) appendStatus(ctx context.Context, frame []byte) (int64, error) {
	if f.hand != nil {
		if !f.hand.acquire(ctx) {
			return 0, ctx.Err()
		}
		defer f.hand.release()
		defer f.hand.spoil()
	}
	return f.store.OutboxAppend(ctx, f.key, frame, time.Now(), f.p.settings().OutboxLimits)
}

// next returns the next frame to deliver, waiting for one; while a backlog is replayed it
// waits for the replay pace. The same frame is returned again until done is called.
func (f *Feed) next(ctx context.Context) (pending, error) {
	if f.store == nil {
		if f.held == nil {
			select {
			case frame := <-f.sink.out:
				f.held = f.takeFrame(frame)
			case <-ctx.Done():
				return pending{}, ctx.Err()
			}
		}
		return f.ready(ctx, pending{payload: f.held, replay: f.heldFailed})
	}
	for {
		if len(f.batch) == 0 && f.caughtUp {
			rows, ok := f.hand.take(f.seen)
			f.caughtUp = ok
			f.keep(rows)
		}
		if len(f.batch) == 0 && !f.caughtUp {
			if f.hand != nil {
				f.hand.listen()
			}
			rows, err := f.peek(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return pending{}, ctx.Err()
				}
				f.log.Error("failed to read the outbox", "error", err)
				if err := await.Sleep(ctx, outboxRetryAfter); err != nil {
					return pending{}, err
				}
				continue
			}
			// Fewer than asked for: every frame there has been read, and what comes next is
			// handed over.
			f.seen, f.caughtUp = f.pos, f.hand != nil && len(rows) < outboxBatch
			f.keep(rows)
		}
		if len(f.batch) > 0 {
			e := f.batch[0]
			return f.ready(ctx, pending{seq: e.Seq, queuedAt: e.QueuedAt, payload: e.Payload, encrypted: e.Encrypted,
				replay: f.down || (!f.backlogBefore.IsZero() && !e.QueuedAt.After(f.backlogBefore))})
		}
		if !f.backlogBefore.IsZero() {
			f.backlogBefore = time.Time{}
			f.log.Info("outbox replayed: delivering live again")
		}
		select {
		case <-f.notify:
		case <-ctx.Done():
			return pending{}, ctx.Err()
		}
	}
}

// drainNext returns the next frame without waiting for one or for the replay pace (the gateway
// is stopping); false when there is none, or the outbox cannot be read.
func (f *Feed) drainNext(ctx context.Context) (pending, bool) {
	if f.store == nil {
		if f.held == nil {
			select {
			case frame := <-f.sink.out:
				f.held = f.takeFrame(frame)
			default:
				return pending{}, false
			}
		}
		return pending{payload: f.held}, true
	}
	if len(f.batch) == 0 {
		rows, err := f.peek(ctx)
		if err != nil || len(rows) == 0 {
			return pending{}, false
		}
		f.batch = rows
	}
	e := f.batch[0]
	p := pending{seq: e.Seq, queuedAt: e.QueuedAt, payload: e.Payload, encrypted: e.Encrypted,
		replay: f.down || (!f.backlogBefore.IsZero() && !e.QueuedAt.After(f.backlogBefore))}
	if p.replay {
		p.payload = f.sink.Face.MarkReplayed(p.payload)
	}
	return p, true
}

// keep makes rows, read from the outbox or handed over, the batch to deliver.
func (f *Feed) keep(rows []storage.OutboxEntry) {
	f.batch = rows
	if len(rows) > 0 {
		f.seen = max(f.seen, rows[len(rows)-1].Seq)
	}
}

// peek reads the next frames of the outbox: the oldest, or those after pos when it is retained.
func (f *Feed) peek(ctx context.Context) ([]storage.OutboxEntry, error) {
	if f.retain {
		return f.store.OutboxAfter(ctx, f.key, f.pos, outboxBatch)
	}
	return f.store.OutboxPeek(ctx, f.key, outboxBatch)
}

// ready paces and marks a frame of a backlog.
func (f *Feed) ready(ctx context.Context, p pending) (pending, error) {
	if !p.replay {
		return p, nil
	}
	if wait := time.Until(f.lastReplay.Add(f.p.settings().replayGap())); wait > 0 {
		if err := await.Sleep(ctx, wait); err != nil {
			return pending{}, err
		}
	}
	p.payload = f.sink.Face.MarkReplayed(p.payload)
	return p, nil
}

// up records that the endpoint is reachable (again): what was queued until now is a backlog.
func (f *Feed) up() {
	if f.down || f.store != nil {
		f.backlogBefore = time.Now()
	}
	f.down = false
}

// done records that p was delivered.
func (f *Feed) done(ctx context.Context, p pending) {
	if p.replay {
		f.lastReplay = time.Now()
		f.p.settings().Stats.OutboxReplayed.Add(1)
	}
	if f.down {
		f.up()
	}
	if f.store == nil {
		f.held, f.heldFailed = nil, false
		return
	}
	if len(f.batch) > 0 && f.batch[0].Seq == p.seq {
		f.batch = f.batch[1:]
	}
	f.pos = max(f.pos, p.seq)
	if f.retain {
		f.handed.Store(f.pos)
		if p.encrypted {
			f.delivered(ctx, p.seq)
		}
		return
	}
	if err := f.store.OutboxDelete(context.WithoutCancel(ctx), f.key, p.seq); err != nil {
		f.log.Error("failed to delete a delivered frame from the outbox; it may be sent twice", "error", err)
	}
}

// delivered tells the outbox of a retained stream that its frames up to seq were handed over:
// with GATEWAY_ENCRYPTED_BODY_RETENTION=0 their decrypted content is deleted then
// (storage.OutboxStore.OutboxDelivered).
func (f *Feed) delivered(ctx context.Context, seq int64) {
	if _, err := f.store.OutboxDelivered(context.WithoutCancel(ctx), f.key, seq); err != nil {
		f.log.Error("failed to delete delivered frames of encrypted rooms from the outbox; the next start deletes them", "error", err)
	}
}

// fail records that the endpoint could not take p: it is delivered again later, and what
// waits meanwhile is a backlog.
func (f *Feed) fail() {
	f.down = true
	f.heldFailed = f.held != nil
	f.batch = nil // re-read: the count or age limit may have dropped frames meanwhile
	if f.hand != nil {
		f.hand.spoil() // nothing is collected while the endpoint is down
		f.caughtUp = false
	}
}

// Transport names the feed's kind of endpoint in metrics (metrics.Transport*).
func (f *Feed) Transport() string { return f.sink.Transport }
