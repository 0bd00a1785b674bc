package gateway

import (
	"context"
	"encoding/json"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/calls"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/model"
)

// callsHub is what the hub gives its action runner (calls.Hub).
type callsHub struct{ h *Hub }

var _ calls.Hub = callsHub{}

func (ch callsHub) Settings() calls.Settings {
	h := ch.h
	s := calls.Settings{
		Log: h.log, Metrics: h.metrics, Stats: &h.stats, Inflight: h.inflight,
		Impl: Impl, Version: h.opts.Version, Media: h.opts.Media, Elsewhere: h.opts.Elsewhere,
		EventBuffer: h.opts.EventBuffer, ReplyScope: h.opts.WebhookReplyScope,
	}
	if h.opts.IDs != nil {
		s.IDs = v11IDs{h.opts.IDs}
	}
	return s
}

func (ch callsHub) BotByUser(u id.UserID) *core.Entry { return ch.h.reg.botByUser(u) }
func (ch callsHub) DefaultBot() *core.Entry           { return ch.h.reg.defaultBot() }
func (ch callsHub) PendingBot() model.Bot             { return ch.h.reg.pendingBot() }

func (ch callsHub) FaceBots(only *core.Entry) []face.Bot { return ch.h.faces.faceBots(only) }

func (ch callsHub) LatestEvents(ctx context.Context, only *core.Entry, limit int, timeout time.Duration) []json.RawMessage {
	return ch.h.push.LatestEvents(ctx, only, limit, timeout)
}

func (ch callsHub) FromHTTP(ctx context.Context) bool { return fromHTTP(ctx) }
func (ch callsHub) Client(ctx context.Context) string { return clientOf(ctx) }
