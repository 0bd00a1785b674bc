package satori

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// The face as the hub sees it (internal/face): the hub encodes each event once for it (Encode,
// MarkReplayed) and hands the bytes to its stream; the face serves its own routes
// (MountPublic: they check the access token themselves, since the event stream presents it in
// IDENTIFY, not in the upgrade request).
var (
	_ face.Face          = (*Face)(nil)
	_ face.PublicMounter = (*Face)(nil)
)

// Name implements face.Face.
func (f *Face) Name() string { return "satori" }

// Encode implements face.Face: the Satori event without its sn.
func (f *Face) Encode(ev *model.Event, _ face.IDs) ([]byte, error) { return f.encodeEvent(ev), nil }

// MarkReplayed implements face.Face: a replayed event carries "matrix": {"replayed": true}.
func (f *Face) MarkReplayed(frame []byte) []byte {
	return face.MarkField(frame, `"matrix":{"replayed":true},`)
}

// MountPublic implements face.PublicMounter: the API and the event stream under the face's path.
// The hub gives the face its bots, tokens and media intake, and, once a client has identified,
// its event stream (startStream). Call it once, before serving.
func (f *Face) MountPublic(r chi.Router, h face.Host) {
	f.host, f.hub = h, h
	prefix := strings.TrimRight(f.opts.Path, "/")
	r.Handle(prefix+"/v1/*", http.StripPrefix(prefix, f.Handler()))
	// A client identified in an earlier run: keep the events from now on for its return.
	if rt, ok := h.(face.Retainer); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		used, err := rt.Retained(ctx, f, streamKey)
		cancel()
		if err != nil {
			f.log.Error("failed to read whether a Satori client identified before; its stream starts at the next IDENTIFY", "error", err)
		} else if used {
			f.mu.Lock()
			f.identified = true
			f.mu.Unlock()
			f.startStream()
		}
	}
}

// streamKey names the face's stream in the hub's outbox ("satori:events").
const streamKey = "events"

// startStream subscribes the face to the hub's events once: from the first IDENTIFY on (and,
// after a restart, from the start), every event is kept for clients that resume, so the hub
// need not hold events for it. With the hub's outbox the stream is retained (face.History):
// events are kept in the outbox, an event's sn is its outbox seq (it grows across restarts),
// and the hub's sync moves past an event only once it is written there. Without an outbox,
// the in-memory backlog keeps them.
func (f *Face) startStream() {
	f.streamOnce.Do(func() {
		if f.hub == nil {
			return // no hub: events come through Publish
		}
		ctx, cancel := context.WithCancel(context.Background())
		st := f.hub.Subscribe(ctx, f, face.Subscription{Key: streamKey, Retain: true, Transport: "satori"})
		if h, ok := st.(face.History); ok {
			f.hist = h
			f.lastSN.Store(h.Position())
		}
		f.stopPump = cancel
		f.pumped = make(chan struct{})
		go f.pump(ctx, st)
	})
}

// pump numbers the hub's frames in order (a retained stream's by their outbox seq), keeps them
// (in memory without an outbox) and queues them on the streams.
func (f *Face) pump(ctx context.Context, st face.Stream) {
	defer close(f.pumped)
	defer st.Close()
	for {
		fr, err := st.Next(ctx)
		if err != nil {
			return
		}
		self := selfOf(fr.Payload)
		login := isLoginEvent(fr.Payload)
		if f.hist != nil {
			f.emitFrame(frame{sn: fr.Seq, bot: self, data: mustSignal(OpEvent, withSN(fr.Payload, fr.Seq))})
			f.lastSN.Store(fr.Seq)
		} else {
			f.emit(self, fr.Payload)
		}
		if login {
			f.statusPumped.Add(1)
		}
		st.Done(ctx, fr)
	}
}

// isLoginEvent tells a login-added/-updated frame (StatusChanged's) from the others.
func isLoginEvent(payload []byte) bool {
	return bytes.HasPrefix(payload, []byte(`{"type":"login-`))
}

var _ face.TokenWatcher = (*Face)(nil)

// TokensRequired implements face.TokenWatcher: the event streams identified while the gateway
// needed no token end with 1008 and reason (they were granted every bot); the client reconnects
// with a token.
func (f *Face) TokensRequired(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.sessions {
		if s.open {
			s.end(websocket.StatusPolicyViolation, reason)
		}
	}
}

var _ face.Drainer = (*Face)(nil)

// Drain implements the end of a clean stop: once the bots have stopped, it waits until their
// final login-updated frames (StatusChanged) have reached the streams, ends every stream with
// 1001 after what is queued on it, and stops the pump. ctx bounds the wait.
func (f *Face) Drain(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for f.pumped != nil && f.statusPumped.Load() < f.statusMade.Load() {
		select {
		case <-ctx.Done():
			f.log.Warn("stopping before the bots' final status reached the Satori clients")
			f.Close()
			return
		case <-tick.C:
		}
	}
	f.mu.Lock()
	open := make([]*session, 0, len(f.sessions))
	for s := range f.sessions {
		open = append(open, s)
	}
	f.mu.Unlock()
	for _, s := range open {
		s.end(websocket.StatusGoingAway, "the gateway is stopping")
	}
	for _, s := range open {
		select {
		case <-s.closed:
		case <-ctx.Done():
		}
	}
	f.Close()
}

// selfOf is the self_id of an encoded event.
func selfOf(payload []byte) id.UserID {
	var who struct {
		SelfID id.UserID `json:"self_id"`
	}
	_ = json.Unmarshal(payload, &who)
	return who.SelfID
}

// Close stops the face's event pump (the hub's stream is closed); the hub's stop calls it after
// the bots have stopped. Open event streams end when the server closes their connections.
func (f *Face) Close() {
	f.streamOnce.Do(func() {}) // none starts after this
	if f.stopPump != nil {
		f.stopPump()
		<-f.pumped
	}
}

var _ face.Meta = (*Face)(nil)

// Hello implements face.Meta. The hub asks it only of the faces its own transports serve; a
// Satori stream starts with READY, which the face writes itself.
func (f *Face) Hello([]face.Bot) [][]byte { return nil }

// Heartbeat implements face.Meta; as Hello, for the hub's transports only: Satori clients send
// PING and the face answers PONG.
func (f *Face) Heartbeat([]face.Bot, time.Duration) []byte { return nil }

// StatusChanged implements face.Meta: the hub queues it on the face's stream when a bot's status
// changes; the face's streams get login-added the first time they hear of the bot (it joined the
// hub after they identified), else login-updated, with the bot's Login.
func (f *Face) StatusChanged(_ []face.Bot, changed face.Bot, _, _ bool) []byte {
	if changed.Bot == nil || changed.Bot.UserID() == "" {
		return nil
	}
	f.mu.Lock()
	_, known := f.loginSN[changed.Bot.UserID()]
	f.mu.Unlock()
	l := f.login(changed.Bot)
	f.statusMade.Add(1)
	typ := "login-updated"
	if !known {
		typ = "login-added"
	}
	return marshal(Event{Type: typ, Timestamp: f.opts.Now().UnixMilli(), Login: &l, SelfID: l.SelfID, Platform: l.Platform})
}
