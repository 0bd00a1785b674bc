package gateway

import (
	"context"
	"encoding/json"
	"unicode/utf8"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// errNotUTF8 answers a request that is not UTF-8 (RFC 8259 §8.1), without its echo: echoing
// it would put invalid UTF-8 into a text frame.
const errNotUTF8 = "bad request: the request is not valid UTF-8 JSON"

// handleV12Frame runs one v12 action request (from WebSocket or HTTP) and returns the response.
// connBot is the bot a connection is limited to, or nil.
func (ar actionRunner) handleV12Frame(ctx context.Context, connBot *botEntry, raw []byte) []byte {
	if !utf8.Valid(raw) {
		return mustJSON(v12Response{Status: "failed", Retcode: v12BadRequest, Message: errNotUTF8})
	}
	var req v12Request
	if err := json.Unmarshal(raw, &req); err != nil || req.Action == "" {
		resp := v12Response{Status: "failed", Retcode: v12BadRequest, Message: "bad request: want a JSON object with action and params"}
		if err != nil {
			resp.Message = "bad request: " + err.Error()
		}
		resp.Echo = salvageEcho(raw)
		return mustJSON(resp)
	}
	return mustJSON(ar.runV12(ctx, connBot, &req))
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
			return v12Fail(resp, v12UnknownSelf, "unknown self: this connection or access token is for bot "+string(connBot.bot.UserID())+" only")
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

func v12Fail(resp v12Response, code int, msg string) v12Response {
	resp.Status, resp.Retcode, resp.Message, resp.Data = "failed", code, msg, nil
	return resp
}

// handleV11Frame runs one v11 action request for a bot and returns the response.
func (ar actionRunner) handleV11Frame(ctx context.Context, bot *botEntry, raw []byte) []byte {
	if !utf8.Valid(raw) {
		return mustJSON(v11Response{Status: "failed", Retcode: v11BadRequest, Msg: errNotUTF8, Wording: errNotUTF8})
	}
	var req v11Request
	if err := json.Unmarshal(raw, &req); err != nil || req.Action == "" {
		resp := v11Response{Status: "failed", Retcode: v11BadRequest, Msg: "bad request: want a JSON object with action and params"}
		if err != nil {
			resp.Msg = "bad request: " + err.Error()
		}
		resp.Wording, resp.Echo = resp.Msg, salvageEcho(raw)
		return mustJSON(resp)
	}
	return mustJSON(ar.runV11(ctx, bot, &req))
}

func (ar actionRunner) runV11(ctx context.Context, bot *botEntry, req *v11Request) v11Response {
	resp := v11Response{Status: "ok", Retcode: v11OK, Echo: req.Echo}
	data, err := ar.h.v11Actions(&invocation{ctx: ctx, version: 11, bot: bot, name: req.Action, params: req.Params})
	if err != nil {
		code, msg := v11Retcode(err)
		resp.Status, resp.Retcode, resp.Msg, resp.Wording = "failed", code, msg, msg
		return resp
	}
	if _, ok := data.(detachedCall); ok { // go-cqhttp's _async, _rate_limited
		resp.Status, resp.Retcode = "async", v11Async
		return resp
	}
	resp.Data = data
	return resp
}

// salvageEcho finds the echo of a request that failed to decode as a whole, so that the client can
// still match the error to its call.
func salvageEcho(raw []byte) json.RawMessage {
	var probe struct {
		Echo json.RawMessage `json:"echo"`
	}
	if json.Unmarshal(raw, &probe) == nil {
		return probe.Echo
	}
	return nil
}
