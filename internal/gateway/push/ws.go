package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/gateway/transport"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
)

// RoleAPI, RoleEvent and RoleUniversal are what a v11 WebSocket connection carries (its
// X-Client-Role; v12 connections are always universal).
const (
	RoleUniversal = "Universal"
	RoleAPI       = "API"
	RoleEvent     = "Event"
)

const (
	writeTimeout      = 10 * time.Second
	maxParallelAction = 32
)

// ConnSpec describes one WebSocket connection.
type ConnSpec struct {
	Version int
	Bot     *core.Entry // v11: the bot this connection is for; v12: nil (all bots)
	Role    string      // v11: RoleUniversal, RoleAPI or RoleEvent
	Peer    string      // for logs: remote address or URL
	// feed, when set, supplies the events instead of a subscription of the connection's own
	// sink: a reverse WebSocket with an outbox, whose events outlive its connections.
	feed *Feed
	// Transport names the connection in metrics: forward WebSocket unless set.
	Transport string
	// Cork, when set, is the connection under c: queued frames go out with one write (package transport).
	Cork *transport.CorkConn
	// Open is set for a connection let in without a token (none was needed): it ends once
	// tokens are needed.
	Open bool
}

// conn is one WebSocket connection being served.
type conn struct {
	p    *Pushers
	c    *websocket.Conn
	spec ConnSpec
	s    *Sink
	log  *slog.Logger
}

// ServeConn runs a OneBot WebSocket connection until it ends: connect frames first, then events,
// heartbeats and action responses from one write pump; requests from one read pump.
func (p *Pushers) ServeConn(ctx context.Context, c *websocket.Conn, spec ConnSpec) error {
	set := p.settings()
	c.SetReadLimit(set.MaxUploadSize + 1) // Host.ReadRequest enforces the limits; this is a backstop
	ctx = p.host.ConnContext(ctx)         // quotas are per connection
	var botUser id.UserID
	if spec.Bot != nil {
		botUser = spec.Bot.Bot.UserID()
	}
	s := NewSink(spec.Version, botUser, spec.Role != RoleAPI)
	if spec.Transport != "" {
		s.Transport = spec.Transport
	}
	log := set.Log.With("version", spec.Version, "role", spec.Role, "peer", spec.Peer)
	if spec.Open {
		go p.host.WhenTokensNeeded(s)
	}
	wc := &conn{p: p, c: c, spec: spec, s: s, log: log}

	// The connect frames go into the queue before the sink is subscribed, so they are first.
	if s.WantsEvents {
		var first [][]byte
		if meta, ok := p.host.FaceOf(spec.Version).(face.Meta); ok {
			first = meta.Hello(p.host.FaceBots(spec.Bot))
		}
		if spec.feed == nil {
			for _, f := range first {
				s.out <- f
			}
			p.host.Subscribe(s)
			defer p.host.Unsubscribe(s)
		} else {
			// The feed writes by itself: the connect frames are written before it starts.
			for _, f := range first {
				wctx, cancel := context.WithTimeout(ctx, writeTimeout)
				err := c.Write(wctx, websocket.MessageText, f)
				cancel()
				if err != nil {
					_ = c.CloseNow()
					return fmt.Errorf("failed to write the connect frames: %w", err)
				}
			}
		}
	}
	log.Info("OneBot connection open")

	// When the gateway stops (ctx ends), the writers first write what is queued (the bots'
	// final status_update among it), then the connection closes: the connection's own context
	// does not end with ctx, or the library would drop the connection at once.
	stop := ctx.Done()
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	writers := make(chan error, 2) // the write pump's and the feed pump's results, when stopping
	nwriters := 1
	wg.Add(2)
	go func() { defer wg.Done(); err := wc.writePump(ctx, stop); errc <- err; writers <- err }()
	go func() { defer wg.Done(); errc <- wc.readPump(ctx) }()
	if spec.feed != nil && s.WantsEvents {
		nwriters++
		wg.Add(1)
		go func() { defer wg.Done(); err := wc.feedPump(ctx, stop, spec.feed); errc <- err; writers <- err }()
	}
	err := <-errc
	if errors.Is(err, errStopping) {
		// Every writer has written its share before the close (below, while the read pump still
		// reads: ending its context first would drop the connection without a close frame).
		for range nwriters {
			<-writers
		}
	}
	peerEnded := s.Close("connection ended") && !errors.Is(err, errStopping) && ctx.Err() == nil // not ended by the gateway
	status, reason := websocket.StatusNormalClosure, "bye"
	var ce *closeError
	if errors.Is(err, errStopping) {
		status, reason = websocket.StatusGoingAway, "gateway stopping"
	} else if errors.As(err, &ce) {
		status, reason = ce.status, ce.reason
		detail := ce.detail
		if detail == "" {
			detail = ce.reason
		}
		log.Warn("OneBot connection closed by the gateway", "reason", detail)
	} else if removedClose(s.why) {
		status, reason = websocket.StatusGoingAway, s.why
	} else if s.why != "" && s.why != "connection ended" {
		status, reason = websocket.StatusPolicyViolation, s.why
	}
	// Close before cancel: a write under way ends when ctx does by dropping the TCP connection
	// (coder/websocket), and the close frame with its status (1007, 1009, …) would never be
	// sent. Close waits for that write and sends the close frame after it; the write pump has
	// stopped taking frames (s.close above).
	_ = c.Close(status, reason)
	cancel()
	wg.Wait()
	// The pumps end together. When the peer closed the connection, the reader's close status
	// (e.g. 1008 for a wrong token) says why better than the writer's "use of closed network
	// connection", which may have come first.
	for len(errc) > 0 {
		if e := <-errc; peerEnded && !errors.As(err, &ce) && websocket.CloseStatus(err) == -1 && websocket.CloseStatus(e) != -1 {
			err = e
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, errStopping) ||
		websocket.CloseStatus(err) == websocket.StatusNormalClosure || websocket.CloseStatus(err) == websocket.StatusGoingAway {
		err = nil
	}
	log.Info("OneBot connection closed", "reason", errString(err, s.why))
	return err
}

// errSlowMessage: a WebSocket message that did not arrive whole within the read timeout.
var errSlowMessage = errors.New("a message did not arrive whole within GATEWAY_HTTP_READ_TIMEOUT")

// readMessage reads the next request message. Waiting for it has no limit (pings keep the
// connection), but once it starts it must arrive whole within the read timeout, like an HTTP
// request: a client that trickles a message in cannot hold the bytes it took for ever. Past the
// timeout the connection is dropped (the library closes it; no close frame can be sent).
func (wc *conn) readMessage(ctx context.Context) (*request, websocket.MessageType, error) {
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	typ, rd, err := wc.c.Reader(mctx)
	if err != nil {
		return nil, 0, err
	}
	slow := time.AfterFunc(wc.p.settings().ReadTimeout, cancel)
	data, release, err := wc.p.host.ReadRequest(mctx, rd, wc.spec.Version)
	if !slow.Stop() && ctx.Err() == nil {
		if err == nil {
			release()
		}
		return nil, 0, errSlowMessage
	}
	if err != nil {
		return nil, 0, wc.frameError(err)
	}
	return &request{data: data, release: release}, typ, nil
}

// request is one request message held in memory, counted in flight until release.
type request struct {
	data    []byte
	release func()
}

// closeError ends a connection with a close status of its own.
type closeError struct {
	status websocket.StatusCode
	reason string // for the client: at most 123 bytes
	detail string // for the log, when more than the reason
}

func (e *closeError) Error() string {
	return fmt.Sprintf("closed with %d: %s", int(e.status), e.reason)
}

func errString(err error, fallback string) string {
	if err != nil {
		return err.Error()
	}
	return fallback
}

// errStopping ends a connection because the gateway stops, after what was queued was written.
var errStopping = errors.New("gateway stopping")

// stopDrainTimeout bounds how long a stopping gateway writes what is queued for one connection.
const stopDrainTimeout = 3 * time.Second

func (wc *conn) writePump(ctx context.Context, stop <-chan struct{}) error {
	c, s, spec, set := wc.c, wc.s, wc.spec, wc.p.settings()
	heartbeat := time.NewTicker(set.HeartbeatInterval)
	defer heartbeat.Stop()
	ping := time.NewTicker(set.PingInterval)
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
		case <-stop:
			// What is queued now was promised to the client: write it, within a bound.
			dctx, cancel := context.WithTimeout(ctx, stopDrainTimeout)
			defer cancel()
			for {
				select {
				case frame := <-s.out:
					if err := c.Write(dctx, websocket.MessageText, frame); err != nil {
						return fmt.Errorf("failed to write while stopping: %w", err)
					}
				default:
					return errStopping
				}
			}
		case frame := <-s.out:
			if err := transport.WriteQueued(ctx, c, spec.Cork, frame, s.out, writeTimeout); err != nil {
				return fmt.Errorf("failed to write: %w", err)
			}
		case <-heartbeat.C:
			if !s.WantsEvents {
				continue
			}
			meta, ok := wc.p.host.FaceOf(spec.Version).(face.Meta)
			if !ok {
				continue
			}
			if err := write(meta.Heartbeat(wc.p.host.FaceBots(spec.Bot), set.HeartbeatInterval)); err != nil {
				return fmt.Errorf("failed to write heartbeat: %w", err)
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, set.PingTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping failed: %w", err)
			}
		}
	}
}

func (wc *conn) readPump(ctx context.Context) error {
	sem := make(chan struct{}, maxParallelAction)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		req, typ, err := wc.readMessage(ctx)
		if err != nil {
			return err
		}
		if typ == websocket.MessageText && !utf8.Valid(req.data) {
			// RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection with 1007.
			req.release()
			return &closeError{status: websocket.StatusInvalidFramePayloadData, reason: "text frame is not valid UTF-8"}
		}
		if wc.spec.Role == RoleEvent {
			req.release()
			continue // event-only connections carry no requests
		}
		data := req.data
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			req.release()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer req.release()
			resp := wc.p.host.RunFrame(ctx, wc.spec.Version, wc.spec.Bot, data)
			if !wc.s.send(resp) {
				wc.log.Debug("response dropped: connection closed")
			}
		}()
	}
}

// frameError turns a failure to read a request message into the close the client sees.
func (wc *conn) frameError(err error) error {
	var tooLarge *core.RequestTooLarge
	switch {
	case errors.As(err, &tooLarge):
		wc.p.settings().Stats.TooLarge.Add(1)
		reason := fmt.Sprintf("request over %d bytes", tooLarge.Limit)
		if tooLarge.Action != "" {
			reason += " for an action without a file (GATEWAY_MAX_ACTION_SIZE)"
		}
		return &closeError{status: websocket.StatusMessageTooBig, reason: reason, detail: err.Error()}
	case errors.Is(err, web.ErrBusy):
		wc.p.settings().Stats.Busy.Add(1)
		return &closeError{status: websocket.StatusTryAgainLater, reason: "too many request bytes in flight: try again later", detail: err.Error()}
	}
	return err
}

// feedPump writes a feed's events to the connection, in order, deleting each from the outbox
// once written. A frame whose write fails stays in the outbox and is the first one sent on the
// next connection.
func (wc *conn) feedPump(ctx context.Context, stop <-chan struct{}, f *Feed) error {
	c := wc.c
	f.up() // what waited for this connection is a backlog
	next, stopNext := context.WithCancel(ctx)
	defer stopNext()
	go func() {
		select {
		case <-stop:
			stopNext()
		case <-next.Done():
		}
	}()
	for {
		p, err := f.next(next)
		if err != nil {
			if isClosed(stop) && ctx.Err() == nil {
				return wc.drainFeed(ctx, f)
			}
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		err = transport.WriteNow(wctx, c, wc.spec.Cork, p.payload) // not into the write pump's batch: done deletes it
		cancel()
		if err != nil {
			f.fail()
			return fmt.Errorf("failed to write: %w", err)
		}
		f.done(ctx, p)
	}
}

// drainFeed writes, when the gateway stops, what the feed holds for the connection: the frames
// still queued in memory are saved to the outbox first (feed.fill), then the outbox is written
// out in order, within stopDrainTimeout; what does not fit stays for the next run.
func (wc *conn) drainFeed(ctx context.Context, f *Feed) error {
	c := wc.c
	dctx, cancel := context.WithTimeout(ctx, stopDrainTimeout)
	defer cancel()
	select {
	case <-f.filled:
	case <-dctx.Done():
		return errStopping
	}
	for {
		p, ok := f.drainNext(dctx)
		if !ok {
			return errStopping
		}
		if err := transport.WriteNow(dctx, c, wc.spec.Cork, p.payload); err != nil {
			if dctx.Err() != nil {
				return errStopping // the rest stays in the outbox for the next run
			}
			return fmt.Errorf("failed to write while stopping: %w", err)
		}
		f.done(ctx, p)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
