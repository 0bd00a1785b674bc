package gateway

import (
	"encoding/json"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/storage"
)

// The Matrix extras (matrix.*) in v11 form: the same names as in v12, with v11 numbers for
// rooms (group_id), users (user_id) and messages (message_id), in and out. Each maps the numbers
// to Matrix IDs and runs the v12 handler. Invites are answered with set_group_add_request /
// set_friend_add_request, timed mutes with set_group_ban, and messages read with get_msg.

type v11MemberActionParams struct {
	GroupID flexInt `json:"group_id"`
	UserID  flexInt `json:"user_id"`
	Reason  string  `json:"reason,omitempty"`
}

// v11MemberAction runs a member action (kick, ban, unban, invite) on the Matrix IDs of the numbers.
func v11MemberAction(do func(c *call, p v12MemberParams) (*noData, error)) func(c *call, p v11MemberActionParams) (*noData, error) {
	return func(c *call, p v11MemberActionParams) (*noData, error) {
		room, u, err := c.v11RoomUser(p.GroupID, p.UserID)
		if err != nil {
			return nil, err
		}
		return do(c, v12MemberParams{GroupID: string(room), UserID: string(u), Reason: p.Reason})
	}
}

func memberKick(c *call, p v12MemberParams) (*noData, error) {
	return nil, c.bot.bot.Kick(c.ctx, id.RoomID(p.GroupID), id.UserID(p.UserID), p.Reason)
}

func memberBan(c *call, p v12MemberParams) (*noData, error) {
	return nil, c.bot.bot.Ban(c.ctx, id.RoomID(p.GroupID), id.UserID(p.UserID), p.Reason)
}

func memberUnban(c *call, p v12MemberParams) (*noData, error) {
	return nil, c.bot.bot.Unban(c.ctx, id.RoomID(p.GroupID), id.UserID(p.UserID))
}

func memberInvite(c *call, p v12MemberParams) (*noData, error) {
	return nil, c.bot.bot.Invite(c.ctx, id.RoomID(p.GroupID), id.UserID(p.UserID), p.Reason)
}

type v11ReactParams struct {
	MessageID flexInt   `json:"message_id"`
	Key       string    `json:"key"`
	Encrypted *flexBool `json:"encrypted,omitempty"`
	TxnID     txnKey    `json:"txn_id,omitempty"`
}

// v11Reacted answers matrix.react: the reaction's v11 number and Matrix ID. Result types: their
// fields are in the order of their JSON names, so that they marshal as the maps they were.
type v11Reacted struct {
	MatrixEventID string `json:"matrix_event_id"`
	MessageID     int32  `json:"message_id"`
}

func v11React(c *call, p v11ReactParams) (*v11Reacted, error) {
	msg, err := c.v11Msg(p.MessageID)
	if err != nil {
		return nil, err
	}
	sent, err := v12React(c, v12ReactParams{MessageID: string(msg), Key: p.Key, Encrypted: p.Encrypted, TxnID: p.TxnID})
	if err != nil {
		return nil, err
	}
	n, err := c.v11Num(storage.KindEvent, sent.MessageID)
	if err != nil {
		return nil, err
	}
	return &v11Reacted{MessageID: int32(n), MatrixEventID: sent.MessageID}, nil
}

type v11TypingParams struct {
	GroupID flexInt   `json:"group_id"`
	Typing  *flexBool `json:"typing,omitempty"`
	Timeout *flexInt  `json:"timeout,omitempty"`
}

func v11SetTyping(c *call, p v11TypingParams) (*noData, error) {
	room, err := c.v11Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return v12SetTyping(c, v12TypingParams{GroupID: string(room), Typing: p.Typing, Timeout: p.Timeout})
}

type v11MarkReadParams struct {
	GroupID   flexInt `json:"group_id"`
	MessageID flexInt `json:"message_id"`
}

func v11MarkRead(c *call, p v11MarkReadParams) (*noData, error) {
	room, err := c.v11Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	msg, err := c.v11Msg(p.MessageID)
	if err != nil {
		return nil, err
	}
	return v12MarkRead(c, v12MarkReadParams{GroupID: string(room), MessageID: string(msg)})
}

// v11RoomResult answers matrix.join_room and matrix.create_room: the room's v11 number and
// Matrix ID.
type v11RoomResult struct {
	GroupID      int64  `json:"group_id"`
	MatrixRoomID string `json:"matrix_room_id"`
}

func v11JoinRoom(c *call, p v12JoinParams) (*v11RoomResult, error) {
	return c.v11RoomResult(v12JoinRoom(c, p))
}

// v11RoomResult numbers the room of a v12 answer.
func (c *call) v11RoomResult(r *v12RoomResult, err error) (*v11RoomResult, error) {
	if err != nil {
		return nil, err
	}
	n, err := c.v11Num(storage.KindRoom, r.GroupID)
	if err != nil {
		return nil, err
	}
	return &v11RoomResult{GroupID: n, MatrixRoomID: r.GroupID}, nil
}

type v11CreateRoomParams struct {
	Name          string    `json:"name,omitempty"`
	Topic         string    `json:"topic,omitempty"`
	RoomAliasName string    `json:"room_alias_name,omitempty"`
	Invite        []flexInt `json:"invite,omitempty"` // v11 user numbers
	IsDirect      flexBool  `json:"is_direct,omitempty"`
	Preset        string    `json:"preset,omitempty"`
	Visibility    string    `json:"visibility,omitempty"`
	Encrypted     *flexBool `json:"encrypted,omitempty"`
}

func v11CreateRoom(c *call, p v11CreateRoomParams) (*v11RoomResult, error) {
	p12 := v12CreateRoomParams{Name: p.Name, Topic: p.Topic, RoomAliasName: p.RoomAliasName, IsDirect: p.IsDirect,
		Preset: p.Preset, Visibility: p.Visibility, Encrypted: p.Encrypted}
	for _, n := range p.Invite {
		u, err := c.v11User(n)
		if err != nil {
			return nil, err
		}
		p12.Invite = append(p12.Invite, string(u))
	}
	return c.v11RoomResult(v12CreateRoom(c, p12))
}

// v11StateParams are matrix.send_state_event's params.
type v11StateParams struct {
	GroupID   flexInt         `json:"group_id"`
	EventType string          `json:"event_type"`
	StateKey  string          `json:"state_key,omitempty"`
	Content   json.RawMessage `json:"content"`
}

// v11GetStateParams are matrix.get_room_state's params.
type v11GetStateParams struct {
	GroupID   flexInt `json:"group_id"`
	EventType string  `json:"event_type,omitempty"`
	StateKey  string  `json:"state_key,omitempty"`
}

func v11GetRoomState(c *call, p v11GetStateParams) (*v12RoomState, error) {
	room, err := c.v11Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return v12GetRoomState(c, v12GetStateParams{GroupID: string(room), EventType: p.EventType, StateKey: p.StateKey})
}

func v11SendStateEvent(c *call, p v11StateParams) (*v12StateSent, error) {
	room, err := c.v11Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return v12SendStateEvent(c, v12StateParams{GroupID: string(room), EventType: p.EventType, StateKey: p.StateKey, Content: p.Content})
}
