// Package v11 is the OneBot v11 face: its pure event codec (messages, notices, requests, meta
// events, segments and CQ codes) behind face.Face, and the ID lookups it needs, done before
// encoding (Resolve). It imports the neutral model, never the hub or storage.
package v11

import (
	"context"
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Sender is a message's sender.
type Sender struct {
	UserID   int64  `json:"user_id"`
	Nickname string `json:"nickname"`
	Card     string `json:"card,omitempty"`
	Sex      string `json:"sex,omitempty"`
	Age      int    `json:"age"`
	Role     string `json:"role,omitempty"`
}

// Event is a message or meta event in v11 form.
type Event struct {
	Time        int64     `json:"time"`
	SelfID      int64     `json:"self_id"`
	PostType    string    `json:"post_type"`
	MessageType string    `json:"message_type,omitempty"`
	SubType     string    `json:"sub_type,omitempty"`
	MessageID   int32     `json:"message_id,omitempty"`
	RealID      int32     `json:"real_id,omitempty"` // get_msg only
	GroupID     int64     `json:"group_id,omitempty"`
	UserID      int64     `json:"user_id,omitempty"`
	Anonymous   *struct{} `json:"anonymous,omitempty"`
	Message     any       `json:"message,omitempty"`
	RawMessage  string    `json:"raw_message,omitempty"`
	Font        *int      `json:"font,omitempty"`
	Sender      *Sender   `json:"sender,omitempty"`
	// Matrix extensions, so a v11 client can still see the real IDs.
	RoomID  string `json:"matrix_room_id,omitempty"`
	EventID string `json:"matrix_event_id,omitempty"`
	Matrix  string `json:"matrix_sender,omitempty"`
	MsgType string `json:"matrix_msgtype,omitempty"`
	// meta events
	MetaEventType string  `json:"meta_event_type,omitempty"`
	Status        *Status `json:"status,omitempty"`
	Interval      int64   `json:"interval,omitempty"`
}

// Status is a heartbeat's status.
type Status struct {
	Online bool `json:"online"`
	Good   bool `json:"good"`
}

// Options configure the v11 face.
type Options struct {
	// IDs numbers Matrix IDs (the gateway's persistent map).
	IDs Mapper
	// SelfID is the self_id of a bot (0 = unknown).
	SelfID func(u id.UserID) int64
	// StringFormat posts messages as CQ strings instead of segment arrays
	// (GATEWAY_V11_POST_FORMAT=string).
	StringFormat bool
}

// Face is the OneBot v11 face.
type Face struct{ opts Options }

var (
	_ face.Face     = (*Face)(nil)
	_ face.Resolver = (*Face)(nil)
	_ face.Meta     = (*Face)(nil)
)

// New returns the v11 face.
func New(opts Options) *Face {
	if opts.SelfID == nil {
		opts.SelfID = func(id.UserID) int64 { return 0 }
	}
	return &Face{opts: opts}
}

// Name implements face.Face.
func (*Face) Name() string { return "v11" }

// Resolve implements face.Resolver: the numbers of every Matrix ID the event's v11 form
// carries, allocating numbers for new ones, within ctx's deadline.
func (f *Face) Resolve(ctx context.Context, ev *model.Event) (face.IDs, error) {
	return Resolve(ctx, f.opts.IDs, ev, f.opts.SelfID(ev.Self))
}

// Encode implements face.Face: pure, from the numbers Resolve found.
func (f *Face) Encode(ev *model.Event, ids face.IDs) ([]byte, error) {
	return EncodeEvent(ev, Numbers{IDs: ids, Self: ev.Self, SelfID: f.opts.SelfID(ev.Self)}, f.opts.StringFormat)
}

// MarkReplayed adds "matrix_replayed": true.
func (*Face) MarkReplayed(frame []byte) []byte {
	return face.MarkField(frame, `"matrix_replayed":true,`)
}

// EncodeEvent renders ev for v11 clients; with stringFormat the message is its CQ string
// (raw_message) instead of a segment array. nil for kinds v11 has no form for.
func EncodeEvent(ev *model.Event, n Numbers, stringFormat bool) ([]byte, error) {
	switch ev.Kind {
	case model.KindMember, model.KindDelete, model.KindReaction, model.KindEdit, model.KindTyping, model.KindReceipt, model.KindInvite:
		n.Self = ""                              // in notices the bot's own user ID has its number of the map
		return encodeNotice(n, ev, stringFormat) // notices.go
	case model.KindMessage:
		out, err := MessageEvent(ev, n)
		if err != nil {
			return nil, err
		}
		if stringFormat {
			out.Message = out.RawMessage
		}
		return face.Marshal(out)
	}
	return nil, nil
}

// MessageEvent is a message event in v11 form; get_msg returns the same object.
func MessageEvent(ev *model.Event, n Numbers) (*Event, error) {
	m := ev.Message
	msgID, err := nonEmpty(m.EventID, n.Event)
	if err != nil {
		return nil, fmt.Errorf("failed to map event id: %w", err)
	}
	userID, err := nonEmpty(m.Sender, n.User)
	if err != nil {
		return nil, fmt.Errorf("failed to map user id: %w", err)
	}
	segs, err := ToSegments(n, m.Segments)
	if err != nil {
		return nil, err
	}
	font := 0
	nick := m.SenderName
	if nick == "" {
		nick = m.Sender.Localpart()
	}
	out := &Event{
		Time: ev.Time.Unix(), SelfID: n.SelfID, PostType: "message", MessageID: int32(msgID), UserID: userID,
		Message: segs, RawMessage: SegmentsToCQ(segs), Font: &font,
		RoomID: string(m.RoomID), EventID: string(m.EventID), Matrix: string(m.Sender), MsgType: m.MsgType,
	}
	if m.Direct {
		out.MessageType, out.SubType = "private", "friend"
		out.Sender = &Sender{UserID: userID, Nickname: nick, Sex: "unknown"}
	} else {
		groupID, err := nonEmpty(m.RoomID, n.Room)
		if err != nil {
			return nil, fmt.Errorf("failed to map room id: %w", err)
		}
		out.MessageType, out.SubType, out.GroupID = "group", "normal", groupID
		role := m.SenderRole // owner ≥ 100, admin ≥ 50 (get_group_member_info says the same)
		if role == "" {
			role = model.RoleMember
		}
		out.Sender = &Sender{UserID: userID, Nickname: nick, Card: m.SenderName, Role: string(role)}
	}
	return out, nil
}

// Lifecycle is a lifecycle meta event (connect, enable, disable).
func Lifecycle(selfID int64, subType string) []byte {
	return face.MustJSON(Event{Time: time.Now().Unix(), SelfID: selfID, PostType: "meta_event", MetaEventType: "lifecycle", SubType: subType})
}

// Hello implements face.Meta: lifecycle connect (a v11 connection is for one bot).
func (*Face) Hello(bots []face.Bot) [][]byte {
	if len(bots) == 0 {
		return nil
	}
	return [][]byte{Lifecycle(bots[0].SelfID, "connect")}
}

// Heartbeat implements face.Meta.
func (*Face) Heartbeat(bots []face.Bot, interval time.Duration) []byte {
	if len(bots) == 0 {
		return nil
	}
	st := bots[0].Bot.Status()
	return face.MustJSON(Event{
		Time: time.Now().Unix(), SelfID: bots[0].SelfID, PostType: "meta_event", MetaEventType: "heartbeat",
		Status: &Status{Online: st.Online(), Good: st.Good()}, Interval: interval.Milliseconds(),
	})
}

// StatusChanged implements face.Meta: lifecycle disable when the bot went offline, enable when
// it is back; nothing for other changes.
func (*Face) StatusChanged(_ []face.Bot, changed face.Bot, online, flipped bool) []byte {
	if !flipped {
		return nil
	}
	sub := "enable"
	if !online {
		sub = "disable"
	}
	return Lifecycle(changed.SelfID, sub)
}

// errUnresolved is a Matrix ID that Resolve did not number: a bug (refs misses a field).
func errUnresolved(what string, s string) error {
	return fmt.Errorf("no v11 number for %s %s: not resolved before encoding", what, s)
}
