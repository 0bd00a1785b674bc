package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix/id"
)

// role is what a v11 WebSocket connection carries (v12 connections are always universal).
type role string

const (
	roleUniversal role = "Universal"
	roleAPI       role = "API"
	roleEvent     role = "Event"
)

const (
	maxFrameBytes     = 64 << 20 // action requests may carry base64 media
	writeTimeout      = 10 * time.Second
	pingInterval      = 30 * time.Second
	pingTimeout       = 20 * time.Second
	maxParallelAction = 32
)

// connSpec describes one WebSocket connection.
type connSpec struct {
	version int
	bot     *botEntry // v11: the bot this connection is for; v12: nil (all bots)
	role    role
	peer    string // for logs: remote address or URL
}

// serveConn runs a OneBot WebSocket connection until it ends: connect frames first, then events,
// heartbeats and action responses from one write pump; requests from one read pump.
func (h *Hub) serveConn(ctx context.Context, c *websocket.Conn, spec connSpec) error {
	c.SetReadLimit(maxFrameBytes)
	var botUser id.UserID
	if spec.bot != nil {
		botUser = spec.bot.bot.UserID()
	}
	s := newSink(spec.version, botUser, spec.role != roleAPI)
	log := h.log.With("version", spec.version, "role", spec.role, "peer", spec.peer)

	// The connect frames go into the queue before the sink is subscribed, so they are first.
	if s.wantsEvents {
		if spec.version == 12 {
			s.out <- h.v12Connect()
			s.out <- h.v12StatusUpdate()
		} else {
			s.out <- h.v11Lifecycle(spec.bot.selfID, "connect")
		}
		h.subscribe(s)
		defer h.unsubscribe(s)
	}
	log.Info("OneBot connection open")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errc <- h.writePump(ctx, c, s, spec) }()
	go func() { defer wg.Done(); errc <- h.readPump(ctx, c, s, spec, log) }()
	err := <-errc
	s.close("connection ended")
	cancel()
	status, reason := websocket.StatusNormalClosure, "bye"
	if s.why != "" && s.why != "connection ended" {
		status, reason = websocket.StatusPolicyViolation, s.why
	}
	_ = c.Close(status, reason)
	wg.Wait()
	if errors.Is(err, context.Canceled) || websocket.CloseStatus(err) == websocket.StatusNormalClosure || websocket.CloseStatus(err) == websocket.StatusGoingAway {
		err = nil
	}
	log.Info("OneBot connection closed", "reason", errString(err, s.why))
	return err
}

func errString(err error, fallback string) string {
	if err != nil {
		return err.Error()
	}
	return fallback
}

func (h *Hub) writePump(ctx context.Context, c *websocket.Conn, s *sink, spec connSpec) error {
	heartbeat := time.NewTicker(h.opts.HeartbeatInterval)
	defer heartbeat.Stop()
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	write := func(frame []byte) error {
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		defer cancel()
		return c.Write(wctx, websocket.MessageText, frame)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return fmt.Errorf("closed: %s", s.why)
		case frame := <-s.out:
			if err := write(frame); err != nil {
				return fmt.Errorf("failed to write: %w", err)
			}
		case <-heartbeat.C:
			if !s.wantsEvents {
				continue
			}
			var frame []byte
			if spec.version == 12 {
				frame = h.v12Heartbeat()
			} else {
				frame = h.v11Heartbeat(spec.bot)
			}
			if err := write(frame); err != nil {
				return fmt.Errorf("failed to write heartbeat: %w", err)
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping failed: %w", err)
			}
		}
	}
}

func (h *Hub) readPump(ctx context.Context, c *websocket.Conn, s *sink, spec connSpec, log *slog.Logger) error {
	sem := make(chan struct{}, maxParallelAction)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageText && typ != websocket.MessageBinary {
			continue
		}
		if spec.role == roleEvent {
			continue // event-only connections carry no requests
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var resp []byte
			if spec.version == 12 {
				resp = h.handleV12Frame(ctx, spec.bot, data)
			} else {
				resp = h.handleV11Frame(ctx, spec.bot, data)
			}
			if !s.send(resp) {
				log.Debug("response dropped: connection closed")
			}
		}()
	}
}
