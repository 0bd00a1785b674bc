package calls

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// fakeHub is the hub as the runner sees it (Hub), with one fake bot and no storage, media or
// transports: enough for the chain's own tests. The actions over the hub's real transports are
// tested in package gateway.
type fakeHub struct {
	bot *core.Entry
	set Settings
}

func newFakeHub() *fakeHub {
	return &fakeHub{
		bot: &core.Entry{Bot: fakes.NewFakeBot("@bot:example.org"), SelfID: 10001},
		set: Settings{
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(), Stats: &core.Stats{},
			Inflight: web.NewBudget(1<<20, time.Second), Impl: "matrix-onebot", Version: "test", ReplyScope: ReplyScopeEvent,
		},
	}
}

func (h *fakeHub) Settings() Settings { return h.set }

func (h *fakeHub) BotByUser(u id.UserID) *core.Entry {
	if u == h.bot.Bot.UserID() {
		return h.bot
	}
	return nil
}

func (h *fakeHub) DefaultBot() *core.Entry { return h.bot }
func (h *fakeHub) PendingBot() model.Bot   { return nil }

func (h *fakeHub) FaceBots(*core.Entry) []face.Bot {
	return []face.Bot{{Bot: h.bot.Bot, SelfID: h.bot.SelfID}}
}

func (h *fakeHub) LatestEvents(context.Context, *core.Entry, int, time.Duration) []json.RawMessage {
	return nil
}

func (h *fakeHub) FromHTTP(context.Context) bool { return false }
func (h *fakeHub) Client(context.Context) string { return "" }
