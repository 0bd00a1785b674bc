package gateway

import (
	"encoding/json"
	"time"

	"github.com/matrix-onebot/gateway/internal/model"
)

// OneBot v12 retcodes (specs: "动作响应" / retcode table).
const (
	v12OK                   = 0
	v12BadRequest           = 10001
	v12UnsupportedAction    = 10002
	v12BadParam             = 10003
	v12UnsupportedParam     = 10004
	v12UnsupportedSegment   = 10005
	v12BadSegmentData       = 10006
	v12WhoAmI               = 10101
	v12UnknownSelf          = 10102
	v12InternalHandler      = 20002
	v12NetworkError         = 33001 // homeserver unreachable
	v12PlatformRefused      = 34001 // the homeserver refused; message carries the Matrix errcode
	v12BotOffline           = 34002 // the bot has no working Matrix session
	v12NotFound             = 35001 // the message, user or room asked for is unknown
	v12Gone                 = 35002 // the message asked for was redacted (deleted) or is past its retention
	v12FileTooLarge         = 32001 // a file exceeds GATEWAY_MEDIA_MAX_SIZE
	v12FileSource           = 32002 // a file could not be read from the given source
	v12RateLimited          = 36001 // the homeserver asked us to slow down
	v12ProtocolVersion      = "12"
	v12MetaDetailConnect    = "connect"
	v12MetaDetailHeartbeat  = "heartbeat"
	v12MetaDetailStatusUpdt = "status_update"
)

type v12Self struct {
	Platform string `json:"platform"`
	UserID   string `json:"user_id"`
}

// v12Time is the float seconds that v12 uses for `time`.
func v12Time(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

type v12Event struct {
	ID         string          `json:"id"`
	Time       float64         `json:"time"`
	Type       string          `json:"type"`
	DetailType string          `json:"detail_type"`
	SubType    string          `json:"sub_type"`
	Self       *v12Self        `json:"self,omitempty"`
	MessageID  string          `json:"message_id,omitempty"`
	Message    []model.Segment `json:"message,omitempty"`
	AltMessage *string         `json:"alt_message,omitempty"`
	UserID     string          `json:"user_id,omitempty"`
	GroupID    string          `json:"group_id,omitempty"`
	// Matrix extensions (v12 extension fields use the platform prefix).
	RoomID  string `json:"matrix.room_id,omitempty"`
	MsgType string `json:"matrix.msgtype,omitempty"`
	Role    string `json:"matrix.role,omitempty"` // group messages: the sender's role (owner, admin, member)
	// meta events
	Version  *v12VersionInfo `json:"version,omitempty"`
	Status   *v12Status      `json:"status,omitempty"`
	Interval int64           `json:"interval,omitempty"`
}

type v12VersionInfo struct {
	Impl          string `json:"impl"`
	Version       string `json:"version"`
	OneBotVersion string `json:"onebot_version"`
}

type v12Status struct {
	Good bool          `json:"good"`
	Bots []v12BotState `json:"bots"`
}

type v12BotState struct {
	Self   v12Self `json:"self"`
	Online bool    `json:"online"`
	// matrix.state and matrix.reason say why a bot is not good.
	State  string `json:"matrix.state,omitempty"`
	Reason string `json:"matrix.reason,omitempty"`
	// matrix.metrics are the bot's counters (get_status only; metrics.BotCounters).
	Metrics map[string]float64 `json:"matrix.metrics,omitempty"`
}

func encodeV12Event(ev *model.Event) ([]byte, error) {
	switch ev.Kind {
	case model.KindMember, model.KindDelete, model.KindReaction, model.KindEdit, model.KindTyping, model.KindReceipt, model.KindInvite:
		return encodeV12Notice(ev) // events_v12.go
	case model.KindMessage:
		return marshal(v12MessageEvent(ev))
	}
	return nil, nil
}

// v12MessageEvent is a message event in v12 form; matrix.get_message returns the same object.
func v12MessageEvent(ev *model.Event) *v12Event {
	m := ev.Message
	out := &v12Event{
		ID: ev.ID, Time: v12Time(ev.Time), Type: "message", Self: &v12Self{Platform: model.Platform, UserID: string(ev.Self)},
		MessageID: string(m.EventID), Message: v12Segments(m.Segments), AltMessage: &m.Plain,
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

// v12Segments never returns nil, so that an empty message is [] and not null.
func v12Segments(segs []model.Segment) []model.Segment {
	if segs == nil {
		return []model.Segment{}
	}
	return segs
}

func newV12Meta(detail string) v12Event {
	return v12Event{ID: newEventID(), Time: v12Time(time.Now()), Type: "meta", DetailType: detail}
}

func (h *Hub) v12Connect() []byte {
	ev := newV12Meta(v12MetaDetailConnect)
	ev.Version = &v12VersionInfo{Impl: Impl, Version: h.opts.Version, OneBotVersion: v12ProtocolVersion}
	return mustJSON(ev)
}

// v12StatusData is the status of every bot, or of only that one when only is not nil (a
// connection limited to one bot never learns of the others).
func (h *Hub) v12StatusData(only *botEntry) *v12Status {
	st := &v12Status{Good: true, Bots: []v12BotState{}}
	var bots []model.Bot
	if only == nil {
		// Bots that have not joined the hub yet (e.g. failing to start) are listed offline; one
		// whose user ID is not known yet (it learns it by logging in) with user_id "" and a
		// reason that names it.
		bots = h.expectedBots()
	}
	pending := len(bots) // the first ones have not joined: never online
	for _, b := range h.botList() {
		if only != nil && b != only {
			continue
		}
		bots = append(bots, b.bot)
	}
	for i, b := range bots {
		bs := b.Status()
		online, reason := bs.Online(), bs.Reason
		if i < pending {
			online = false
			if b.UserID() == "" {
				reason = botLabel(b) + " has not logged in yet: " + pendingReason(b)
			}
		}
		if !bs.Good() || !online {
			st.Good = false
		}
		st.Bots = append(st.Bots, v12BotState{
			Self:   v12Self{Platform: model.Platform, UserID: string(b.UserID())},
			Online: online, State: string(bs.State), Reason: reason,
		})
	}
	return st
}

func (h *Hub) v12StatusUpdate() []byte { return h.v12StatusUpdateFor(nil) }

// v12StatusUpdateFor is a status_update of one bot (only), or of all when only is nil.
func (h *Hub) v12StatusUpdateFor(only *botEntry) []byte {
	ev := newV12Meta(v12MetaDetailStatusUpdt)
	ev.Status = h.v12StatusData(only)
	return mustJSON(ev)
}

func (h *Hub) v12Heartbeat() []byte {
	ev := newV12Meta(v12MetaDetailHeartbeat)
	ev.Interval = h.opts.HeartbeatInterval.Milliseconds()
	return mustJSON(ev)
}

// v12Request is an action request.
type v12Request struct {
	Action string          `json:"action"`
	Params json.RawMessage `json:"params"`
	Echo   json.RawMessage `json:"echo,omitempty"`
	Self   *v12Self        `json:"self,omitempty"`
}

// v12Response always carries status, retcode, data and message; echo when the request had one.
type v12Response struct {
	Status  string          `json:"status"`
	Retcode int             `json:"retcode"`
	Data    any             `json:"data"`
	Message string          `json:"message"`
	Echo    json.RawMessage `json:"echo,omitempty"`
}
