package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/matrix-onebot/gateway/internal/await"
	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
)

// Endpoint is one transport the hub runs for its faces: a reverse WebSocket (ReverseWS), a
// webhook or v11 HTTP POST endpoint (Webhook), or the HTTP listener of every face's routes and
// forward WebSockets (Listener). Hub.Start runs them; the hub owns them until the context of
// ServeTransports ends.
type Endpoint interface {
	serve(ctx context.Context, h *Hub) error
}

// Transports configures the pushing transports (webhook, HTTP POST, reverse WebSocket), the
// outbox, the v11 post format and get_latest_events (package push).
type Transports = push.Transports

// OutboxStore keeps the frames of pushing endpoints while they are down (storage.DB).
type OutboxStore = push.OutboxStore

// ReverseWS is one configured reverse-WebSocket endpoint: the gateway dials it and keeps exactly
// one live connection, reconnecting after any close with backoff and jitter (push.ReverseWS).
type ReverseWS push.ReverseWS

// Webhook is one endpoint that events are POSTed to: OneBot v11 HTTP POST (one per bot, with
// X-Self-ID) or a OneBot v12 webhook (all bots, or one) (push.Webhook).
type Webhook push.Webhook

// RoleAPI, RoleEvent and RoleUniversal are the v11 X-Client-Role values of a reverse WebSocket.
const (
	RoleUniversal = push.RoleUniversal
	RoleAPI       = push.RoleAPI
	RoleEvent     = push.RoleEvent
)

func (ep ReverseWS) serve(ctx context.Context, h *Hub) error {
	h.RunReverseWS(ctx, ep, h.opts.ReconnectInterval)
	return nil
}

func (ep Webhook) serve(ctx context.Context, h *Hub) error {
	h.RunWebhook(ctx, ep)
	return nil
}

// RunReverseWS keeps the endpoint connected until ctx ends (push.Pushers.RunReverseWS).
func (h *Hub) RunReverseWS(ctx context.Context, ep ReverseWS, initialBackoff time.Duration) {
	h.push.RunReverseWS(ctx, push.ReverseWS(ep), initialBackoff)
}

// RunWebhook delivers events to the endpoint until ctx ends, in order (push.Pushers.RunWebhook).
func (h *Hub) RunWebhook(ctx context.Context, ep Webhook) {
	h.push.RunWebhook(ctx, push.Webhook(ep))
}

// Listener serves the hub's HTTP handler on a listening socket with Server until the server is
// shut down.
type Listener struct {
	Server   *web.Server
	Listener net.Listener
}

func (l Listener) serve(_ context.Context, h *Hub) error {
	if err := l.Server.Serve(l.Listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		h.log.Error("HTTP server failed", "error", err)
		return err
	}
	return nil
}

// transportGroup is the hub's transports under one errgroup.
type transportGroup struct {
	mu  sync.Mutex
	ctx context.Context // nil until ServeTransports
	g   errgroup.Group
}

// ServeTransports makes ctx the life of the transports that Start runs: they end when it does
// (Listener: when its server is shut down).
func (h *Hub) ServeTransports(ctx context.Context) {
	h.transports.mu.Lock()
	defer h.transports.mu.Unlock()
	h.transports.ctx = ctx
}

// Start runs endpoints, of any face, under the hub's errgroup until the context of
// ServeTransports ends.
func (h *Hub) Start(eps ...Endpoint) { h.start(nil, nil, eps...) }

// StartUntil is Start for endpoints that may end before the others (a removed bot's): they run
// until ctx ends or the context of ServeTransports does, and track, when not nil, tells when
// they have.
func (h *Hub) StartUntil(ctx context.Context, track *Started, eps ...Endpoint) {
	h.start(ctx, track, eps...)
}

func (h *Hub) start(ctx context.Context, track *Started, eps ...Endpoint) {
	h.transports.mu.Lock()
	serve := h.transports.ctx
	h.transports.mu.Unlock()
	if serve == nil {
		panic("gateway: Hub.Start before ServeTransports")
	}
	if ctx == nil {
		ctx = serve
	} else {
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		context.AfterFunc(serve, stop)
	}
	for _, ep := range eps {
		if track != nil {
			track.wg.Add(1)
		}
		h.transports.g.Go(func() error {
			if track != nil {
				defer track.wg.Done()
			}
			return ep.serve(ctx, h)
		})
	}
}

// Started tracks endpoints started together (StartUntil); the zero value is ready.
type Started struct{ wg sync.WaitGroup }

// Wait waits until the endpoints have ended, or deadline; it tells whether they have.
func (s *Started) Wait(deadline time.Time) bool {
	return await.Returns(s.wg.Wait, deadline)
}

// WaitTransports waits until every transport has ended, or deadline; it tells whether they all
// ended, with the first error one of them returned.
func (h *Hub) WaitTransports(deadline time.Time) (bool, error) {
	var err error
	ended := await.Returns(func() { err = h.transports.g.Wait() }, deadline)
	if !ended {
		return false, nil
	}
	return true, err
}
