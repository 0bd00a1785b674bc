package push

import (
	"strings"
	"sync"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/metrics"
)

// sinkQueueSize bounds how many frames may wait for one slow connection before it is dropped.
const sinkQueueSize = 1024

// Sink is one OneBot connection's outgoing queue. Events are queued without blocking: a
// connection whose queue is full is closed (and counted), so a slow client never blocks a bot.
// Its exported fields are set before it is subscribed (Host.Subscribe) and only read after.
type Sink struct {
	Version     int       // 11 or 12; 0 for the other faces
	Face        face.Face // encodes the events (Host.Subscribe sets the OneBot face of Version)
	Bot         id.UserID // "" = all bots (v12)
	WantsEvents bool      // false for v11 API-only connections
	// Transport names the kind of consumer in metrics (metrics.Transport*).
	Transport string

	// refuseWhenFull makes a full queue refuse new events instead of closing the sink: for
	// consumers that live as long as the gateway (webhooks, outboxes, get_latest_events), so
	// that a full queue means "hold" (see Hub.Publish) rather than "disconnect".
	refuseWhenFull bool
	// onQueued, when set, runs after each queued event (get_latest_events wakes its polls).
	onQueued func()
	// durable, when set, is the feed with an outbox this sink belongs to: Hub.Publish writes
	// events straight to the outbox (in the same transaction for every such feed) instead of
	// queuing them here. Status frames still pass through the queue.
	durable *Feed

	out  chan []byte
	done chan struct{}
	once sync.Once
	why  string
}

// NewSink returns the queue of a forward WebSocket connection of bot ("" = all bots).
func NewSink(version int, bot id.UserID, wantsEvents bool) *Sink {
	return &Sink{
		Version: version, Bot: bot, WantsEvents: wantsEvents, Transport: metrics.TransportWS,
		out:  make(chan []byte, sinkQueueSize),
		done: make(chan struct{}),
	}
}

// Enqueue queues an event frame or, when the queue is full, closes the sink. It reports
// whether the frame was queued. A frame dropped because the queue was full is counted in st (for
// the process) and in m for bot, the bot whose event it was.
func (s *Sink) Enqueue(frame []byte, st *core.Stats, m *metrics.Metrics, bot id.UserID) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	select {
	case s.out <- frame:
		if s.onQueued != nil {
			s.onQueued()
		}
		return true
	default:
		if s.refuseWhenFull {
			return false
		}
		st.EventsDropped.Add(1)
		closed := s.Close("client too slow: event queue full")
		if closed {
			st.SlowDisconnects.Add(1)
		}
		m.SlowClient(string(bot), closed)
		return false
	}
}

// send queues a response frame, waiting while the connection is alive: responses are never dropped.
func (s *Sink) send(frame []byte) bool {
	select {
	case s.out <- frame:
		return true
	case <-s.done:
		return false
	}
}

// Close marks the sink closed; it reports whether this call closed it. The out channel is never
// closed (others may still send); the write pump watches done.
func (s *Sink) Close(why string) bool {
	closed := false
	s.once.Do(func() {
		s.why = why
		close(s.done)
		closed = true
	})
	return closed
}

// Lasting reports whether the sink lives as long as the gateway (a feed of a webhook, a reverse
// WebSocket or another face's stream, a get_latest_events buffer) rather than being a client's
// connection.
func (s *Sink) Lasting() bool { return s.refuseWhenFull }

// Done is closed when the sink is.
func (s *Sink) Done() <-chan struct{} { return s.done }

// Out is the queue: the frames waiting to be written.
func (s *Sink) Out() <-chan []byte { return s.out }

// Durable is the feed with an outbox the sink belongs to, or nil: Hub.Publish writes its
// events to the outbox and calls Feed.Appended.
func (s *Sink) Durable() *Feed { return s.durable }

// WhyBotRemoved starts the reason of a sink closed because its bot left the gateway: its
// WebSocket closes with 1001 (going away) and this reason, not 1008.
const WhyBotRemoved = "bot removed"

// removedClose reports whether a sink was closed because its bot was removed.
func removedClose(why string) bool { return strings.HasPrefix(why, WhyBotRemoved) }
