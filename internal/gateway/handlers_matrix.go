package gateway

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// Invite answers (v11 set_group_add_request / set_friend_add_request, v12 matrix.accept_invite /
// matrix.decline_invite) and the Matrix extras matrix.* of v12.

// --- invites -----------------------------------------------------------------------------

// v11FriendRequestParams are set_friend_add_request's params (a direct-room invite).
type v11FriendRequestParams struct {
	Flag    string    `json:"flag"`
	Approve *flexBool `json:"approve,omitempty"`
	Reason  string    `json:"reason,omitempty"` // of a decline
}

// v11AddRequestParams are set_group_add_request's params.
type v11AddRequestParams struct {
	v11FriendRequestParams
	SubType string `json:"sub_type,omitempty"`
	Type    string `json:"type,omitempty"` // go-cqhttp's older name of sub_type
}

// v11Answer answers an invite: flag is the room ID from the request event; approve defaults to true.
func v11Answer(c *call, p v11FriendRequestParams) (*noData, error) {
	if !validRoomID(p.Flag) {
		return nil, model.Errorf(model.ErrBadParam, "flag must be the flag of a request event (a Matrix room ID)")
	}
	accept := p.Approve == nil || bool(*p.Approve)
	return nil, c.bot.bot.AnswerInvite(c.ctx, id.RoomID(p.Flag), accept, p.Reason)
}

func v11SetGroupAddRequest(c *call, p v11AddRequestParams) (*noData, error) {
	sub := p.SubType
	if sub == "" {
		sub = p.Type
	}
	if sub != "" && sub != "invite" {
		return nil, model.Errorf(model.ErrBadParam, "sub_type %q: only invite requests exist on Matrix", sub)
	}
	return v11Answer(c, p.v11FriendRequestParams)
}

func v11SetFriendAddRequest(c *call, p v11FriendRequestParams) (*noData, error) {
	return v11Answer(c, p)
}

// v12DeclineParams are matrix.decline_invite's params.
type v12DeclineParams struct {
	GroupID string `json:"group_id"`
	Reason  string `json:"reason,omitempty"`
}

func v12AcceptInvite(c *call, p v12GroupParams) (*noData, error) {
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.AnswerInvite(c.ctx, room, true, "")
}

func v12DeclineInvite(c *call, p v12DeclineParams) (*noData, error) {
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.AnswerInvite(c.ctx, room, false, p.Reason)
}

// --- members -----------------------------------------------------------------------------

// roomAndUser checks the Matrix IDs of {group_id, user_id}.
func roomAndUser(groupID, userID string) (id.RoomID, id.UserID, error) {
	room, err := v12Room(groupID)
	if err != nil {
		return "", "", err
	}
	u, err := v12User(userID, "user_id")
	if err != nil {
		return "", "", err
	}
	return room, u, nil
}

func v12Kick(c *call, p v12MemberParams) (*noData, error) {
	room, u, err := roomAndUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.Kick(c.ctx, room, u, p.Reason)
}

func v12Ban(c *call, p v12MemberParams) (*noData, error) {
	room, u, err := roomAndUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.Ban(c.ctx, room, u, p.Reason)
}

func v12Unban(c *call, p v12MemberRefParams) (*noData, error) {
	room, u, err := roomAndUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.Unban(c.ctx, room, u)
}

func v12Invite(c *call, p v12MemberParams) (*noData, error) {
	room, u, err := roomAndUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.Invite(c.ctx, room, u, p.Reason)
}

// --- messages and rooms ------------------------------------------------------------------

type v12ReactParams struct {
	MessageID string `json:"message_id"`
	GroupID   string `json:"group_id,omitempty"` // optional when the gateway saw the message
	Key       string `json:"key"`
	// Encrypted sends the reaction encrypted in an encrypted room (default GATEWAY_ENCRYPT_REACTIONS).
	Encrypted *flexBool `json:"encrypted,omitempty"`
	// An idempotency key: a retry with the same key reacts once (idempotency.go).
	TxnID txnKey `json:"txn_id,omitempty"`
}

func v12React(c *call, p v12ReactParams) (*v12Sent, error) {
	msg, err := v12Msg(p.MessageID)
	if err != nil {
		return nil, err
	}
	if p.Key == "" {
		return nil, model.Errorf(model.ErrBadParam, "key is required: the emoji or text of the reaction")
	}
	var room id.RoomID
	if p.GroupID != "" {
		if room, err = v12Room(p.GroupID); err != nil {
			return nil, err
		}
	}
	opts := model.ReactOptions{Encrypted: (*bool)(p.Encrypted)}
	if opts.Idempotency, err = idempotencyOf("txn_id", p.TxnID, []any{room, msg, p.Key, p.Encrypted}); err != nil {
		return nil, err
	}
	sent, err := c.bot.bot.React(c.ctx, room, msg, p.Key, opts)
	if err != nil {
		return nil, err
	}
	return &v12Sent{MessageID: string(sent.EventID), Time: ob12.Time(sent.Time)}, nil
}

type v12TypingParams struct {
	GroupID string    `json:"group_id"`
	Typing  *flexBool `json:"typing,omitempty"`  // default true
	Timeout *flexInt  `json:"timeout,omitempty"` // milliseconds, default 30000
}

func v12SetTyping(c *call, p v12TypingParams) (*noData, error) {
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	typing := p.Typing == nil || bool(*p.Typing)
	timeout := 30 * time.Second
	if p.Timeout != nil {
		if *p.Timeout <= 0 || *p.Timeout > 600000 {
			return nil, model.Errorf(model.ErrBadParam, "timeout must be between 1 and 600000 milliseconds")
		}
		timeout = time.Duration(*p.Timeout) * time.Millisecond
	}
	return nil, c.bot.bot.SetTyping(c.ctx, room, typing, timeout)
}

func v12MarkRead(c *call, p v12MarkReadParams) (*noData, error) {
	msg, err := v12Msg(p.MessageID)
	if err != nil {
		return nil, err
	}
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.MarkRead(c.ctx, room, msg)
}

type v12JoinParams struct {
	Room string `json:"room"` // a room ID or an alias
}

// v12RoomResult answers matrix.join_room and matrix.create_room. Result types: their fields are in
// the order of their JSON names, so that they marshal as the maps they were.
type v12RoomResult struct {
	GroupID string `json:"group_id"`
}

func v12JoinRoom(c *call, p v12JoinParams) (*v12RoomResult, error) {
	if len(p.Room) < 2 || (p.Room[0] != '!' && p.Room[0] != '#') {
		return nil, model.Errorf(model.ErrBadParam, "room must be a room ID (!abc:example.org) or an alias (#name:example.org)")
	}
	room, err := c.bot.bot.JoinRoom(c.ctx, p.Room)
	if err != nil {
		return nil, err
	}
	return &v12RoomResult{GroupID: string(room)}, nil
}

type v12CreateRoomParams struct {
	Name          string   `json:"name,omitempty"`
	Topic         string   `json:"topic,omitempty"`
	RoomAliasName string   `json:"room_alias_name,omitempty"`
	Invite        []string `json:"invite,omitempty"`
	IsDirect      flexBool `json:"is_direct,omitempty"`
	Preset        string   `json:"preset,omitempty"`
	Visibility    string   `json:"visibility,omitempty"`
	// Encrypted: absent = encrypted when the bot does end-to-end encryption.
	Encrypted *flexBool `json:"encrypted,omitempty"`
}

func v12CreateRoom(c *call, p v12CreateRoomParams) (*v12RoomResult, error) {
	req := model.CreateRoom{Name: p.Name, Topic: p.Topic, Alias: p.RoomAliasName, IsDirect: bool(p.IsDirect), Preset: p.Preset,
		Visibility: p.Visibility, Encrypted: (*bool)(p.Encrypted)}
	for i, u := range p.Invite {
		uid, err := v12User(u, "invite["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		req.Invite = append(req.Invite, uid)
	}
	switch req.Preset {
	case "", "private_chat", "public_chat", "trusted_private_chat":
	default:
		return nil, model.Errorf(model.ErrBadParam, "preset must be private_chat, public_chat or trusted_private_chat")
	}
	switch req.Visibility {
	case "", "private", "public":
	default:
		return nil, model.Errorf(model.ErrBadParam, "visibility must be private or public")
	}
	room, err := c.bot.bot.CreateRoom(c.ctx, req)
	if err != nil {
		return nil, err
	}
	return &v12RoomResult{GroupID: string(room)}, nil
}

// v12StateParams are matrix.send_state_event's params.
type v12StateParams struct {
	GroupID   string          `json:"group_id"`
	EventType string          `json:"event_type"`
	StateKey  string          `json:"state_key,omitempty"`
	Content   json.RawMessage `json:"content"`
}

// v12GetStateParams are matrix.get_room_state's params: no event_type = the whole state.
type v12GetStateParams struct {
	GroupID   string `json:"group_id"`
	EventType string `json:"event_type,omitempty"`
	StateKey  string `json:"state_key,omitempty"`
}

// v12RoomState answers matrix.get_room_state: the whole state (events), or one event's content.
type v12RoomState struct {
	Content json.RawMessage `json:"content,omitempty"`
	Events  json.RawMessage `json:"events,omitempty"`
}

func v12GetRoomState(c *call, p v12GetStateParams) (*v12RoomState, error) {
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	raw, err := rawAPI(c)
	if err != nil {
		return nil, err
	}
	state, err := raw.RoomState(c.ctx, room, p.EventType, p.StateKey)
	if err != nil {
		return nil, err
	}
	if p.EventType == "" {
		return &v12RoomState{Events: state}, nil
	}
	return &v12RoomState{Content: state}, nil
}

// v12StateSent answers matrix.send_state_event.
type v12StateSent struct {
	EventID string `json:"event_id"`
}

func v12SendStateEvent(c *call, p v12StateParams) (*v12StateSent, error) {
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	if p.EventType == "" {
		return nil, model.Errorf(model.ErrBadParam, "event_type is required, e.g. m.room.topic")
	}
	if c := bytes.TrimSpace(p.Content); len(c) == 0 || c[0] != '{' {
		return nil, model.Errorf(model.ErrBadParam, "content must be a JSON object")
	}
	raw, err := rawAPI(c)
	if err != nil {
		return nil, err
	}
	evt, err := raw.SendState(c.ctx, room, p.EventType, p.StateKey, p.Content)
	if err != nil {
		return nil, err
	}
	return &v12StateSent{EventID: string(evt)}, nil
}

// rawAPI is the bot's direct access to room state and the Client-Server API (model.RawAPI).
func rawAPI(c *call) (model.RawAPI, error) {
	raw, ok := model.As[model.RawAPI](c.bot.bot)
	if !ok {
		return nil, protoErr(v12UnsupportedAction, v11UnsupportedAction, "this bot has no direct access to the Matrix API")
	}
	return raw, nil
}

type v12RawParams struct {
	Method string            `json:"method,omitempty"`
	Path   string            `json:"path"`
	Query  map[string]string `json:"query,omitempty"`
	Body   json.RawMessage   `json:"body,omitempty"`
}

// v12RawResult answers matrix.raw_request: the homeserver's status and JSON answer.
type v12RawResult struct {
	Body   json.RawMessage `json:"body"`
	Status int             `json:"status"`
}

func v12RawRequest(c *call, p v12RawParams) (*v12RawResult, error) {
	body := bytes.TrimSpace(p.Body)
	if bytes.Equal(body, []byte("null")) {
		body = nil
	}
	raw, err := rawAPI(c)
	if err != nil {
		return nil, err
	}
	resp, err := raw.RawRequest(c.ctx, model.RawRequest{Method: p.Method, Path: p.Path, Query: p.Query, Body: body})
	if err != nil {
		return nil, err
	}
	return &v12RawResult{Status: resp.Status, Body: resp.Body}, nil
}
