package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/intake"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot"
)

// actionHost is what the hub gives the faces' action handlers (onebot.Host).
type actionHost struct{ h *Hub }

var _ onebot.Host = actionHost{}

// newCall is the call of an action as bot (nil for none).
func (ah actionHost) newCall(ctx context.Context, version int, bot *botEntry, params json.RawMessage) *call {
	c := &call{Ctx: ctx, Host: ah, Version: version, Params: params}
	if bot != nil {
		c.Bot, c.SelfID = bot.Bot, bot.SelfID
	}
	return c
}

func (ah actionHost) Impl() (string, string) { return Impl, ah.h.opts.Version }

func (ah actionHost) IDs() face.Mapper {
	if ah.h.opts.IDs == nil {
		return nil
	}
	return v11IDs{ah.h.opts.IDs}
}

func (ah actionHost) ResolveMedia(ctx context.Context, segs []model.Segment) error {
	return ah.h.opts.Media.ResolveSources(ctx, segs)
}

func (ah actionHost) MediaOn() bool { return ah.h.opts.Media != nil }

func (ah actionHost) Media() onebot.Media {
	if m := ah.h.opts.Media; m.Files() != nil {
		return mediaActions{m}
	}
	return nil
}

// mediaActions is the media intake as the v12 file actions use it (onebot.Media).
type mediaActions struct{ *intake.Media }

func (fa mediaActions) PutBase64(ctx context.Context, name, data string) (model.FileInfo, error) {
	return fa.Put(ctx, name, "", intake.Base64Reader(data))
}

func (fa mediaActions) PrepareUpload(ctx context.Context, name string, size int64) (string, error) {
	return fa.Media.PrepareUpload(clientOf(ctx), name, size)
}

func (fa mediaActions) TransferBase64(id string, offset int64, data string) error {
	b, err := intake.DecodeBase64(data)
	if err != nil {
		return model.Errorf(model.ErrBadParam, "data is not base64: %v", err)
	}
	return fa.TransferUpload(id, offset, b)
}

func (ah actionHost) Bots(ctx context.Context) []face.Bot { return ah.h.faces.faceBots(botScope(ctx)) }

func (ah actionHost) Elsewhere(ctx context.Context) []string {
	if ah.h.opts.Elsewhere == nil || botScope(ctx) != nil {
		return nil
	}
	var out []string
	for _, u := range ah.h.opts.Elsewhere(ctx) {
		if !ah.h.HasBot(id.UserID(u)) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

func (ah actionHost) BotCounters(user string) map[string]float64 {
	return ah.h.metrics.BotCounters(user)
}

func (ah actionHost) SupportedActions(version int) []string { return supportedActions(version) }

func (ah actionHost) FromHTTP(ctx context.Context) bool { return fromHTTP(ctx) }

func (ah actionHost) EventBuffer() int { return ah.h.opts.EventBuffer }

func (ah actionHost) LatestEvents(ctx context.Context, limit int, timeout time.Duration) []json.RawMessage {
	return ah.h.push.LatestEvents(ctx, botScope(ctx), limit, timeout)
}

func (ah actionHost) Run(c *call, name string, params json.RawMessage) (any, error) {
	var bot *botEntry
	if c.Bot != nil {
		bot = ah.h.reg.botByUser(c.Bot.UserID())
	}
	return ah.h.calls.run(c.Ctx, c.Version, bot, name, params)
}
