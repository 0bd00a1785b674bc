package satori

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix/id"
)

const (
	identifyTimeout = 10 * time.Second // the first frame must be IDENTIFY, within this time
	writeTimeout    = 10 * time.Second
	maxSignal       = 64 << 10 // a client sends only IDENTIFY and PING
)

// Close codes of the event stream.
const (
	closeUnauthorized = websocket.StatusCode(4001) // IDENTIFY missing, malformed, or its token refused
	closeSlow         = websocket.StatusCode(4008) // the client did not keep up; resume with the last sn
)

// session is one event stream after IDENTIFY.
type session struct {
	only   id.UserID // "" = every bot
	open   bool      // identified while the gateway needed no token: ends once it needs one
	out    chan frame
	pong   chan struct{}
	done   chan struct{}
	closed chan struct{} // closed when the connection is done with
	once   sync.Once
	code   websocket.StatusCode
	reason string
}

func (s *session) wants(bot id.UserID) bool { return s.only == "" || s.only == bot }

// enqueue queues a frame without blocking; a full queue ends the session (the client resumes
// from the backlog).
func (s *session) enqueue(fr frame) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	select {
	case s.out <- fr:
		return true
	default:
		s.end(closeSlow, "the client did not keep up with the events")
		return false
	}
}

func (s *session) end(code websocket.StatusCode, reason string) {
	s.once.Do(func() {
		s.code, s.reason = code, reason
		close(s.done)
	})
}

// serveEvents runs the event stream: IDENTIFY → READY (and the missed events when IDENTIFY
// carried an sn) → events, PING → PONG.
func (f *Face) serveEvents(w http.ResponseWriter, r *http.Request) {
	g := authGate{f}
	if g.authLimited(w, r) {
		return // before the upgrade: no socket for an address that guesses tokens
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: originHosts(f.opts.AllowedOrigins)})
	if err != nil {
		return // Accept has answered
	}
	c.SetReadLimit(maxSignal)
	ctx := r.Context()
	idf, err := readIdentify(ctx, c)
	if errors.Is(err, errNotUTF8) {
		_ = c.Close(websocket.StatusInvalidFramePayloadData, err.Error())
		return
	} else if err != nil {
		_ = c.Close(closeUnauthorized, err.Error())
		return
	}
	only, ok := g.authorize(idf.Token)
	if !ok {
		if idf.Token != "" {
			g.authFailed(r)
		}
		_ = c.Close(closeUnauthorized, "access token wrong or missing (IDENTIFY body.token)")
		return
	}
	_, open := g.authorize("") // no token needed now: the session ends once one is (TokensRequired)
	s := &session{only: only, open: open, out: make(chan frame, f.opts.QueueSize), pong: make(chan struct{}, 1), done: make(chan struct{}), closed: make(chan struct{})}
	log := f.log.With("peer", r.RemoteAddr)

	// Subscribe before reading the backlog: an event published in between is in both, and the
	// write loop skips what the replay already sent. The hub's stream starts after: the events it
	// held for want of a consumer come to this session too.
	f.mu.Lock()
	f.sessions[s] = struct{}{}
	f.identified = true
	f.mu.Unlock()
	if _, stillOpen := g.authorize(""); open && !stillOpen {
		// Tokens became required between the check and the registration (TokensRequired did
		// not see this session).
		s.end(websocket.StatusPolicyViolation, "access tokens are required now: reconnect with a token")
	}
	defer func() {
		f.mu.Lock()
		delete(f.sessions, s)
		f.mu.Unlock()
		close(s.closed)
	}()
	f.startStream()

	ready := Ready{Logins: []Login{}, ProxyURLs: []string{}}
	for _, b := range f.host.Bots() {
		if s.wants(b.UserID()) {
			ready.Logins = append(ready.Logins, f.login(b))
		}
	}
	body, _ := json.Marshal(ready)
	if err := write(ctx, c, mustSignal(OpReady, body)); err != nil {
		return
	}
	var sent int64 = -1 // the newest sn written
	if idf.SN != nil && f.hist != nil {
		if sent, err = f.replayKept(ctx, c, s, *idf.SN, log); err != nil {
			return
		}
	} else if idf.SN != nil {
		frames, complete := f.events.after(*idf.SN)
		if !complete {
			log.Warn("satori client resumed after events it missed were dropped from the backlog", "sn", *idf.SN, "backlog", f.opts.Backlog)
		}
		n := 0
		for _, fr := range frames {
			if !s.wants(fr.bot) {
				continue
			}
			if err := write(ctx, c, fr.data); err != nil {
				return
			}
			sent, n = fr.sn, n+1
		}
		log.Info("satori client resumed", "sn", *idf.SN, "replayed", n)
	} else {
		log.Info("satori client identified", "bots", len(ready.Logins))
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go f.readLoop(ctx, c, s)
	for {
		select {
		case <-s.done:
			if s.code == closeSlow {
				// It does not read: a close handshake would wait for it in vain.
				log.Warn("satori client disconnected", "reason", s.reason)
				_ = c.CloseNow()
				return
			}
			if s.code == websocket.StatusGoingAway {
				// The gateway stops: what is queued (the bots' final login-updated) goes first.
				for drained := false; !drained; {
					select {
					case fr := <-s.out:
						if fr.sn > sent && write(ctx, c, fr.data) != nil {
							drained = true
						}
					default:
						drained = true
					}
				}
			}
			_ = c.Close(s.code, s.reason)
			return
		case <-s.pong:
			if err := write(ctx, c, mustSignal(OpPong, []byte("{}"))); err != nil {
				s.end(websocket.StatusNormalClosure, "closed")
			}
		case fr := <-s.out:
			if fr.sn <= sent {
				continue // replayed already
			}
			if err := write(ctx, c, fr.data); err != nil {
				s.end(websocket.StatusNormalClosure, "closed")
			}
		}
	}
}

// replayBatch is how many kept events a resume reads from the outbox at a time.
const replayBatch = 256

// replayKept writes the events kept in the outbox after sn (those of the session's bots) and
// returns the newest sn written (sn when none). The event sn itself tells whether the client
// missed events that are no longer kept: it is kept still (nothing after it was dropped, the
// outbox drops the oldest first), or nothing is kept after it and it is the newest. Otherwise
// some of the events after sn may be gone (at the edge of the window, the client's own event
// may have been the last dropped): logged and counted (ResumeGaps), never silent.
func (f *Face) replayKept(ctx context.Context, c *websocket.Conn, s *session, sn int64, log *slog.Logger) (int64, error) {
	newest := f.lastSN.Load()
	rows, err := f.hist.After(ctx, sn-1, replayBatch)
	if err != nil {
		log.Error("satori client resumed but the kept events could not be read", "sn", sn, "error", err)
		f.resumeGaps.Add(1)
		return sn, nil
	}
	switch {
	case len(rows) > 0 && rows[0].Seq == sn:
		rows = rows[1:] // the client's own last event: kept, so nothing after it was dropped
	case len(rows) > 0 || sn < newest:
		oldest := newest
		if len(rows) > 0 {
			oldest = rows[0].Seq
		}
		log.Warn("satori client resumed from an sn older than the events kept: the events in between are lost to it (GATEWAY_OUTBOX_MAX_EVENTS, GATEWAY_OUTBOX_MAX_AGE)", "sn", sn, "oldest_kept", oldest)
		f.resumeGaps.Add(1)
	case sn > newest:
		log.Warn("satori client resumed from an sn this gateway never sent (another database, or a version that numbered events by the clock): it gets the events from now on", "sn", sn, "newest", newest)
		f.resumeGaps.Add(1)
		log.Info("satori client resumed", "sn", sn, "replayed", 0)
		return -1, nil // the live events have lower sns than the client's
	}
	sent, n := sn, 0
	for len(rows) > 0 {
		for _, fr := range rows {
			sent = fr.Seq
			self := selfOf(fr.Payload)
			if !s.wants(self) {
				continue
			}
			if err := write(ctx, c, mustSignal(OpEvent, withSN(fr.Payload, fr.Seq))); err != nil {
				return sent, err
			}
			n++
		}
		if rows, err = f.hist.After(ctx, sent, replayBatch); err != nil {
			log.Error("satori client resumed but the kept events could not be read", "sn", sent, "error", err)
			f.resumeGaps.Add(1)
			break
		}
	}
	log.Info("satori client resumed", "sn", sn, "replayed", n)
	return sent, nil
}

// ResumeGaps counts the resumes that asked for events no longer kept (or from an sn this
// gateway never sent): /metrics shows it as satori_resume_gaps_total.
func (f *Face) ResumeGaps() int64 { return f.resumeGaps.Load() }

// errNotUTF8 ends a stream whose client sent a text frame that is not UTF-8 (1007).
var errNotUTF8 = errors.New("a text frame must be UTF-8")

func readIdentify(ctx context.Context, c *websocket.Conn) (Identify, error) {
	ctx, cancel := context.WithTimeout(ctx, identifyTimeout)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err != nil {
		return Identify{}, fmt.Errorf("no IDENTIFY: %w", err)
	}
	if typ == websocket.MessageText && !utf8.Valid(data) {
		return Identify{}, errNotUTF8
	}
	var sig Signal
	if err := json.Unmarshal(data, &sig); err != nil {
		return Identify{}, errors.New("the first frame must be IDENTIFY (op 3) as JSON")
	}
	if sig.Op != OpIdentify {
		return Identify{}, fmt.Errorf("the first frame must be IDENTIFY (op 3), got op %d", sig.Op)
	}
	var idf Identify
	if len(sig.Body) > 0 && string(sig.Body) != "null" {
		if err := json.Unmarshal(sig.Body, &idf); err != nil {
			return Identify{}, fmt.Errorf("malformed IDENTIFY body: %v", err)
		}
	}
	return idf, nil
}

// readLoop answers PING with PONG (through the write loop) and ends the session when the client
// closes, sends something that is not a signal, or stays silent longer than PingTimeout.
func (f *Face) readLoop(ctx context.Context, c *websocket.Conn, s *session) {
	for {
		rctx, cancel := context.WithTimeout(ctx, f.opts.PingTimeout)
		typ, data, err := c.Read(rctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				s.end(websocket.StatusPolicyViolation, fmt.Sprintf("no PING for %s", f.opts.PingTimeout))
			} else {
				s.end(websocket.StatusNormalClosure, "closed")
			}
			return
		}
		if typ == websocket.MessageText && !utf8.Valid(data) {
			s.end(websocket.StatusInvalidFramePayloadData, errNotUTF8.Error())
			return
		}
		var sig Signal
		if json.Unmarshal(data, &sig) != nil {
			s.end(websocket.StatusUnsupportedData, "a frame that is not a JSON signal")
			return
		}
		if sig.Op == OpPing {
			select {
			case s.pong <- struct{}{}:
			default: // a PONG is on its way already
			}
		}
	}
}

func write(ctx context.Context, c *websocket.Conn, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, data)
}

// originHosts turns origins (scheme://host[:port]) into the host patterns websocket.Accept takes.
func originHosts(origins []string) []string {
	var out []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}
