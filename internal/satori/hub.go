package satori

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

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
}

// startStream subscribes the face to the hub's events once: from the first IDENTIFY on, the
// backlog keeps every event for clients that resume, so the hub need not hold events for it.
func (f *Face) startStream() {
	f.streamOnce.Do(func() {
		if f.hub == nil {
			return // no hub: events come through Publish
		}
		st := f.hub.Subscribe(context.Background(), f, face.Subscription{Transport: "satori"})
		go f.pump(st)
	})
}

// pump numbers the hub's frames in order, keeps them and queues them on the streams.
func (f *Face) pump(st face.Stream) {
	ctx := context.Background()
	for {
		fr, err := st.Next(ctx)
		if err != nil {
			return
		}
		var who struct {
			SelfID id.UserID `json:"self_id"`
		}
		_ = json.Unmarshal(fr.Payload, &who)
		f.emit(who.SelfID, fr.Payload)
		st.Done(ctx, fr)
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
	typ := "login-updated"
	if !known {
		typ = "login-added"
	}
	return marshal(Event{Type: typ, Timestamp: f.opts.Now().UnixMilli(), Login: &l, SelfID: l.SelfID, Platform: l.Platform})
}
