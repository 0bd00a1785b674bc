package calls

import (
	"context"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/model"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// Frame runs one action request frame of a protocol version (from WebSocket or HTTP) and
// returns the response frame. bot is the bot a v12 connection is limited to (nil: every bot),
// or the bot of a v11 connection.
func (r *Runner) Frame(ctx context.Context, version int, bot *core.Entry, raw []byte) []byte {
	if version == 12 {
		req, bad := ob12.DecodeRequest(raw)
		if bad != nil {
			return face.MustJSON(bad)
		}
		return face.MustJSON(r.RunV12(ctx, bot, req))
	}
	req, bad := ob11.DecodeRequest(raw)
	if bad != nil {
		return face.MustJSON(bad)
	}
	return face.MustJSON(r.RunV11(ctx, bot, req))
}

// RunV12 runs one v12 action request. connBot is the bot a connection is limited to, or nil.
func (r *Runner) RunV12(ctx context.Context, connBot *core.Entry, req *ob12.Request) ob12.Response {
	resp := ob12.Response{Status: "ok", Retcode: ob12.RetOK, Echo: req.Echo}
	var bot *core.Entry
	if req.Self != nil {
		if req.Self.Platform != model.Platform {
			return ob12.Fail(resp, ob12.RetUnknownSelf, "unknown self: platform must be "+model.Platform)
		}
		bot = r.hub.BotByUser(id.UserID(req.Self.UserID))
		switch {
		case connBot != nil && bot != connBot: // the same answer whether or not the bot exists
			return ob12.Fail(resp, ob12.RetUnknownSelf, "unknown self: this connection or access token is for bot "+string(connBot.Bot.UserID())+" only")
		case bot == nil:
			return ob12.Fail(resp, ob12.RetUnknownSelf, "unknown self: no bot "+req.Self.UserID+" here")
		}
	} else if bot = connBot; bot == nil {
		bot = r.hub.DefaultBot()
	}
	if connBot != nil {
		ctx = withBotScope(ctx, connBot)
	}
	data, err := r.Run(ctx, 12, bot, req.Action, req.Params)
	if err != nil {
		code, msg := ob12.Retcode(err)
		return ob12.Fail(resp, code, msg)
	}
	resp.Data = data
	return resp
}

// RunV11 runs one v11 action request for a bot, the _async and _rate_limited forms included.
func (r *Runner) RunV11(ctx context.Context, bot *core.Entry, req *ob11.Request) ob11.Response {
	resp := ob11.Response{Status: "ok", Retcode: ob11.RetOK, Echo: req.Echo}
	data, err := r.v11Actions(&invocation{ctx: ctx, version: 11, bot: bot, name: req.Action, params: req.Params})
	if err != nil {
		return ob11.Fail(resp, err)
	}
	if _, ok := data.(detachedCall); ok { // go-cqhttp's _async, _rate_limited
		resp.Status, resp.Retcode = "async", ob11.RetAsync
		return resp
	}
	resp.Data = data
	return resp
}
