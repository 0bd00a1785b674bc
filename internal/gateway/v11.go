package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// OneBot v11 retcodes (go-cqhttp's conventions, which v11 clients know).
const (
	v11OK                = 0
	v11Async             = 1
	v11Failed            = 100 // the action ran and failed (homeserver refused, network, …)
	v11BadRequest        = 1400
	v11Unauthorized      = 1401
	v11UnsupportedAction = 1404
)

// v11Segment is a message segment in v11 form; data values are strings as in CQ codes.
type v11Segment struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

type v11Sender struct {
	UserID   int64  `json:"user_id"`
	Nickname string `json:"nickname"`
	Card     string `json:"card,omitempty"`
	Sex      string `json:"sex,omitempty"`
	Age      int    `json:"age"`
	Role     string `json:"role,omitempty"`
}

type v11Event struct {
	Time        int64      `json:"time"`
	SelfID      int64      `json:"self_id"`
	PostType    string     `json:"post_type"`
	MessageType string     `json:"message_type,omitempty"`
	SubType     string     `json:"sub_type,omitempty"`
	MessageID   int32      `json:"message_id,omitempty"`
	RealID      int32      `json:"real_id,omitempty"` // get_msg only
	GroupID     int64      `json:"group_id,omitempty"`
	UserID      int64      `json:"user_id,omitempty"`
	Anonymous   *struct{}  `json:"anonymous,omitempty"`
	Message     any        `json:"message,omitempty"`
	RawMessage  string     `json:"raw_message,omitempty"`
	Font        *int       `json:"font,omitempty"`
	Sender      *v11Sender `json:"sender,omitempty"`
	// Matrix extensions, so a v11 client can still see the real IDs.
	RoomID  string `json:"matrix_room_id,omitempty"`
	EventID string `json:"matrix_event_id,omitempty"`
	Matrix  string `json:"matrix_sender,omitempty"`
	MsgType string `json:"matrix_msgtype,omitempty"`
	// meta events
	MetaEventType string     `json:"meta_event_type,omitempty"`
	Status        *v11Status `json:"status,omitempty"`
	Interval      int64      `json:"interval,omitempty"`
}

type v11Status struct {
	Online bool `json:"online"`
	Good   bool `json:"good"`
}

// encodeV11Event renders ev for v11 clients; with stringFormat (GATEWAY_V11_POST_FORMAT=string)
// the message is its CQ string (raw_message) instead of a segment array.
func encodeV11Event(ctx context.Context, ids IDMapper, selfID int64, ev *model.Event, stringFormat bool) ([]byte, error) {
	switch ev.Kind {
	case model.KindMember, model.KindDelete, model.KindReaction, model.KindEdit, model.KindTyping, model.KindReceipt, model.KindInvite:
		return encodeV11Notice(ctx, ids, selfID, ev, stringFormat) // events_v11.go
	case model.KindMessage:
		out, err := v11MessageEvent(ctx, ids, selfID, ev)
		if err != nil {
			return nil, err
		}
		if stringFormat {
			out.Message = out.RawMessage
		}
		return marshal(out)
	}
	return nil, nil
}

// v11MessageEvent is a message event in v11 form; get_msg returns the same object.
func v11MessageEvent(ctx context.Context, ids IDMapper, selfID int64, ev *model.Event) (*v11Event, error) {
	m := ev.Message
	self := v11Self{user: ev.Self, selfID: selfID}
	msgID, err := ids.V11ID(ctx, storage.KindEvent, string(m.EventID))
	if err != nil {
		return nil, fmt.Errorf("failed to map event id: %w", err)
	}
	userID, err := v11UserID(ctx, ids, self, m.Sender)
	if err != nil {
		return nil, fmt.Errorf("failed to map user id: %w", err)
	}
	segs, err := toV11SegmentsAs(ctx, ids, self, m.Segments)
	if err != nil {
		return nil, err
	}
	font := 0
	nick := m.SenderName
	if nick == "" {
		nick = m.Sender.Localpart()
	}
	out := &v11Event{
		Time: ev.Time.Unix(), SelfID: selfID, PostType: "message", MessageID: int32(msgID), UserID: userID,
		Message: segs, RawMessage: v11SegmentsToCQ(segs), Font: &font,
		RoomID: string(m.RoomID), EventID: string(m.EventID), Matrix: string(m.Sender), MsgType: m.MsgType,
	}
	if m.Direct {
		out.MessageType, out.SubType = "private", "friend"
		out.Sender = &v11Sender{UserID: userID, Nickname: nick, Sex: "unknown"}
	} else {
		groupID, err := ids.V11ID(ctx, storage.KindRoom, string(m.RoomID))
		if err != nil {
			return nil, fmt.Errorf("failed to map room id: %w", err)
		}
		out.MessageType, out.SubType, out.GroupID = "group", "normal", groupID
		role := m.SenderRole // owner ≥ 100, admin ≥ 50 (get_group_member_info says the same)
		if role == "" {
			role = model.RoleMember
		}
		out.Sender = &v11Sender{UserID: userID, Nickname: nick, Card: m.SenderName, Role: string(role)}
	}
	return out, nil
}

func idLookupError(err error, format string, args ...any) error {
	if errors.Is(err, storage.ErrNotFound) {
		return model.Errorf(model.ErrNotFound, format, args...)
	}
	return fmt.Errorf("failed to look up id: %w", err)
}

func (h *Hub) v11Lifecycle(selfID int64, subType string) []byte {
	return mustJSON(v11Event{Time: time.Now().Unix(), SelfID: selfID, PostType: "meta_event", MetaEventType: "lifecycle", SubType: subType})
}

func (h *Hub) v11Heartbeat(b *botEntry) []byte {
	return h.faces.v11.(face.Meta).Heartbeat([]face.Bot{{Bot: b.bot, SelfID: b.selfID}}, h.opts.HeartbeatInterval)
}

// v11Request is an action request (WebSocket frame or HTTP body).
type v11Request struct {
	Action string          `json:"action"`
	Params json.RawMessage `json:"params"`
	Echo   json.RawMessage `json:"echo,omitempty"`
}

type v11Response struct {
	Status  string          `json:"status"`
	Retcode int             `json:"retcode"`
	Data    any             `json:"data"`
	Msg     string          `json:"msg,omitempty"`
	Wording string          `json:"wording,omitempty"`
	Echo    json.RawMessage `json:"echo,omitempty"`
}
