package calls

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/gateway/intake"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot"
)

// Hub is what the runner needs of the hub: its bots, the get_latest_events buffers, and the
// facts of a call that the transport put in its context.
type Hub interface {
	// Settings are read at each call: the hub's options may change until it serves.
	Settings() Settings

	// BotByUser is the bot of a user ID, nil when it is not in the hub; DefaultBot the bot of a
	// request that names none (the only one; nil when there are several); PendingBot the only
	// bot configured while it has not joined the hub (it has not logged in yet), else nil.
	BotByUser(u id.UserID) *core.Entry
	DefaultBot() *core.Entry
	PendingBot() model.Bot
	// FaceBots are the bots a connection limited to only sees, or every bot (the pending ones
	// first) when only is nil.
	FaceBots(only *core.Entry) []face.Bot
	// LatestEvents serves get_latest_events from the buffer of only (every bot when nil).
	LatestEvents(ctx context.Context, only *core.Entry, limit int, timeout time.Duration) []json.RawMessage

	// FromHTTP tells whether a call came over HTTP; Client names the caller for per-client
	// upload quotas ("" = none).
	FromHTTP(ctx context.Context) bool
	Client(ctx context.Context) string
}

// Settings are the hub's options that actions use.
type Settings struct {
	Log      *slog.Logger
	Metrics  *metrics.Metrics
	Stats    *core.Stats
	Inflight *web.Budget // request bytes held by the whole process (GATEWAY_MAX_BYTES_IN_FLIGHT)

	Impl, Version string                             // get_version
	IDs           face.Mapper                        // the v11 numbers; nil = none
	Media         *intake.Media                      // nil = none
	Elsewhere     func(ctx context.Context) []string // the bots other gateways of a cluster run; nil = no cluster
	EventBuffer   int                                // get_latest_events' buffer (0 = off)
	ReplyScope    string                             // what a v12 webhook's reply may act on (ReplyScopeEvent, ReplyScopeBot)
}

// actionHost is what the hub gives the faces' action handlers (onebot.Host).
type actionHost struct{ r *Runner }

var _ onebot.Host = actionHost{}

// newCall is the call of an action as bot (nil for none).
func (ah actionHost) newCall(ctx context.Context, version int, bot *core.Entry, params json.RawMessage) *onebot.Call {
	c := &onebot.Call{Ctx: ctx, Host: ah, Version: version, Params: params}
	if bot != nil {
		c.Bot, c.SelfID = bot.Bot, bot.SelfID
	}
	return c
}

func (ah actionHost) Impl() (string, string) {
	s := ah.r.hub.Settings()
	return s.Impl, s.Version
}

func (ah actionHost) IDs() face.Mapper { return ah.r.hub.Settings().IDs }

func (ah actionHost) ResolveMedia(ctx context.Context, segs []model.Segment) error {
	return ah.r.hub.Settings().Media.ResolveSources(ctx, segs)
}

func (ah actionHost) MediaOn() bool { return ah.r.hub.Settings().Media != nil }

func (ah actionHost) Media() onebot.Media {
	if m := ah.r.hub.Settings().Media; m.Files() != nil {
		return mediaActions{m, ah.r.hub}
	}
	return nil
}

// mediaActions is the media intake as the v12 file actions use it (onebot.Media).
type mediaActions struct {
	*intake.Media
	hub Hub
}

func (fa mediaActions) PutBase64(ctx context.Context, name, data string) (model.FileInfo, error) {
	return fa.Put(ctx, name, "", intake.Base64Reader(data))
}

func (fa mediaActions) PrepareUpload(ctx context.Context, name string, size int64) (string, error) {
	return fa.Media.PrepareUpload(fa.hub.Client(ctx), name, size)
}

func (fa mediaActions) TransferBase64(id string, offset int64, data string) error {
	b, err := intake.DecodeBase64(data)
	if err != nil {
		return model.Errorf(model.ErrBadParam, "data is not base64: %v", err)
	}
	return fa.TransferUpload(id, offset, b)
}

func (ah actionHost) Bots(ctx context.Context) []face.Bot { return ah.r.hub.FaceBots(botScope(ctx)) }

func (ah actionHost) Elsewhere(ctx context.Context) []string {
	elsewhere := ah.r.hub.Settings().Elsewhere
	if elsewhere == nil || botScope(ctx) != nil {
		return nil
	}
	var out []string
	for _, u := range elsewhere(ctx) {
		if ah.r.hub.BotByUser(id.UserID(u)) == nil {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

func (ah actionHost) BotCounters(user string) map[string]float64 {
	return ah.r.hub.Settings().Metrics.BotCounters(user)
}

func (ah actionHost) SupportedActions(version int) []string { return Supported(version) }

func (ah actionHost) FromHTTP(ctx context.Context) bool { return ah.r.hub.FromHTTP(ctx) }

func (ah actionHost) EventBuffer() int { return ah.r.hub.Settings().EventBuffer }

func (ah actionHost) LatestEvents(ctx context.Context, limit int, timeout time.Duration) []json.RawMessage {
	return ah.r.hub.LatestEvents(ctx, botScope(ctx), limit, timeout)
}

func (ah actionHost) Run(c *onebot.Call, name string, params json.RawMessage) (any, error) {
	var bot *core.Entry
	if c.Bot != nil {
		bot = ah.r.hub.BotByUser(c.Bot.UserID())
	}
	return ah.r.Run(c.Ctx, c.Version, bot, name, params)
}

type botScopeKey struct{}

// withBotScope marks an action call as coming from a connection or token limited to one bot, so
// that actions that are not about one bot (get_status, get_latest_events) show only that bot.
func withBotScope(ctx context.Context, b *core.Entry) context.Context {
	return context.WithValue(ctx, botScopeKey{}, b)
}

// botScope returns the bot a call is limited to, or nil.
func botScope(ctx context.Context) *core.Entry {
	b, _ := ctx.Value(botScopeKey{}).(*core.Entry)
	return b
}
