package v12

import (
	"fmt"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// OneBot v12 notices and requests for the event kinds of model/events.go. Standard detail types
// where v12 has one (group_member_increase/decrease, friend_increase/decrease,
// group/private_message_delete); the rest are extensions named matrix.*.

// notice is a notice or request event. Fields that a detail type does not use stay empty.
type notice struct {
	ID         string  `json:"id"`
	Time       float64 `json:"time"`
	Type       string  `json:"type"`
	DetailType string  `json:"detail_type"`
	SubType    string  `json:"sub_type"`
	Self       *Self   `json:"self"`
	GroupID    string  `json:"group_id,omitempty"`
	UserID     string  `json:"user_id,omitempty"`
	OperatorID string  `json:"operator_id,omitempty"`
	MessageID  string  `json:"message_id,omitempty"`
	// matrix.reaction
	Key        string `json:"key,omitempty"`
	ReactionID string `json:"reaction_id,omitempty"`
	// matrix.message_edit
	EditID     string    `json:"edit_id,omitempty"`
	Message    []Segment `json:"message,omitempty"`
	AltMessage *string   `json:"alt_message,omitempty"`
	// matrix.typing
	UserIDs *[]string `json:"user_ids,omitempty"`
	// matrix.receipt
	ReceiptType string `json:"receipt_type,omitempty"`
	// matrix.invite
	GroupName *string `json:"group_name,omitempty"`
	IsDirect  *bool   `json:"is_direct,omitempty"`
	// Matrix extension fields of standard detail types.
	RoomID     string `json:"matrix.room_id,omitempty"`
	EventID    string `json:"matrix.event_id,omitempty"`
	Membership string `json:"matrix.membership,omitempty"`
	Reason     string `json:"matrix.reason,omitempty"`
	MsgType    string `json:"matrix.msgtype,omitempty"`
}

func newNotice(ev *model.Event, typ, detail, sub string) notice {
	return notice{
		ID: ev.ID, Time: Time(ev.Time), Type: typ, DetailType: detail, SubType: sub,
		Self: &Self{Platform: model.Platform, UserID: string(ev.Self)},
	}
}

// where fills group_id for a room, or user_id (the other party) for a direct room.
func (n *notice) where(room string, direct bool, other string) {
	n.RoomID = room
	if direct {
		n.UserID = other
	} else {
		n.GroupID = room
	}
}

// encodeNotice encodes every kind except messages.
func encodeNotice(ev *model.Event) ([]byte, error) {
	var n notice
	switch ev.Kind {
	case model.KindMember:
		m := ev.Member
		if m.Direct {
			detail := "friend_decrease"
			if m.Increase() {
				detail = "friend_increase"
			}
			n = newNotice(ev, "notice", detail, "")
			n.UserID, n.RoomID = string(m.UserID), string(m.RoomID)
			break
		}
		detail, sub := "group_member_decrease", "kick"
		switch m.Change {
		case model.MemberJoin:
			detail, sub = "group_member_increase", "join"
		case model.MemberInvite:
			detail, sub = "group_member_increase", "invite"
		case model.MemberLeave:
			sub = "leave"
		}
		n = newNotice(ev, "notice", detail, sub)
		n.GroupID, n.UserID, n.OperatorID = string(m.RoomID), string(m.UserID), string(m.Operator)
		n.RoomID, n.EventID = string(m.RoomID), string(m.EventID)
		if m.Change == model.MemberBan {
			n.Membership = "ban"
		}
	case model.KindDelete:
		d := ev.Delete
		if d.Direct {
			n = newNotice(ev, "notice", "private_message_delete", "")
			n.UserID = string(d.Sender)
		} else {
			sub := "delete"
			if d.Operator == d.Sender {
				sub = "recall"
			}
			n = newNotice(ev, "notice", "group_message_delete", sub)
			n.GroupID, n.UserID, n.OperatorID = string(d.RoomID), string(d.Sender), string(d.Operator)
		}
		n.MessageID, n.RoomID, n.EventID, n.Reason = string(d.MessageID), string(d.RoomID), string(d.EventID), d.Reason
	case model.KindReaction:
		r := ev.Reaction
		n = newNotice(ev, "notice", "matrix.reaction", "")
		n.where(string(r.RoomID), r.Direct, string(r.Sender))
		n.UserID = string(r.Sender)
		n.MessageID, n.Key, n.ReactionID = string(r.Target), r.Key, string(r.EventID)
	case model.KindEdit:
		e := ev.Edit
		n = newNotice(ev, "notice", "matrix.message_edit", "")
		n.where(string(e.RoomID), e.Direct, string(e.Sender))
		n.UserID = string(e.Sender)
		n.MessageID, n.EditID, n.Message, n.MsgType = string(e.Target), string(e.EventID), EncodeSegments(e.Segments), e.MsgType
		plain := e.Plain
		n.AltMessage = &plain
	case model.KindTyping:
		t := ev.Typing
		n = newNotice(ev, "notice", "matrix.typing", "")
		n.RoomID = string(t.RoomID)
		if !t.Direct {
			n.GroupID = string(t.RoomID)
		}
		users := make([]string, len(t.UserIDs))
		for i, u := range t.UserIDs {
			users[i] = string(u)
		}
		n.UserIDs = &users
	case model.KindReceipt:
		r := ev.Receipt
		n = newNotice(ev, "notice", "matrix.receipt", "")
		n.where(string(r.RoomID), r.Direct, string(r.UserID))
		n.UserID, n.MessageID, n.ReceiptType = string(r.UserID), string(r.EventID), r.Type
	case model.KindInvite:
		inv := ev.Invite
		n = newNotice(ev, "request", "matrix.invite", "")
		name, direct := inv.RoomName, inv.Direct
		n.GroupID, n.UserID, n.RoomID, n.GroupName, n.IsDirect = string(inv.RoomID), string(inv.Inviter), string(inv.RoomID), &name, &direct
	default:
		return nil, fmt.Errorf("event kind %q has no v12 form", ev.Kind)
	}
	return face.Marshal(n)
}
