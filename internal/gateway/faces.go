package gateway

import (
	"context"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// syncTimeout bounds each database call of Publish on the sync path: a face's lookups for one
// event (face.Resolver: the v11 ID map's reads and writes) and the outbox write. Past it the
// event is held and published again.
const syncTimeout = 5 * time.Second

// faces are the protocols the hub serves: OneBot v11 and v12, then Options.Faces.
type faces struct {
	h   *Hub
	v11 face.Face
	v12 face.Face
	all []face.Face
}

func (fx faces) initFaces() {
	if fx.h.syncTimeout == 0 {
		fx.h.syncTimeout = syncTimeout
	}
	var ids ob11.Mapper
	if fx.h.opts.IDs != nil {
		ids = v11IDs{fx.h.opts.IDs}
	}
	fx.h.faces.v11 = ob11.New(ob11.Options{IDs: ids, SelfID: fx.selfIDOf, StringFormat: fx.h.opts.V11PostFormat == "string"})
	fx.h.faces.v12 = ob12.New(fx.h.opts.Version)
	fx.h.faces.all = append([]face.Face{fx.h.faces.v11, fx.h.faces.v12}, fx.h.opts.Faces...)
}

// faceOfVersion is the OneBot face of a protocol version (11 or 12).
func (fx faces) faceOfVersion(version int) face.Face {
	if version == 12 {
		return fx.h.faces.v12
	}
	return fx.h.faces.v11
}

// faceBots are the bots a connection limited to only sees, or every bot (the pending ones first)
// when only is nil.
func (fx faces) faceBots(only *botEntry) []face.Bot {
	var out []face.Bot
	if only == nil {
		for _, b := range fx.h.reg.expectedBots() {
			out = append(out, face.Bot{Bot: b, Pending: true})
		}
	}
	for _, b := range fx.h.reg.botList() {
		if only != nil && b != only {
			continue
		}
		out = append(out, face.Bot{Bot: b.Bot, SelfID: b.SelfID})
	}
	return out
}

// encodeFor renders ev for one face: its lookups first (face.Resolver, with a deadline), then its
// pure encoder.
func (fx faces) encodeFor(ctx context.Context, f face.Face, ev *model.Event) ([]byte, error) {
	var ids face.IDs
	if r, ok := f.(face.Resolver); ok {
		rctx, cancel := context.WithTimeout(ctx, fx.h.syncTimeout)
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

// selfIDOf is a bot's v11 self_id (0 when the bot is not in the hub).
func (fx faces) selfIDOf(u id.UserID) int64 {
	if e := fx.h.reg.botByUser(u); e != nil {
		return e.SelfID
	}
	return 0
}
