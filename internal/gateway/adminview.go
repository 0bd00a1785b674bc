package gateway

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/metrics"
)

// AdminView is what the admin page (internal/admin) shows of the hub: the OneBot connections
// per transport with their queue depths, and the last events handed over per bot. It holds no
// message text and no token.
type AdminView struct {
	Connections []AdminConnection
	LastEvents  map[id.UserID][]AdminEvent
}

// AdminConnection is one OneBot consumer: a WebSocket, a webhook / HTTP POST endpoint, an
// outbox, or the get_latest_events buffer.
type AdminConnection struct {
	Transport string    // "forward WebSocket", "reverse WebSocket", "v12-webhook", …
	Version   int       // 11 or 12
	Bot       id.UserID // "" = every bot
	Endpoint  string    // the URL without query or password; "" for forward WebSockets
	Queued    int       // frames queued in memory
	Stored    int       // frames in the outbox on disk (-1 = none)
}

// AdminEvent is one event as the admin page lists it: no content.
type AdminEvent struct {
	Time time.Time
	Kind string
	ID   string
	Room string
}

// maxAdminEvents is how many events per bot the admin page keeps.
const maxAdminEvents = 20

type recentEvents struct {
	mu     sync.Mutex
	events map[id.UserID]*eventRing
}

// eventRing keeps a bot's last maxAdminEvents events: add overwrites the oldest in place
// instead of copying the list on every event (it was ~4 % of the CPU per incoming message).
type eventRing struct {
	buf  []AdminEvent // oldest at next once full
	next int
}

func (r *recentEvents) add(self id.UserID, e AdminEvent) {
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
	if len(ring.buf) < maxAdminEvents {
		ring.buf = append(ring.buf, e)
		return
	}
	ring.buf[ring.next] = e
	ring.next = (ring.next + 1) % maxAdminEvents
}

// snapshot returns each bot's last events, oldest first.
func (r *recentEvents) snapshot() map[id.UserID][]AdminEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[id.UserID][]AdminEvent, len(r.events))
	for u, ring := range r.events {
		l := make([]AdminEvent, 0, len(ring.buf))
		out[u] = append(append(l, ring.buf[ring.next:]...), ring.buf[:ring.next]...)
	}
	return out
}

// AdminView returns the hub's connections and last events.
func (h *Hub) AdminView(ctx context.Context) AdminView {
	h.sinksMu.RLock()
	sinks := make([]*sink, 0, len(h.sinks))
	for s := range h.sinks {
		sinks = append(sinks, s)
	}
	h.sinksMu.RUnlock()
	counter, _ := h.opts.Outbox.(interface {
		OutboxCount(ctx context.Context, endpoint string) (int, error)
	})
	var v AdminView
	for _, s := range sinks {
		c := AdminConnection{Transport: transportLabel(s.Transport), Version: s.Version, Bot: s.Bot, Queued: len(s.Out()), Stored: -1}
		if f := s.Durable(); f != nil {
			c.Endpoint = push.RedactKey(f.Key())
			if counter != nil {
				if n, err := counter.OutboxCount(ctx, f.Key()); err == nil {
					c.Stored = n
				}
			}
		}
		v.Connections = append(v.Connections, c)
	}
	slices.SortFunc(v.Connections, func(a, b AdminConnection) int {
		if a.Transport != b.Transport {
			if a.Transport < b.Transport {
				return -1
			}
			return 1
		}
		return a.Version - b.Version
	})
	v.LastEvents = h.recent.snapshot()
	return v
}

// transportLabel names a sink's transport (metrics.Transport*) for the operator.
func transportLabel(t string) string {
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

func adminEventOf(kind string, id, room string, t time.Time) AdminEvent {
	return AdminEvent{Time: t, Kind: kind, ID: truncate(id, 100), Room: truncate(room, 100)}
}

// SetAdmin mounts the admin page at /admin (see internal/admin); nil = none.
func (h *Hub) SetAdmin(handler http.Handler) { h.admin = handler }

// AuthLimiter is the limiter of wrong access tokens per address the faces share, for the admin
// page's login (the same token): its failures and refusals show in /metrics.
func (h *Hub) AuthLimiter() *web.AuthLimiter { return h.authFails }
