package gateway

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strconv"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// flexInt accepts a JSON number or a string of digits, as v11 clients and HTTP query strings send both.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 || string(b) == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return err
	}
	*f = flexInt(n)
	return nil
}

// flexBool accepts true/false as JSON booleans or strings.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseBool(string(bytes.Trim(b, `"`)))
	if err != nil {
		return err
	}
	*f = flexBool(v)
	return nil
}

type v11SendMsgParams struct {
	MessageType string          `json:"message_type,omitempty"`
	UserID      flexInt         `json:"user_id,omitempty"`
	GroupID     flexInt         `json:"group_id,omitempty"`
	Message     json.RawMessage `json:"message"`
	AutoEscape  flexBool        `json:"auto_escape,omitempty"`
	// Matrix extensions: the msgtype of text (m.text, m.notice, m.emote) and Markdown rendering.
	MsgType  string    `json:"matrix_msgtype,omitempty"`
	Markdown *flexBool `json:"matrix_markdown,omitempty"`
	// An idempotency key: a retry with the same key posts the message once (idempotency.go).
	TxnID txnKey `json:"matrix_txn_id,omitempty"`
}

// v11Sent answers the send actions. The fields of result types are in the order of their JSON
// names, so that they marshal as the maps they were.
type v11Sent struct {
	MessageID int32 `json:"message_id"`
}

func v11SendMsg(c *call, p v11SendMsgParams) (*v11Sent, error) {
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
	return v11Send(c, p)
}

func v11SendGroupMsg(c *call, p v11SendMsgParams) (*v11Sent, error) {
	p.MessageType = "group"
	return v11Send(c, p)
}

func v11SendPrivateMsg(c *call, p v11SendMsgParams) (*v11Sent, error) {
	p.MessageType = "private"
	return v11Send(c, p)
}

func v11Send(c *call, p v11SendMsgParams) (*v11Sent, error) {
	ids := c.hub.opts.IDs
	var to model.Target
	if p.MessageType == "group" {
		if p.GroupID <= 0 {
			return nil, model.Errorf(model.ErrBadParam, "group_id is required")
		}
		room, err := ids.MatrixID(c.ctx, storage.KindRoom, int64(p.GroupID))
		if err != nil {
			return nil, idLookupError(err, "unknown group_id %d", p.GroupID)
		}
		to.RoomID = id.RoomID(room)
	} else {
		if p.UserID <= 0 {
			return nil, model.Errorf(model.ErrBadParam, "user_id is required")
		}
		user, err := ids.MatrixID(c.ctx, storage.KindUser, int64(p.UserID))
		if err != nil {
			return nil, idLookupError(err, "unknown user_id %d", p.UserID)
		}
		to.UserID = id.UserID(user)
	}
	v11segs, err := decodeV11Message(p.Message, bool(p.AutoEscape))
	if err != nil {
		return nil, err
	}
	segs, err := ob11.FromSegments(c.ctx, v11IDs{ids}, ob11.Self{User: c.bot.bot.UserID(), SelfID: c.bot.selfID}, v11segs)
	if err != nil {
		return nil, err
	}
	opts := model.SendOptions{MsgType: p.MsgType}
	if p.Markdown != nil {
		md := bool(*p.Markdown)
		opts.Markdown = &md
	}
	if opts.Idempotency, err = idempotencyFor(c, p.TxnID, to, segs, opts); err != nil {
		return nil, err
	}
	sent, err := sendMessage(c, to, segs, opts)
	if err != nil {
		return nil, err
	}
	msgID, err := ids.V11ID(c.ctx, storage.KindEvent, string(sent.EventID))
	if err != nil {
		return nil, err
	}
	return &v11Sent{MessageID: int32(msgID)}, nil
}

// decodeV11Message reads a v11 message (ob11.DecodeMessage).
func decodeV11Message(raw json.RawMessage, autoEscape bool) ([]v11Segment, error) {
	return ob11.DecodeMessage(raw, autoEscape)
}

// v11LoginInfo answers get_login_info.
type v11LoginInfo struct {
	Nickname string `json:"nickname"`
	UserID   int64  `json:"user_id"`
}

func v11GetLoginInfo(c *call) (*v11LoginInfo, error) {
	b := c.bot.bot
	nick := b.DisplayName()
	if nick == "" {
		nick = b.UserID().Localpart()
	}
	return &v11LoginInfo{UserID: c.bot.selfID, Nickname: nick}, nil
}

// v11Status answers get_status (go-cqhttp's fields, and why the bot is not good).
type v11Status struct {
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

func v11GetStatus(c *call) (*v11Status, error) {
	d := v11StatusData(c.bot.bot.Status())
	d.MatrixMetrics = c.hub.metrics.BotCounters(string(c.bot.bot.UserID()))
	return d, nil
}

// v11StatusData is get_status of a bot with status st.
func v11StatusData(st model.BotStatus) *v11Status {
	return &v11Status{
		AppInitialized: true, AppEnabled: true, AppGood: st.Good(),
		Online: st.Online(), Good: st.Good(), MatrixState: string(st.State), MatrixReason: st.Reason,
	}
}

// v11VersionInfo answers get_version_info.
type v11VersionInfo struct {
	AppName         string `json:"app_name"`
	AppVersion      string `json:"app_version"`
	ProtocolVersion string `json:"protocol_version"`
	RuntimeOS       string `json:"runtime_os"`
	RuntimeVersion  string `json:"runtime_version"`
}

func v11GetVersionInfo(c *call) (*v11VersionInfo, error) {
	return &v11VersionInfo{
		AppName: Impl, AppVersion: c.hub.opts.Version, ProtocolVersion: "v11",
		RuntimeVersion: runtime.Version(), RuntimeOS: runtime.GOOS,
	}, nil
}

type v11GetMsgParams struct {
	MessageID flexInt `json:"message_id"`
}

// v11GetMsg returns a message from the bot's message index as the full object NoneBot expects
// (time, message_type, message_id, real_id, sender, message).
func v11GetMsg(c *call, p v11GetMsgParams) (*ob11.Event, error) {
	if p.MessageID <= 0 {
		return nil, model.Errorf(model.ErrBadParam, "message_id is required")
	}
	ids := c.hub.opts.IDs
	e, err := ids.MatrixID(c.ctx, storage.KindEvent, int64(p.MessageID))
	if err != nil {
		return nil, idLookupError(err, "unknown message_id %d", p.MessageID)
	}
	ev, err := getMessage(c, id.EventID(e))
	if err != nil {
		return nil, err
	}
	out, err := v11MessageEvent(c.ctx, ids, c.bot.selfID, ev)
	if err != nil {
		return nil, err
	}
	out.RealID = out.MessageID
	return out, nil
}

// v11PendingStatus is get_status of the only bot while it has not logged in yet: offline, with
// the reason.
func v11PendingStatus(b model.Bot) *v11Status {
	d := v11StatusData(b.Status())
	d.Online, d.Good, d.AppGood = false, false, false
	d.MatrixReason = botLabel(b) + " has not logged in yet: " + pendingReason(b)
	return d
}
