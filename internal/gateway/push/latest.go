package push

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/metrics"
)

// latestBuffer holds v12 events for get_latest_events (HTTP polling). It subscribes at the first
// call, so that events are not piled up for a client that never polls; from then on it counts as
// a consumer while it has room. When it is full it refuses events, so that, with no other
// consumer, the hub holds the bots' sync until a poll makes room again.
//
// Long polls wait side by side: each waits on its own timer for the arrived signal, then drains
// under mu, so that two polls never split a batch out of order.
type latestBuffer struct {
	bot  id.UserID // "" = every bot
	once sync.Once
	sink *Sink
	mu   sync.Mutex // held while draining, never while waiting

	sigMu   sync.Mutex
	arrived chan struct{} // closed, and replaced, whenever an event is queued
	waiting atomic.Int32  // polls waiting for an event
}

// signal wakes every waiting poll: an event was queued.
func (b *latestBuffer) signal() {
	b.sigMu.Lock()
	close(b.arrived)
	b.arrived = make(chan struct{})
	b.sigMu.Unlock()
}

// next returns the channel closed at the next queued event.
func (b *latestBuffer) next() <-chan struct{} {
	b.sigMu.Lock()
	defer b.sigMu.Unlock()
	return b.arrived
}

// latestBuffer is the get_latest_events buffer of every bot (only nil), or of one bot.
func (p *Pushers) latestBuffer(only *core.Entry) *latestBuffer {
	if only == nil {
		return p.latest
	}
	p.latestMu.Lock()
	defer p.latestMu.Unlock()
	u := only.Bot.UserID()
	if p.latestBots[u] == nil {
		p.latestBots[u] = &latestBuffer{bot: u}
	}
	return p.latestBots[u]
}

// ForgetBot drops the get_latest_events buffer of a bot removed from the hub.
func (p *Pushers) ForgetBot(u id.UserID) {
	p.latestMu.Lock()
	delete(p.latestBots, u)
	p.latestMu.Unlock()
}

// LatestWaiting is how many polls of every bot's events wait now.
func (p *Pushers) LatestWaiting() int { return int(p.latest.waiting.Load()) }

// LatestEvents returns up to limit v12 events (0 = all) of get_latest_events, of every bot
// (only nil) or of one, waiting up to timeout for the first one.
func (p *Pushers) LatestEvents(ctx context.Context, only *core.Entry, limit int, timeout time.Duration) []json.RawMessage {
	b := p.latestBuffer(only)
	b.once.Do(func() {
		b.arrived = make(chan struct{})
		b.sink = NewSink(12, b.bot, true)
		b.sink.Transport = metrics.TransportLatest
		b.sink.out = make(chan []byte, p.settings().EventBuffer)
		b.sink.refuseWhenFull = true
		b.sink.onQueued = b.signal
		p.host.Subscribe(b.sink)
	})
	var expired <-chan time.Time
	for {
		arrived := b.next() // before draining: an event queued after the drain closes it
		if out := p.drainLatest(b, limit); len(out) > 0 || timeout <= 0 {
			return out
		}
		if expired == nil {
			t := time.NewTimer(timeout)
			defer t.Stop()
			expired = t.C
			b.waiting.Add(1)
			defer b.waiting.Add(-1)
		}
		select {
		case <-arrived: // another poll may have taken it: drain, and wait again if empty
		case <-expired:
			return []json.RawMessage{}
		case <-ctx.Done():
			return []json.RawMessage{}
		}
	}
}

// drainLatest takes up to limit events of buffer b (0 = all), one poll at a time.
func (p *Pushers) drainLatest(b *latestBuffer, limit int) []json.RawMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []json.RawMessage{}
	wasFull := len(b.sink.out) == cap(b.sink.out)
drain:
	for limit <= 0 || len(out) < limit {
		select {
		case f := <-b.sink.out:
			out = append(out, f)
		default:
			break drain
		}
	}
	if wasFull && len(out) > 0 {
		p.host.WakePublishers()
	}
	return out
}
