package gateway

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/matrix-onebot/gateway/internal/gateway/core"
)

// writerYieldEvery is how often, at most, Publish lets the writers of the connections it has
// just queued an event on run before it goes on (yieldToWriters): an event after a quiet spell
// reaches its writers at once, and under a burst each writer wakes for the frames of many events
// and writes them with one network write (transport.WriteQueued) instead of one write per event
// and connection. With one yield per event, 20,000 replayed messages to 10 v12 clients cost the
// gateway 75 µs per message instead of 48 µs (4.2 µs per extra delivery, over the 3 µs of issue
// 12), and to 100 clients 401 µs instead of 183 µs.
const writerYieldEvery = 500 * time.Microsecond

// writerYield is when Publish last yielded to the writers and how it yields: the time and the
// yield are fields so that a test can count the yields under a clock of its own.
type writerYield struct {
	now   func() time.Time
	yield func()
}

func defaultWriterYield() writerYield { return writerYield{now: time.Now, yield: runtime.Gosched} }

// yieldToWriters lets the writers just woken run (runtime.Gosched) unless this bot's Publish
// did so less than writerYieldEvery ago: otherwise the scheduler often keeps them waiting until
// the sync loop blocks, a quarter of a millisecond or more on a busy machine per event.
func (fo fanout) yieldToWriters(e *core.Entry) { fo.yieldTo(&e.LastYield) }

// yieldTo yields unless the last yield recorded in last (Unix ns) was less than
// writerYieldEvery ago: yieldToWriters for the connections without an outbox, and the same
// once Publish has handed an event to the deliverers of outboxes (push.AppendAll), each with
// its own time.
func (fo fanout) yieldTo(last *atomic.Int64) {
	y := fo.h.writers
	now := y.now().UnixNano()
	prev := last.Load()
	if prev != 0 && now >= prev && now-prev < int64(writerYieldEvery) {
		return
	}
	last.Store(now)
	y.yield()
}
