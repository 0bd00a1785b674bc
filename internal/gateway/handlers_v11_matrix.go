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
	Reason  string  `json:"reason"`
}

// v11MemberAction runs a member action (kick, ban, unban, invite) on the Matrix IDs of the numbers.
func v11MemberAction(do func(c *call, p v12MemberParams) (any, error)) func(c *call, p v11MemberActionParams) (any, error) {
	return func(c *call, p v11MemberActionParams) (any, error) {
		room, u, err := c.v11RoomUser(p.GroupID, p.UserID)
		if err != nil {
			return nil, err
		}
		return do(c, v12MemberParams{GroupID: string(room), UserID: string(u), Reason: p.Reason})
	}
}

func memberKick(c *call, p v12MemberParams) (any, error) {
	return nil, c.bot.bot.Kick(c.ctx, id.RoomID(p.GroupID), id.UserID(p.UserID), p.Reason)
}

func memberBan(c *call, p v12MemberParams) (any, error) {
	return nil, c.bot.bot.Ban(c.ctx, id.RoomID(p.GroupID), id.UserID(p.UserID), p.Reason)
}

func memberUnban(c *call, p v12MemberParams) (any, error) {
	return nil, c.bot.bot.Unban(c.ctx, id.RoomID(p.GroupID), id.UserID(p.UserID))
}

func memberInvite(c *call, p v12MemberParams) (any, error) {
	return nil, c.bot.bot.Invite(c.ctx, id.RoomID(p.GroupID), id.UserID(p.UserID), p.Reason)
}

type v11ReactParams struct {
	MessageID flexInt   `json:"message_id"`
	Key       string    `json:"key"`
	Encrypted *flexBool `json:"encrypted"`
	TxnID     txnKey    `json:"txn_id"`
}

func v11React(c *call, p v11ReactParams) (any, error) {
	msg, err := c.v11Msg(p.MessageID)
	if err != nil {
		return nil, err
	}
	data, err := v12React(c, v12ReactParams{MessageID: string(msg), Key: p.Key, Encrypted: p.Encrypted, TxnID: p.TxnID})
	if err != nil {
		return nil, err
	}
	return c.v11Numbers(data, "message_id", storage.KindEvent)
}

type v11TypingParams struct {
	GroupID flexInt   `json:"group_id"`
	Typing  *flexBool `json:"typing"`
	Timeout *flexInt  `json:"timeout"`
}

func v11SetTyping(c *call, p v11TypingParams) (any, error) {
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

func v11MarkRead(c *call, p v11MarkReadParams) (any, error) {
	room, err := c.v11Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	msg, err := c.v11Msg(p.MessageID)
	if err != nil {
		return nil, err
	}
	return v12MarkRead(c, v12MessageParams{GroupID: string(room), MessageID: string(msg)})
}

func v11JoinRoom(c *call, p v12JoinParams) (any, error) {
	data, err := v12JoinRoom(c, p)
	if err != nil {
		return nil, err
	}
	return c.v11Numbers(data, "group_id", storage.KindRoom)
}

type v11CreateRoomParams struct {
	Name          string    `json:"name"`
	Topic         string    `json:"topic"`
	RoomAliasName string    `json:"room_alias_name"`
	Invite        []flexInt `json:"invite"` // v11 user numbers
	IsDirect      flexBool  `json:"is_direct"`
	Preset        string    `json:"preset"`
	Visibility    string    `json:"visibility"`
	Encrypted     *flexBool `json:"encrypted"`
}

func v11CreateRoom(c *call, p v11CreateRoomParams) (any, error) {
	p12 := v12CreateRoomParams{Name: p.Name, Topic: p.Topic, RoomAliasName: p.RoomAliasName, IsDirect: p.IsDirect,
		Preset: p.Preset, Visibility: p.Visibility, Encrypted: p.Encrypted}
	for _, n := range p.Invite {
		u, err := c.v11User(n)
		if err != nil {
			return nil, err
		}
		p12.Invite = append(p12.Invite, string(u))
	}
	data, err := v12CreateRoom(c, p12)
	if err != nil {
		return nil, err
	}
	return c.v11Numbers(data, "group_id", storage.KindRoom)
}

type v11StateParams struct {
	GroupID   flexInt         `json:"group_id"`
	EventType string          `json:"event_type"`
	StateKey  string          `json:"state_key"`
	Content   json.RawMessage `json:"content"`
}

func (p v11StateParams) v12(c *call) (v12StateParams, error) {
	room, err := c.v11Room(p.GroupID)
	return v12StateParams{GroupID: string(room), EventType: p.EventType, StateKey: p.StateKey, Content: p.Content}, err
}

func v11GetRoomState(c *call, p v11StateParams) (any, error) {
	p12, err := p.v12(c)
	if err != nil {
		return nil, err
	}
	return v12GetRoomState(c, p12)
}

func v11SendStateEvent(c *call, p v11StateParams) (any, error) {
	p12, err := p.v12(c)
	if err != nil {
		return nil, err
	}
	return v12SendStateEvent(c, p12)
}

// v11Numbers replaces the Matrix ID under key in a v12 answer by its v11 number and keeps the
// Matrix ID the v11 way (matrix_room_id, matrix_event_id); v11 answers carry no time.
func (c *call) v11Numbers(data any, key string, kind storage.IDKind) (any, error) {
	m, ok := data.(map[string]any)
	if !ok {
		return data, nil
	}
	s, _ := m[key].(string)
	n, err := c.v11Num(kind, s)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for k, v := range m {
		if k != "time" { // v11 answers carry no time
			out[k] = v
		}
	}
	if kind == storage.KindEvent {
		out[key] = int32(n)
		out["matrix_event_id"] = s
	} else {
		out[key] = n
		out["matrix_room_id"] = s
	}
	return out, nil
}
