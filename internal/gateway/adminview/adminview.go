// Package adminview is what the admin page (internal/admin) shows of the hub: its OneBot
// connections and the last events it handed over per bot, without message text or tokens.
package adminview

import (
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/metrics"
)

// View is what the admin page (internal/admin) shows of the hub: the OneBot connections per
// transport with their queue depths, and the last events handed over per bot. It holds no
// message text and no token.
type View struct {
	Connections []Connection
	LastEvents  map[id.UserID][]Event
}

// Connection is one OneBot consumer: a WebSocket, a webhook / HTTP POST endpoint, an
// outbox, or the get_latest_events buffer.
type Connection struct {
	Transport string    // "forward WebSocket", "reverse WebSocket", "v12-webhook", …
	Version   int       // 11 or 12
	Bot       id.UserID // "" = every bot
	Endpoint  string    // the URL without query or password; "" for forward WebSockets
	Queued    int       // frames queued in memory
	Stored    int       // frames in the outbox on disk (-1 = none)
}

// Event is one event as the admin page lists it: no content.
type Event struct {
	Time time.Time
	Kind string
	ID   string
	Room string
}

// MaxEvents is how many events per bot the admin page keeps.
const MaxEvents = 20

// Recent keeps the last events per bot (the zero value is ready).
type Recent struct {
	mu     sync.Mutex
	events map[id.UserID]*eventRing
}

// eventRing keeps a bot's last MaxEvents events: add overwrites the oldest in place
// instead of copying the list on every event (it was ~4 % of the CPU per incoming message).
type eventRing struct {
	buf  []Event // oldest at next once full
	next int
}

// Add keeps e as self's newest event.
func (r *Recent) Add(self id.UserID, e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events == nil {
		r.events = map[id.UserID]*eventRing{}
	}
	ring := r.events[self]
	if ring == nil {
		ring = &eventRing{}
		r.events[self] = ring
	}
	if len(ring.buf) < MaxEvents {
		ring.buf = append(ring.buf, e)
		return
	}
	ring.buf[ring.next] = e
	ring.next = (ring.next + 1) % MaxEvents
}

// Snapshot returns each bot's last events, oldest first.
func (r *Recent) Snapshot() map[id.UserID][]Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[id.UserID][]Event, len(r.events))
	for u, ring := range r.events {
		l := make([]Event, 0, len(ring.buf))
		out[u] = append(append(l, ring.buf[ring.next:]...), ring.buf[:ring.next]...)
	}
	return out
}

// TransportLabel names a sink's transport (metrics.Transport*) for the operator.
func TransportLabel(t string) string {
	switch t {
	case metrics.TransportWS:
		return "forward WebSocket"
	case metrics.TransportReverseWS:
		return "reverse WebSocket"
	case metrics.TransportWebhook:
		return "webhook / HTTP POST"
	case metrics.TransportLatest:
		return "get_latest_events"
	case "":
		return "other"
	}
	return t
}

// EventOf is an event as the admin page lists it, its ID and room cut to 100 bytes.
func EventOf(kind string, id, room string, t time.Time) Event {
	return Event{Time: t, Kind: kind, ID: truncate(id, 100), Room: truncate(room, 100)}
}

// truncate shortens s to n bytes and an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
