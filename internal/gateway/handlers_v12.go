package gateway

import (
	"encoding/json"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

type v12SendMessageParams struct {
	DetailType string          `json:"detail_type"`
	UserID     string          `json:"user_id,omitempty"`
	GroupID    string          `json:"group_id,omitempty"`
	Message    json.RawMessage `json:"message"`
	// Matrix extensions: the msgtype of text (m.text, m.notice, m.emote) and Markdown rendering.
	MsgType  string `json:"matrix.msgtype,omitempty"`
	Markdown *bool  `json:"matrix.markdown,omitempty"`
	// An idempotency key: a retry with the same key posts the message once (idempotency.go).
	TxnID txnKey `json:"matrix.txn_id,omitempty"`
}

// v12Sent answers send_message (and matrix.react): the event sent and when. The fields of
// result types are in the order of their JSON names, so that they marshal as the maps they were.
type v12Sent struct {
	MessageID string  `json:"message_id"`
	Time      float64 `json:"time"`
}

func v12SendMessage(c *call, p v12SendMessageParams) (*v12Sent, error) {
	var to model.Target
	switch p.DetailType {
	case "group":
		if !validRoomID(p.GroupID) {
			return nil, model.Errorf(model.ErrBadParam, "group_id must be a Matrix room ID like !abc:example.org")
		}
		to.RoomID = id.RoomID(p.GroupID)
	case "private":
		if !validUserID(p.UserID) {
			return nil, model.Errorf(model.ErrBadParam, "user_id must be a Matrix user ID like @alice:example.org")
		}
		to.UserID = id.UserID(p.UserID)
	case "":
		return nil, model.Errorf(model.ErrBadParam, "detail_type is required: group or private")
	default:
		return nil, protoErr(v12UnsupportedParam, v11BadRequest, "detail_type %q is not supported: use group or private", p.DetailType)
	}
	segs, err := decodeV12Message(p.Message)
	if err != nil {
		return nil, err
	}
	opts := model.SendOptions{MsgType: p.MsgType, Markdown: p.Markdown}
	if opts.Idempotency, err = idempotencyFor(c, p.TxnID, to, segs, opts); err != nil {
		return nil, err
	}
	sent, err := sendMessage(c, to, segs, opts)
	if err != nil {
		return nil, err
	}
	return &v12Sent{MessageID: string(sent.EventID), Time: ob12.Time(sent.Time)}, nil
}

// decodeV12Message reads a v12 message: an array of segments (a bare string is taken as text).
func decodeV12Message(raw json.RawMessage) ([]model.Segment, error) {
	var segs []ob12.Segment
	if len(raw) == 0 || string(raw) == "null" {
		return nil, model.Errorf(model.ErrBadParam, "message is required")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, model.Errorf(model.ErrBadParam, "message: %v", err)
		}
		return []model.Segment{model.Text{Text: s}}, nil
	}
	if err := json.Unmarshal(raw, &segs); err != nil {
		return nil, model.Errorf(model.ErrBadParam, "message must be an array of segments: %v", err)
	}
	if len(segs) == 0 {
		return nil, model.Errorf(model.ErrBadParam, "message is empty")
	}
	return ob12.DecodeSegments(segs)
}

// v12SelfInfo answers get_self_info.
type v12SelfInfo struct {
	UserDisplayname string `json:"user_displayname"`
	UserID          string `json:"user_id"`
	UserName        string `json:"user_name"`
}

func v12GetSelfInfo(c *call) (*v12SelfInfo, error) {
	b := c.bot.bot
	return &v12SelfInfo{UserID: string(b.UserID()), UserName: b.UserID().Localpart(), UserDisplayname: b.DisplayName()}, nil
}

func v12GetStatus(c *call) (*ob12.Status, error) {
	st := c.hub.faces.v12StatusData(botScope(c.ctx))
	for i := range st.Bots {
		st.Bots[i].Metrics = c.hub.metrics.BotCounters(st.Bots[i].Self.UserID)
	}
	return st, nil
}

func v12GetVersion(c *call) (*ob12.VersionInfo, error) {
	return &ob12.VersionInfo{Impl: Impl, Version: c.hub.opts.Version, OneBotVersion: ob12.ProtocolVersion}, nil
}

func v12GetSupportedActions(c *call) ([]string, error) { return supportedActions(12), nil }

func validUserID(s string) bool {
	_, _, err := id.UserID(s).Parse()
	return err == nil && strings.HasPrefix(s, "@")
}

func validRoomID(s string) bool {
	return strings.HasPrefix(s, "!") && strings.Contains(s, ":") || strings.HasPrefix(s, "!") && len(s) > 1
}

// sendMessage stores the files that media segments name, then sends.
// With an idempotency key, a send that was posted before answers its message at once.
func sendMessage(c *call, to model.Target, segs []model.Segment, opts model.SendOptions) (model.Sent, error) {
	if opts.Idempotency != nil {
		is, ok := model.As[model.IdempotentSender](c.bot.bot)
		if !ok {
			return model.Sent{}, protoErr(v12UnsupportedParam, v11BadRequest, "this bot cannot send with an idempotency key")
		}
		if sent, done, err := is.SentWithKey(c.ctx, *opts.Idempotency); err != nil || done {
			return sent, err
		}
	}
	if err := c.hub.opts.Media.ResolveSources(c.ctx, segs); err != nil {
		return model.Sent{}, err
	}
	if s, ok := model.As[model.OptionSender](c.bot.bot); ok {
		return s.SendMessageWith(c.ctx, to, segs, opts)
	}
	if opts.MsgType != "" || opts.Markdown != nil || opts.Idempotency != nil {
		return model.Sent{}, protoErr(v12UnsupportedParam, v11BadRequest, "this bot cannot choose the msgtype or Markdown")
	}
	return c.bot.bot.SendMessage(c.ctx, to, segs)
}

// getMessage asks the bot's message index for a message.
func getMessage(c *call, evt id.EventID) (*model.Event, error) {
	g, ok := model.As[model.MessageGetter](c.bot.bot)
	if !ok {
		return nil, protoErr(v12UnsupportedAction, v11UnsupportedAction, "this bot keeps no message index")
	}
	return g.GetMessage(c.ctx, evt)
}

type v12GetMessageParams struct {
	MessageID string `json:"message_id"`
}

// v12GetMessage is matrix.get_message: OneBot v12 has no standard action to read a message (its
// clients take the reply's user_id from the segment), so this is an extension.
func v12GetMessage(c *call, p v12GetMessageParams) (*ob12.Event, error) {
	if !strings.HasPrefix(p.MessageID, "$") {
		return nil, model.Errorf(model.ErrBadParam, "message_id must be a Matrix event ID like $abc")
	}
	ev, err := getMessage(c, id.EventID(p.MessageID))
	if err != nil {
		return nil, err
	}
	return ob12.MessageEvent(ev), nil
}
