package gateway

import (
	"context"
	"time"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// resolveTimeout bounds a face's lookups for one event on the sync path (face.Resolver): the v11
// ID map's reads and writes. Past it the event is held and published again.
const resolveTimeout = 5 * time.Second

// faces are the protocols the hub serves: OneBot v11 and v12, then Options.Faces.
type faces struct {
	v11 face.Face
	v12 face.Face
	all []face.Face
}

func (h *Hub) initFaces() {
	h.faces.v11 = &v11Face{h: h}
	h.faces.v12 = ob12.New(h.opts.Version)
	h.faces.all = append([]face.Face{h.faces.v11, h.faces.v12}, h.opts.Faces...)
}

// faceOfVersion is the OneBot face of a protocol version (11 or 12).
func (h *Hub) faceOfVersion(version int) face.Face {
	if version == 12 {
		return h.faces.v12
	}
	return h.faces.v11
}

// faceBots are the bots a connection limited to only sees, or every bot (the pending ones first)
// when only is nil.
func (h *Hub) faceBots(only *botEntry) []face.Bot {
	var out []face.Bot
	if only == nil {
		for _, b := range h.expectedBots() {
			out = append(out, face.Bot{Bot: b, Pending: true})
		}
	}
	for _, b := range h.botList() {
		if only != nil && b != only {
			continue
		}
		out = append(out, face.Bot{Bot: b.bot, SelfID: b.selfID})
	}
	return out
}

// encodeFor renders ev for one face: its lookups first (with a deadline), then its pure encoder.
func (h *Hub) encodeFor(ctx context.Context, entry *botEntry, f face.Face, ev *model.Event) ([]byte, error) {
	var ids face.IDs
	if ce, ok := f.(ctxEncoder); ok { // the v11 codec until it moves behind Resolve
		b, err := ce.encodeCtx(ctx, entry, ev)
		if err == nil && b != nil && ev.Replayed {
			b = f.MarkReplayed(b)
		}
		return b, err
	}
	if r, ok := f.(face.Resolver); ok {
		rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		var err error
		ids, err = r.Resolve(rctx, ev)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	b, err := f.Encode(ev, ids)
	if err == nil && b != nil && ev.Replayed {
		b = f.MarkReplayed(b)
	}
	return b, err
}

// ctxEncoder is the v11 face while its encoder still looks numbers up itself.
type ctxEncoder interface {
	encodeCtx(ctx context.Context, entry *botEntry, ev *model.Event) ([]byte, error)
}

// v11Face is the OneBot v11 face.
type v11Face struct{ h *Hub }

func (*v11Face) Name() string { return "v11" }

func (f *v11Face) Encode(ev *model.Event, _ face.IDs) ([]byte, error) {
	return nil, nil // encodeCtx
}

func (f *v11Face) encodeCtx(ctx context.Context, entry *botEntry, ev *model.Event) ([]byte, error) {
	return encodeV11Event(ctx, f.h.opts.IDs, entry.selfID, ev, f.h.opts.V11PostFormat == "string")
}

func (*v11Face) MarkReplayed(frame []byte) []byte {
	return face.MarkField(frame, `"matrix_replayed":true,`)
}

func (f *v11Face) Hello(bots []face.Bot) [][]byte {
	return [][]byte{f.h.v11Lifecycle(bots[0].SelfID, "connect")}
}

func (f *v11Face) Heartbeat(bots []face.Bot, interval time.Duration) []byte {
	st := bots[0].Bot.Status()
	return mustJSON(v11Event{
		Time: time.Now().Unix(), SelfID: bots[0].SelfID, PostType: "meta_event", MetaEventType: "heartbeat",
		Status: &v11Status{Online: st.Online(), Good: st.Good()}, Interval: interval.Milliseconds(),
	})
}

func (f *v11Face) StatusChanged(_ []face.Bot, changed face.Bot, online, flipped bool) []byte {
	if !flipped {
		return nil
	}
	sub := "enable"
	if !online {
		sub = "disable"
	}
	return f.h.v11Lifecycle(changed.SelfID, sub)
}

var (
	_ face.Face = (*v11Face)(nil)
	_ face.Meta = (*v11Face)(nil)
)
