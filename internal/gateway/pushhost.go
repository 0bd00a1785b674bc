package gateway

import (
	"context"
	"io"
	"log/slog"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/push"
)

// pushHost is what the hub gives its deliveries (push.Host): the sinks, the faces and bots, the
// request budget and the action runner.
type pushHost struct{ h *Hub }

var _ push.Host = pushHost{}

func (ph pushHost) Settings() push.Settings {
	h := ph.h
	return push.Settings{
		Log: h.log, Stats: &h.stats, Metrics: h.metrics,
		Version: h.opts.Version, HeartbeatInterval: h.opts.HeartbeatInterval,
		MaxUploadSize: h.opts.Web.MaxUploadSize, ReadTimeout: h.opts.Web.ReadTimeout,
		Transports: &h.opts.Transports,
	}
}

func (ph pushHost) Subscribe(s *sink)   { ph.h.fan.subscribe(s) }
func (ph pushHost) Unsubscribe(s *sink) { ph.h.fan.unsubscribe(s) }
func (ph pushHost) WakePublishers()     { ph.h.fan.wakePublishers() }

func (ph pushHost) FaceOf(version int) face.Face       { return ph.h.faces.faceOfVersion(version) }
func (ph pushHost) FaceBots(only *botEntry) []face.Bot { return ph.h.faces.faceBots(only) }
func (ph pushHost) BotBySelfID(n int64) *botEntry      { return ph.h.reg.botBySelfID(n) }
func (ph pushHost) BotByUser(u id.UserID) *botEntry    { return ph.h.reg.botByUser(u) }
func (ph pushHost) WhenTokensNeeded(s *sink)           { ph.h.web.whenTokensNeeded(s) }
func (ph pushHost) ConnContext(ctx context.Context) context.Context {
	return withClient(ctx, "ws "+newEventID())
}

func (ph pushHost) ReadRequest(ctx context.Context, r io.Reader, version int) ([]byte, func(), error) {
	req, err := ph.h.web.readRequest(ctx, r, -1, version, "")
	if err != nil {
		return nil, nil, err
	}
	return req.data, req.release, nil
}

func (ph pushHost) RunFrame(ctx context.Context, version int, bot *botEntry, frame []byte) []byte {
	return ph.h.calls.Frame(ctx, version, bot, frame)
}

// RunReply runs what a webhook's 200 JSON reply asks for (calls.Runner.Reply).
func (ph pushHost) RunReply(ctx context.Context, version int, entry *botEntry, event, reply []byte, log *slog.Logger) {
	ph.h.calls.Reply(ctx, version, entry, event, reply, log)
}
