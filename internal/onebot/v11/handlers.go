package v11

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot"
)

type sendMsgParams struct {
	MessageType string          `json:"message_type,omitempty"`
	UserID      onebot.FlexInt  `json:"user_id,omitempty"`
	GroupID     onebot.FlexInt  `json:"group_id,omitempty"`
	Message     json.RawMessage `json:"message"`
	AutoEscape  onebot.FlexBool `json:"auto_escape,omitempty"`
	// Matrix extensions: the msgtype of text (m.text, m.notice, m.emote) and Markdown rendering.
	MsgType  string           `json:"matrix_msgtype,omitempty"`
	Markdown *onebot.FlexBool `json:"matrix_markdown,omitempty"`
	// An idempotency key: a retry with the same key posts the message once (idempotency.go).
	TxnID onebot.TxnKey `json:"matrix_txn_id,omitempty"`
}

// sentResult answers the send actions. The fields of result types are in the order of their JSON
// names, so that they marshal as the maps they were.
type sentResult struct {
	MessageID int32 `json:"message_id"`
}

func sendMsg(c *onebot.Call, p sendMsgParams) (*sentResult, error) {
	switch p.MessageType {
	case "":
		if p.GroupID != 0 {
			p.MessageType = "group"
		} else {
			p.MessageType = "private"
		}
	case "group", "private":
	default:
		return nil, model.Errorf(model.ErrBadParam, "message_type must be group or private")
	}
	return sendOf(c, p)
}

func sendGroupMsg(c *onebot.Call, p sendMsgParams) (*sentResult, error) {
	p.MessageType = "group"
	return sendOf(c, p)
}

func sendPrivateMsg(c *onebot.Call, p sendMsgParams) (*sentResult, error) {
	p.MessageType = "private"
	return sendOf(c, p)
}

func sendOf(c *onebot.Call, p sendMsgParams) (*sentResult, error) {
	ids := c.Host.IDs()
	var to model.Target
	if p.MessageType == "group" {
		if p.GroupID <= 0 {
			return nil, model.Errorf(model.ErrBadParam, "group_id is required")
		}
		room, err := ids.MatrixID(c.Ctx, KindRoom, int64(p.GroupID))
		if err != nil {
			return nil, lookupError(err, "unknown group_id %d", p.GroupID)
		}
		to.RoomID = id.RoomID(room)
	} else {
		if p.UserID <= 0 {
			return nil, model.Errorf(model.ErrBadParam, "user_id is required")
		}
		user, err := ids.MatrixID(c.Ctx, KindUser, int64(p.UserID))
		if err != nil {
			return nil, lookupError(err, "unknown user_id %d", p.UserID)
		}
		to.UserID = id.UserID(user)
	}
	v11segs, err := DecodeMessage(p.Message, bool(p.AutoEscape))
	if err != nil {
		return nil, err
	}
	segs, err := FromSegments(c.Ctx, ids, Self{User: c.Bot.UserID(), SelfID: c.SelfID}, v11segs)
	if err != nil {
		return nil, err
	}
	opts := model.SendOptions{MsgType: p.MsgType}
	if p.Markdown != nil {
		md := bool(*p.Markdown)
		opts.Markdown = &md
	}
	if opts.Idempotency, err = onebot.SendIdempotency(c, p.TxnID, to, segs, opts); err != nil {
		return nil, err
	}
	sent, err := onebot.SendMessage(c, to, segs, opts)
	if err != nil {
		return nil, err
	}
	msgID, err := ids.V11ID(c.Ctx, KindEvent, string(sent.EventID))
	if err != nil {
		return nil, err
	}
	return &sentResult{MessageID: int32(msgID)}, nil
}

// loginInfo answers get_login_info.
type loginInfo struct {
	Nickname string `json:"nickname"`
	UserID   int64  `json:"user_id"`
}

func getLoginInfo(c *onebot.Call) (*loginInfo, error) {
	b := c.Bot
	nick := b.DisplayName()
	if nick == "" {
		nick = b.UserID().Localpart()
	}
	return &loginInfo{UserID: c.SelfID, Nickname: nick}, nil
}

// statusResult answers get_status (go-cqhttp's fields, and why the bot is not good).
type statusResult struct {
	AppEnabled     bool               `json:"app_enabled"`
	AppGood        bool               `json:"app_good"`
	AppInitialized bool               `json:"app_initialized"`
	Good           bool               `json:"good"`
	MatrixMetrics  map[string]float64 `json:"matrix_metrics,omitempty"` // metrics.BotCounters; not for a pending bot
	MatrixReason   string             `json:"matrix_reason"`
	MatrixState    string             `json:"matrix_state"`
	Online         bool               `json:"online"`
	PluginsGood    *bool              `json:"plugins_good"` // always null
}

func getStatus(c *onebot.Call) (*statusResult, error) {
	d := statusData(c.Bot.Status())
	d.MatrixMetrics = c.Host.BotCounters(string(c.Bot.UserID()))
	return d, nil
}

// statusData is get_status of a bot with status st.
func statusData(st model.BotStatus) *statusResult {
	return &statusResult{
		AppInitialized: true, AppEnabled: true, AppGood: st.Good(),
		Online: st.Online(), Good: st.Good(), MatrixState: string(st.State), MatrixReason: st.Reason,
	}
}

// versionInfo answers get_version_info.
type versionInfo struct {
	AppName         string `json:"app_name"`
	AppVersion      string `json:"app_version"`
	ProtocolVersion string `json:"protocol_version"`
	RuntimeOS       string `json:"runtime_os"`
	RuntimeVersion  string `json:"runtime_version"`
}

func getVersionInfo(c *onebot.Call) (*versionInfo, error) {
	impl, version := c.Host.Impl()
	return &versionInfo{
		AppName: impl, AppVersion: version, ProtocolVersion: "v11",
		RuntimeVersion: runtime.Version(), RuntimeOS: runtime.GOOS,
	}, nil
}

type getMsgParams struct {
	MessageID onebot.FlexInt `json:"message_id"`
}

// getMsg returns a message from the bot's message index as the full object NoneBot expects
// (time, message_type, message_id, real_id, sender, message).
func getMsg(c *onebot.Call, p getMsgParams) (*Event, error) {
	if p.MessageID <= 0 {
		return nil, model.Errorf(model.ErrBadParam, "message_id is required")
	}
	ids := c.Host.IDs()
	e, err := ids.MatrixID(c.Ctx, KindEvent, int64(p.MessageID))
	if err != nil {
		return nil, lookupError(err, "unknown message_id %d", p.MessageID)
	}
	ev, err := onebot.GetMessage(c, id.EventID(e))
	if err != nil {
		return nil, err
	}
	out, err := messageEvent(c.Ctx, ids, c.SelfID, ev)
	if err != nil {
		return nil, err
	}
	out.RealID = out.MessageID
	return out, nil
}

// PendingStatus is get_status of the only bot while it has not logged in yet: offline, with
// the reason.
func PendingStatus(b model.Bot) *statusResult {
	d := statusData(b.Status())
	d.Online, d.Good, d.AppGood = false, false, false
	d.MatrixReason = face.Label(b) + " has not logged in yet: " + face.PendingReason(b)
	return d
}

// messageEvent is a message event in v11 form as get_msg returns it: its numbers looked up
// (and allocated) with ctx first.
func messageEvent(ctx context.Context, ids Mapper, selfID int64, ev *model.Event) (*Event, error) {
	nums, err := Resolve(ctx, ids, ev, selfID)
	if err != nil {
		return nil, err
	}
	return MessageEvent(ev, Numbers{IDs: nums, Self: ev.Self, SelfID: selfID})
}

func lookupError(err error, format string, args ...any) error {
	if errors.Is(err, ErrNotFound) {
		return model.Errorf(model.ErrNotFound, format, args...)
	}
	return fmt.Errorf("failed to look up id: %w", err)
}
