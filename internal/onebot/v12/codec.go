// Package v12 is the OneBot v12 face: its pure event codec (messages, notices, requests and meta
// events) behind face.Face. It imports the neutral model, never the hub or storage.
package v12

import (
	"time"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Impl is the OneBot implementation name (v12 `impl`, matches [a-z][-a-z0-9]*).
const Impl = "matrix-onebot"

// Protocol constants.
const (
	ProtocolVersion        = "12"
	MetaDetailConnect      = "connect"
	MetaDetailHeartbeat    = "heartbeat"
	MetaDetailStatusUpdate = "status_update"
	replayedField          = `"matrix.replayed":true,`
)

// Self names a bot in v12 frames.
type Self struct {
	Platform string `json:"platform"`
	UserID   string `json:"user_id"`
}

// Time is the float seconds that v12 uses for `time`.
func Time(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// Event is a message or meta event.
type Event struct {
	ID         string    `json:"id"`
	Time       float64   `json:"time"`
	Type       string    `json:"type"`
	DetailType string    `json:"detail_type"`
	SubType    string    `json:"sub_type"`
	Self       *Self     `json:"self,omitempty"`
	MessageID  string    `json:"message_id,omitempty"`
	Message    []Segment `json:"message,omitempty"`
	AltMessage *string   `json:"alt_message,omitempty"`
	UserID     string    `json:"user_id,omitempty"`
	GroupID    string    `json:"group_id,omitempty"`
	// Matrix extensions (v12 extension fields use the platform prefix).
	RoomID  string `json:"matrix.room_id,omitempty"`
	MsgType string `json:"matrix.msgtype,omitempty"`
	Role    string `json:"matrix.role,omitempty"` // group messages: the sender's role (owner, admin, member)
	// meta events
	Version  *VersionInfo `json:"version,omitempty"`
	Status   *Status      `json:"status,omitempty"`
	Interval int64        `json:"interval,omitempty"`
}

// VersionInfo is the answer of get_version and the version of a connect event.
type VersionInfo struct {
	Impl          string `json:"impl"`
	Version       string `json:"version"`
	OneBotVersion string `json:"onebot_version"`
}

// Status is get_status's answer and a status_update's status.
type Status struct {
	Good bool       `json:"good"`
	Bots []BotState `json:"bots"`
	// matrix.elsewhere are the bots other gateways of a cluster run (get_status only): Bots are
	// this gateway's, the ones a connection for every bot acts for and gets events of.
	Elsewhere []string `json:"matrix.elsewhere,omitempty"`
}

// BotState is one bot in a Status.
type BotState struct {
	Self   Self `json:"self"`
	Online bool `json:"online"`
	// matrix.state and matrix.reason say why a bot is not good.
	State  string `json:"matrix.state,omitempty"`
	Reason string `json:"matrix.reason,omitempty"`
	// matrix.metrics are the bot's counters (get_status only; metrics.BotCounters).
	Metrics map[string]float64 `json:"matrix.metrics,omitempty"`
}

// Face is the OneBot v12 face.
type Face struct {
	version string // the gateway's version, in connect events
}

var (
	_ face.Face = (*Face)(nil)
	_ face.Meta = (*Face)(nil)
)

// New returns the v12 face of a gateway of the given version.
func New(version string) *Face { return &Face{version: version} }

// Name implements face.Face.
func (*Face) Name() string { return "v12" }

// Encode implements face.Face: v12 needs no lookups (ids is unused).
func (*Face) Encode(ev *model.Event, _ face.IDs) ([]byte, error) { return EncodeEvent(ev) }

// MarkReplayed adds "matrix.replayed": true.
func (*Face) MarkReplayed(frame []byte) []byte { return face.MarkField(frame, replayedField) }

// EncodeEvent renders ev in v12 form; nil for kinds v12 has no form for.
func EncodeEvent(ev *model.Event) ([]byte, error) {
	switch ev.Kind {
	case model.KindMember, model.KindDelete, model.KindReaction, model.KindEdit, model.KindTyping, model.KindReceipt, model.KindInvite:
		return encodeNotice(ev) // notices.go
	case model.KindMessage:
		return encodeMessage(ev) // encode.go
	}
	return nil, nil
}

// MessageEvent is a message event in v12 form; matrix.get_message returns the same object.
// encodeMessage (encode.go) writes the same JSON without it: a field added here goes there too
// (TestEncodeMessageIsEncodingJSON compares them).
func MessageEvent(ev *model.Event) *Event {
	m := ev.Message
	out := &Event{
		ID: ev.ID, Time: Time(ev.Time), Type: "message", Self: &Self{Platform: model.Platform, UserID: string(ev.Self)},
		MessageID: string(m.EventID), Message: EncodeSegments(m.Segments), AltMessage: &m.Plain,
		UserID: string(m.Sender), RoomID: string(m.RoomID), MsgType: m.MsgType,
	}
	if m.Direct {
		out.DetailType = "private"
	} else {
		out.DetailType = "group"
		out.GroupID = string(m.RoomID)
		out.Role = string(m.SenderRole)
		if out.Role == "" {
			out.Role = string(model.RoleMember)
		}
	}
	return out
}

func newMeta(detail string) Event {
	return Event{ID: face.NewEventID(), Time: Time(time.Now()), Type: "meta", DetailType: detail}
}

// Hello implements face.Meta: connect, then the status of the bots the connection sees.
func (f *Face) Hello(bots []face.Bot) [][]byte {
	ev := newMeta(MetaDetailConnect)
	ev.Version = &VersionInfo{Impl: Impl, Version: f.version, OneBotVersion: ProtocolVersion}
	return [][]byte{face.MustJSON(ev), StatusUpdate(bots)}
}

// Heartbeat implements face.Meta.
func (*Face) Heartbeat(_ []face.Bot, interval time.Duration) []byte {
	ev := newMeta(MetaDetailHeartbeat)
	ev.Interval = interval.Milliseconds()
	return face.MustJSON(ev)
}

// StatusChanged implements face.Meta: every change is a status_update of the bots the
// connection sees.
func (*Face) StatusChanged(bots []face.Bot, _ face.Bot, _, _ bool) []byte { return StatusUpdate(bots) }

// StatusUpdate is a status_update meta event of bots.
func StatusUpdate(bots []face.Bot) []byte {
	ev := newMeta(MetaDetailStatusUpdate)
	ev.Status = StatusOf(bots)
	return face.MustJSON(ev)
}

// StatusOf is the status of bots (get_status, status_update). A pending bot (configured, not
// logged in yet) is offline; one whose user ID is not known yet is listed with user_id "" and a
// reason that names it.
func StatusOf(bots []face.Bot) *Status {
	st := &Status{Good: true, Bots: []BotState{}}
	for _, b := range bots {
		bs := b.Bot.Status()
		online, reason := bs.Online(), bs.Reason
		if b.Pending {
			online = false
			if b.Bot.UserID() == "" {
				reason = face.Label(b.Bot) + " has not logged in yet: " + face.PendingReason(b.Bot)
			}
		}
		if !bs.Good() || !online {
			st.Good = false
		}
		st.Bots = append(st.Bots, BotState{
			Self:   Self{Platform: model.Platform, UserID: string(b.Bot.UserID())},
			Online: online, State: string(bs.State), Reason: reason,
		})
	}
	return st
}
