package gateway

import (
	"sync"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/metrics"
)

// sinkQueueSize bounds how many frames may wait for one slow connection before it is dropped.
const sinkQueueSize = 1024

// sink is one OneBot connection's outgoing queue. Events are queued without blocking: a
// connection whose queue is full is closed (and counted), so a slow client never blocks a bot.
type sink struct {
	version     int       // 11 or 12; 0 for the other faces
	face        face.Face // encodes the events (Hub.subscribe sets the OneBot face of version)
	bot         id.UserID // "" = all bots (v12)
	wantsEvents bool      // false for v11 API-only connections
	// refuseWhenFull makes a full queue refuse new events instead of closing the sink: for
	// consumers that live as long as the gateway (webhooks, outboxes, get_latest_events), so
	// that a full queue means "hold" (see Hub.Publish) rather than "disconnect".
	refuseWhenFull bool
	// onQueued, when set, runs after each queued event (get_latest_events wakes its polls).
	onQueued func()
	// durable, when set, is the feed with an outbox this sink belongs to: Hub.Publish writes
	// events straight to the outbox (in the same transaction for every such feed) instead of
	// queuing them here. Status frames still pass through the queue.
	durable *feed
	// transport names the kind of consumer in metrics (metrics.Transport*).
	transport string

	out  chan []byte
	done chan struct{}
	once sync.Once
	why  string
}

func newSink(version int, bot id.UserID, wantsEvents bool) *sink {
	return &sink{
		version: version, bot: bot, wantsEvents: wantsEvents, transport: metrics.TransportWS,
		out:  make(chan []byte, sinkQueueSize),
		done: make(chan struct{}),
	}
}

// enqueueEvent queues an event frame or, when the queue is full, closes the sink. It reports
// whether the frame was queued. A frame dropped because the queue was full is counted in st (for
// the process) and in m for bot, the bot whose event it was.
func (s *sink) enqueueEvent(frame []byte, st *Stats, m *metrics.Metrics, bot id.UserID) bool {
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
		closed := s.close("client too slow: event queue full")
		if closed {
			st.SlowDisconnects.Add(1)
		}
		m.SlowClient(string(bot), closed)
		return false
	}
}

// send queues a response frame, waiting while the connection is alive: responses are never dropped.
func (s *sink) send(frame []byte) bool {
	select {
	case s.out <- frame:
		return true
	case <-s.done:
		return false
	}
}

// close marks the sink closed; it reports whether this call closed it. The out channel is never
// closed (others may still send); the write pump watches done.
func (s *sink) close(why string) bool {
	closed := false
	s.once.Do(func() {
		s.why = why
		close(s.done)
		closed = true
	})
	return closed
}
