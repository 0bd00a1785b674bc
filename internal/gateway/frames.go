package gateway

import (
	"context"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// handleV12Frame runs one v12 action request (from WebSocket or HTTP) and returns the response.
// connBot is the bot a connection is limited to, or nil.
func (ar actionRunner) handleV12Frame(ctx context.Context, connBot *botEntry, raw []byte) []byte {
	req, bad := ob12.DecodeRequest(raw)
	if bad != nil {
		return mustJSON(bad)
	}
	return mustJSON(ar.runV12(ctx, connBot, req))
}

func (ar actionRunner) runV12(ctx context.Context, connBot *botEntry, req *v12Request) v12Response {
	resp := v12Response{Status: "ok", Retcode: v12OK, Echo: req.Echo}
	var bot *botEntry
	if req.Self != nil {
		if req.Self.Platform != model.Platform {
			return v12Fail(resp, v12UnknownSelf, "unknown self: platform must be "+model.Platform)
		}
		bot = ar.h.reg.botByUser(id.UserID(req.Self.UserID))
		switch {
		case connBot != nil && bot != connBot: // the same answer whether or not the bot exists
			return v12Fail(resp, v12UnknownSelf, "unknown self: this connection or access token is for bot "+string(connBot.Bot.UserID())+" only")
		case bot == nil:
			return v12Fail(resp, v12UnknownSelf, "unknown self: no bot "+req.Self.UserID+" here")
		}
	} else if bot = connBot; bot == nil {
		bot = ar.h.reg.defaultBot()
	}
	if connBot != nil {
		ctx = withBotScope(ctx, connBot)
	}
	data, err := ar.run(ctx, 12, bot, req.Action, req.Params)
	if err != nil {
		code, msg := v12Retcode(err)
		return v12Fail(resp, code, msg)
	}
	resp.Data = data
	return resp
}

func v12Fail(resp v12Response, code int, msg string) v12Response { return ob12.Fail(resp, code, msg) }

// handleV11Frame runs one v11 action request for a bot and returns the response.
func (ar actionRunner) handleV11Frame(ctx context.Context, bot *botEntry, raw []byte) []byte {
	req, bad := ob11.DecodeRequest(raw)
	if bad != nil {
		return mustJSON(bad)
	}
	return mustJSON(ar.runV11(ctx, bot, req))
}

func (ar actionRunner) runV11(ctx context.Context, bot *botEntry, req *v11Request) v11Response {
	resp := v11Response{Status: "ok", Retcode: v11OK, Echo: req.Echo}
	data, err := ar.h.v11Actions(&invocation{ctx: ctx, version: 11, bot: bot, name: req.Action, params: req.Params})
	if err != nil {
		return ob11.Fail(resp, err)
	}
	if _, ok := data.(detachedCall); ok { // go-cqhttp's _async, _rate_limited
		resp.Status, resp.Retcode = "async", v11Async
		return resp
	}
	resp.Data = data
	return resp
}
