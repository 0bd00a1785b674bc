package v11

import (
	"fmt"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// OneBot v11 notices and requests for the event kinds of model/events.go: go-cqhttp's
// group_increase/group_decrease, friend_add, group_recall/friend_recall, request.group (invite)
// and request.friend; Matrix extensions as notice types matrix_*. Every one carries the Matrix
// IDs too (matrix_room_id, matrix_event_id, …), as v11 numbers hide them.

type notice struct {
	Time        int64  `json:"time"`
	SelfID      int64  `json:"self_id"`
	PostType    string `json:"post_type"`
	NoticeType  string `json:"notice_type,omitempty"`
	RequestType string `json:"request_type,omitempty"`
	SubType     string `json:"sub_type,omitempty"`
	GroupID     int64  `json:"group_id,omitempty"`
	UserID      int64  `json:"user_id"`
	OperatorID  int64  `json:"operator_id,omitempty"`
	MessageID   int32  `json:"message_id,omitempty"`
	// requests
	Comment *string `json:"comment,omitempty"`
	Flag    string  `json:"flag,omitempty"`
	// matrix_reaction
	Key string `json:"key,omitempty"`
	// matrix_message_edit
	Message    any    `json:"message,omitempty"`
	RawMessage string `json:"raw_message,omitempty"`
	// matrix_typing
	UserIDs *[]int64 `json:"user_ids,omitempty"`
	// matrix_receipt
	ReceiptType string `json:"receipt_type,omitempty"`
	// Matrix IDs and extras
	RoomID         string    `json:"matrix_room_id,omitempty"`
	EventID        string    `json:"matrix_event_id,omitempty"`
	TargetEventID  string    `json:"matrix_target_event_id,omitempty"`
	MatrixUserID   string    `json:"matrix_user_id,omitempty"`
	MatrixOperator string    `json:"matrix_operator_id,omitempty"`
	Membership     string    `json:"matrix_membership,omitempty"`
	Reason         string    `json:"matrix_reason,omitempty"`
	GroupName      string    `json:"matrix_group_name,omitempty"`
	MsgType        string    `json:"matrix_msgtype,omitempty"`
	MatrixUserIDs  *[]string `json:"matrix_user_ids,omitempty"`
}

// mapper reads the numbers of a notice's Matrix IDs, keeping the first error.
type mapper struct {
	n   Numbers
	err error
}

func (m *mapper) keep(v int64, err error) int64 {
	if err != nil && m.err == nil {
		m.err = err
	}
	return v
}

func (m *mapper) user(u id.UserID) int64 { return m.keep(m.n.User(u)) }
func (m *mapper) room(r id.RoomID) int64 { return m.keep(m.n.Room(r)) }
func (m *mapper) msg(e id.EventID) int32 { return int32(m.keep(m.n.Event(e))) }
func (m *mapper) group(r id.RoomID, direct bool) int64 {
	if direct {
		return 0
	}
	return m.room(r)
}

// encodeNotice encodes every kind except messages, from the numbers Resolve found.
func encodeNotice(nums Numbers, ev *model.Event, stringFormat bool) ([]byte, error) {
	m := &mapper{n: nums}
	n := notice{Time: ev.Time.Unix(), SelfID: nums.SelfID, PostType: "notice"}
	switch ev.Kind {
	case model.KindMember:
		c := ev.Member
		n.UserID, n.MatrixUserID, n.RoomID, n.EventID = m.user(c.UserID), string(c.UserID), string(c.RoomID), string(c.EventID)
		if c.Direct {
			n.NoticeType = "matrix_friend_decrease"
			if c.Increase() {
				n.NoticeType = "friend_add"
			}
			break
		}
		n.GroupID, n.OperatorID, n.MatrixOperator = m.room(c.RoomID), m.user(c.Operator), string(c.Operator)
		switch c.Change {
		case model.MemberJoin:
			n.NoticeType, n.SubType = "group_increase", "approve"
		case model.MemberInvite:
			n.NoticeType, n.SubType = "group_increase", "invite"
		case model.MemberLeave:
			n.NoticeType, n.SubType = "group_decrease", "leave"
		default: // kick, ban
			n.NoticeType, n.SubType = "group_decrease", "kick"
			if c.UserID == ev.Self {
				n.SubType = "kick_me"
			}
			if c.Change == model.MemberBan {
				n.Membership = "ban"
			}
		}
	case model.KindDelete:
		d := ev.Delete
		n.UserID, n.MessageID, n.MatrixUserID = m.user(d.Sender), m.msg(d.MessageID), string(d.Sender)
		n.RoomID, n.EventID, n.TargetEventID, n.Reason = string(d.RoomID), string(d.EventID), string(d.MessageID), d.Reason
		if d.Direct {
			n.NoticeType = "friend_recall"
		} else {
			n.NoticeType = "group_recall"
			n.GroupID, n.OperatorID, n.MatrixOperator = m.room(d.RoomID), m.user(d.Operator), string(d.Operator)
		}
	case model.KindReaction:
		r := ev.Reaction
		n.NoticeType, n.Key = "matrix_reaction", r.Key
		n.GroupID, n.UserID, n.MessageID = m.group(r.RoomID, r.Direct), m.user(r.Sender), m.msg(r.Target)
		n.RoomID, n.EventID, n.TargetEventID, n.MatrixUserID = string(r.RoomID), string(r.EventID), string(r.Target), string(r.Sender)
	case model.KindEdit:
		e := ev.Edit
		n.NoticeType, n.MsgType = "matrix_message_edit", e.MsgType
		n.GroupID, n.UserID, n.MessageID = m.group(e.RoomID, e.Direct), m.user(e.Sender), m.msg(e.Target)
		n.RoomID, n.EventID, n.TargetEventID, n.MatrixUserID = string(e.RoomID), string(e.EventID), string(e.Target), string(e.Sender)
		if m.err == nil {
			segs, err := ToSegments(nums, e.Segments)
			if err != nil {
				return nil, err
			}
			n.Message, n.RawMessage = segs, SegmentsToCQ(segs)
		}
	case model.KindTyping:
		t := ev.Typing
		n.NoticeType, n.GroupID, n.RoomID = "matrix_typing", m.group(t.RoomID, t.Direct), string(t.RoomID)
		nums, names := make([]int64, len(t.UserIDs)), make([]string, len(t.UserIDs))
		for i, u := range t.UserIDs {
			nums[i], names[i] = m.user(u), string(u)
		}
		n.UserIDs, n.MatrixUserIDs = &nums, &names
	case model.KindReceipt:
		r := ev.Receipt
		n.NoticeType, n.ReceiptType = "matrix_receipt", r.Type
		n.GroupID, n.UserID, n.MessageID = m.group(r.RoomID, r.Direct), m.user(r.UserID), m.msg(r.EventID)
		n.RoomID, n.TargetEventID, n.MatrixUserID = string(r.RoomID), string(r.EventID), string(r.UserID)
	case model.KindInvite:
		inv := ev.Invite
		comment := ""
		n.PostType, n.Comment, n.Flag = "request", &comment, string(inv.RoomID)
		n.UserID, n.MatrixUserID, n.RoomID, n.GroupName = m.user(inv.Inviter), string(inv.Inviter), string(inv.RoomID), inv.RoomName
		if inv.Direct {
			n.RequestType = "friend"
		} else {
			n.RequestType, n.SubType, n.GroupID = "group", "invite", m.room(inv.RoomID)
		}
	default:
		return nil, fmt.Errorf("event kind %q has no v11 form", ev.Kind)
	}
	if m.err != nil {
		return nil, m.err
	}
	if stringFormat && n.Message != nil {
		n.Message = n.RawMessage
	}
	return face.Marshal(n)
}
