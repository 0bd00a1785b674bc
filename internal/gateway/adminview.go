package gateway

import (
	"context"
	"net/http"
	"slices"

	"github.com/matrix-onebot/gateway/internal/gateway/adminview"
	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
)

// AdminView returns the hub's connections and last events.
func (h *Hub) AdminView(ctx context.Context) adminview.View {
	h.sinksMu.RLock()
	sinks := make([]*sink, 0, len(h.sinks))
	for s := range h.sinks {
		sinks = append(sinks, s)
	}
	h.sinksMu.RUnlock()
	counter, _ := h.opts.Outbox.(interface {
		OutboxCount(ctx context.Context, endpoint string) (int, error)
	})
	var v adminview.View
	for _, s := range sinks {
		c := adminview.Connection{Transport: adminview.TransportLabel(s.Transport), Version: s.Version, Bot: s.Bot, Queued: len(s.Out()), Stored: -1}
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
	slices.SortFunc(v.Connections, func(a, b adminview.Connection) int {
		if a.Transport != b.Transport {
			if a.Transport < b.Transport {
				return -1
			}
			return 1
		}
		return a.Version - b.Version
	})
	v.LastEvents = h.recent.Snapshot()
	return v
}

// SetAdmin mounts the admin page at /admin (see internal/admin); nil = none.
func (h *Hub) SetAdmin(handler http.Handler) { h.admin = handler }

// AuthLimiter is the limiter of wrong access tokens per address the faces share, for the admin
// page's login (the same token): its failures and refusals show in /metrics.
func (h *Hub) AuthLimiter() *web.AuthLimiter { return h.authFails }
