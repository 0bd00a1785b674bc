package onebot

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// The neutral actions: written once in the v12 form of their params (Matrix IDs as strings);
// the v11 face maps its numbers first and calls them (ob11's thin adapters).

// unixTime is a time as OneBot v12 sends it: seconds, with milliseconds.
func unixTime(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// Sent answers send_message (and matrix.react): the event sent and when. The fields of
// result types are in the order of their JSON names, so that they marshal as the maps they were.
type Sent struct {
	MessageID string  `json:"message_id"`
	Time      float64 `json:"time"`
}

// SendMessage stores the files that media segments name, then sends.
// With an idempotency key, a send that was posted before answers its message at once.
func SendMessage(c *Call, to model.Target, segs []model.Segment, opts model.SendOptions) (model.Sent, error) {
	if opts.Idempotency != nil {
		is, ok := model.As[model.IdempotentSender](c.Bot)
		if !ok {
			return model.Sent{}, ErrUnsupportedParam("this bot cannot send with an idempotency key")
		}
		if sent, done, err := is.SentWithKey(c.Ctx, *opts.Idempotency); err != nil || done {
			return sent, err
		}
	}
	if err := c.Host.ResolveMedia(c.Ctx, segs); err != nil {
		return model.Sent{}, err
	}
	if s, ok := model.As[model.OptionSender](c.Bot); ok {
		return s.SendMessageWith(c.Ctx, to, segs, opts)
	}
	if opts.MsgType != "" || opts.Markdown != nil || opts.Idempotency != nil {
		return model.Sent{}, ErrUnsupportedParam("this bot cannot choose the msgtype or Markdown")
	}
	return c.Bot.SendMessage(c.Ctx, to, segs)
}

// GetMessage asks the bot's message index for a message.
func GetMessage(c *Call, evt id.EventID) (*model.Event, error) {
	g, ok := model.As[model.MessageGetter](c.Bot)
	if !ok {
		return nil, ErrUnsupportedAction("this bot keeps no message index")
	}
	return g.GetMessage(c.Ctx, evt)
}

// JSONPower keeps power levels exact in JavaScript clients: the creators of a version 12 room
// have a power above every number, reported as 2^53-1.
func JSONPower(level int) int64 {
	if level > 1<<53-1 || level == math.MaxInt {
		return 1<<53 - 1
	}
	return int64(level)
}

// MarkReadParams are matrix.mark_read's params.
type MarkReadParams struct {
	GroupID   string `json:"group_id"`
	MessageID string `json:"message_id"`
}

// MemberParams are the params of matrix.kick, matrix.ban and matrix.invite.
type MemberParams struct {
	GroupID string `json:"group_id"`
	UserID  string `json:"user_id"`
	Reason  string `json:"reason,omitempty"`
}

// maxMute is the longest mute, as in QQ and go-cqhttp (30 days); a permanent ban is
// set_group_kick with reject_add_request (v12 matrix.ban).
const maxMute = 30 * 24 * time.Hour

// MuteFor mutes u in room for seconds (0 lifts the mute), the Matrix way (model.Muter).
func MuteFor(c *Call, room id.RoomID, u id.UserID, seconds int64) (*NoData, error) {
	if seconds < 0 || time.Duration(seconds) > maxMute/time.Second {
		return nil, model.Errorf(model.ErrBadParam, "duration must be from 0 (lift the mute) to %d seconds (30 days); "+
			"for a ban, use set_group_kick with reject_add_request (v12 matrix.ban)", int64(maxMute/time.Second))
	}
	m, ok := model.As[model.Muter](c.Bot)
	if !ok {
		return nil, ErrUnsupportedAction("this bot cannot mute")
	}
	return nil, m.Mute(c.Ctx, room, u, time.Duration(seconds)*time.Second)
}

// DefaultMute is set_group_ban's duration when none is given (go-cqhttp's default).
const DefaultMute = 30 * 60

// --- messages and rooms ------------------------------------------------------------------

type ReactParams struct {
	MessageID string `json:"message_id"`
	GroupID   string `json:"group_id,omitempty"` // optional when the gateway saw the message
	Key       string `json:"key"`
	// Encrypted sends the reaction encrypted in an encrypted room (default GATEWAY_ENCRYPT_REACTIONS).
	Encrypted *FlexBool `json:"encrypted,omitempty"`
	// An idempotency key: a retry with the same key reacts once (idempotency.go).
	TxnID TxnKey `json:"txn_id,omitempty"`
}

func React(c *Call, p ReactParams) (*Sent, error) {
	msg, err := Msg(p.MessageID)
	if err != nil {
		return nil, err
	}
	if p.Key == "" {
		return nil, model.Errorf(model.ErrBadParam, "key is required: the emoji or text of the reaction")
	}
	var room id.RoomID
	if p.GroupID != "" {
		if room, err = Room(p.GroupID); err != nil {
			return nil, err
		}
	}
	opts := model.ReactOptions{Encrypted: (*bool)(p.Encrypted)}
	if opts.Idempotency, err = IdempotencyOf("txn_id", p.TxnID, []any{room, msg, p.Key, p.Encrypted}); err != nil {
		return nil, err
	}
	sent, err := c.Bot.React(c.Ctx, room, msg, p.Key, opts)
	if err != nil {
		return nil, err
	}
	return &Sent{MessageID: string(sent.EventID), Time: unixTime(sent.Time)}, nil
}

type TypingParams struct {
	GroupID string    `json:"group_id"`
	Typing  *FlexBool `json:"typing,omitempty"`  // default true
	Timeout *FlexInt  `json:"timeout,omitempty"` // milliseconds, default 30000
}

func SetTyping(c *Call, p TypingParams) (*NoData, error) {
	room, err := Room(p.GroupID)
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
	return nil, c.Bot.SetTyping(c.Ctx, room, typing, timeout)
}

func MarkRead(c *Call, p MarkReadParams) (*NoData, error) {
	msg, err := Msg(p.MessageID)
	if err != nil {
		return nil, err
	}
	room, err := Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.MarkRead(c.Ctx, room, msg)
}

type JoinParams struct {
	Room string `json:"room"` // a room ID or an alias
}

// RoomResult answers matrix.join_room and matrix.create_room. Result types: their fields are in
// the order of their JSON names, so that they marshal as the maps they were.
type RoomResult struct {
	GroupID string `json:"group_id"`
}

func JoinRoom(c *Call, p JoinParams) (*RoomResult, error) {
	if len(p.Room) < 2 || (p.Room[0] != '!' && p.Room[0] != '#') {
		return nil, model.Errorf(model.ErrBadParam, "room must be a room ID (!abc:example.org) or an alias (#name:example.org)")
	}
	room, err := c.Bot.JoinRoom(c.Ctx, p.Room)
	if err != nil {
		return nil, err
	}
	return &RoomResult{GroupID: string(room)}, nil
}

type CreateRoomParams struct {
	Name          string   `json:"name,omitempty"`
	Topic         string   `json:"topic,omitempty"`
	RoomAliasName string   `json:"room_alias_name,omitempty"`
	Invite        []string `json:"invite,omitempty"`
	IsDirect      FlexBool `json:"is_direct,omitempty"`
	Preset        string   `json:"preset,omitempty"`
	Visibility    string   `json:"visibility,omitempty"`
	// Encrypted: absent = encrypted when the bot does end-to-end encryption.
	Encrypted *FlexBool `json:"encrypted,omitempty"`
}

func CreateRoom(c *Call, p CreateRoomParams) (*RoomResult, error) {
	req := model.CreateRoom{Name: p.Name, Topic: p.Topic, Alias: p.RoomAliasName, IsDirect: bool(p.IsDirect), Preset: p.Preset,
		Visibility: p.Visibility, Encrypted: (*bool)(p.Encrypted)}
	for i, u := range p.Invite {
		uid, err := User(u, "invite["+strconv.Itoa(i)+"]")
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
	room, err := c.Bot.CreateRoom(c.Ctx, req)
	if err != nil {
		return nil, err
	}
	return &RoomResult{GroupID: string(room)}, nil
}

// StateParams are matrix.send_state_event's params.
type StateParams struct {
	GroupID   string          `json:"group_id"`
	EventType string          `json:"event_type"`
	StateKey  string          `json:"state_key,omitempty"`
	Content   json.RawMessage `json:"content"`
}

// GetStateParams are matrix.get_room_state's params: no event_type = the whole state.
type GetStateParams struct {
	GroupID   string `json:"group_id"`
	EventType string `json:"event_type,omitempty"`
	StateKey  string `json:"state_key,omitempty"`
}

// RoomState answers matrix.get_room_state: the whole state (events), or one event's content.
type RoomState struct {
	Content json.RawMessage `json:"content,omitempty"`
	Events  json.RawMessage `json:"events,omitempty"`
}

func GetRoomState(c *Call, p GetStateParams) (*RoomState, error) {
	room, err := Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	raw, err := rawAPI(c)
	if err != nil {
		return nil, err
	}
	state, err := raw.RoomState(c.Ctx, room, p.EventType, p.StateKey)
	if err != nil {
		return nil, err
	}
	if p.EventType == "" {
		return &RoomState{Events: state}, nil
	}
	return &RoomState{Content: state}, nil
}

// StateSent answers matrix.send_state_event.
type StateSent struct {
	EventID string `json:"event_id"`
}

func SendStateEvent(c *Call, p StateParams) (*StateSent, error) {
	room, err := Room(p.GroupID)
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
	evt, err := raw.SendState(c.Ctx, room, p.EventType, p.StateKey, p.Content)
	if err != nil {
		return nil, err
	}
	return &StateSent{EventID: string(evt)}, nil
}

// rawAPI is the bot's direct access to room state and the Client-Server API (model.RawAPI).
func rawAPI(c *Call) (model.RawAPI, error) {
	raw, ok := model.As[model.RawAPI](c.Bot)
	if !ok {
		return nil, ErrUnsupportedAction("this bot has no direct access to the Matrix API")
	}
	return raw, nil
}

type RawParams struct {
	Method string            `json:"method,omitempty"`
	Path   string            `json:"path"`
	Query  map[string]string `json:"query,omitempty"`
	Body   json.RawMessage   `json:"body,omitempty"`
}

// RawResult answers matrix.raw_request: the homeserver's status and JSON answer.
type RawResult struct {
	Body   json.RawMessage `json:"body"`
	Status int             `json:"status"`
}

func RawRequest(c *Call, p RawParams) (*RawResult, error) {
	body := bytes.TrimSpace(p.Body)
	if bytes.Equal(body, []byte("null")) {
		body = nil
	}
	raw, err := rawAPI(c)
	if err != nil {
		return nil, err
	}
	resp, err := raw.RawRequest(c.Ctx, model.RawRequest{Method: p.Method, Path: p.Path, Query: p.Query, Body: body})
	if err != nil {
		return nil, err
	}
	return &RawResult{Status: resp.Status, Body: resp.Body}, nil
}

func Kick(c *Call, p MemberParams) (*NoData, error) {
	return nil, c.Bot.Kick(c.Ctx, id.RoomID(p.GroupID), id.UserID(p.UserID), p.Reason)
}

func Ban(c *Call, p MemberParams) (*NoData, error) {
	return nil, c.Bot.Ban(c.Ctx, id.RoomID(p.GroupID), id.UserID(p.UserID), p.Reason)
}

func Unban(c *Call, p MemberParams) (*NoData, error) {
	return nil, c.Bot.Unban(c.Ctx, id.RoomID(p.GroupID), id.UserID(p.UserID))
}

func Invite(c *Call, p MemberParams) (*NoData, error) {
	return nil, c.Bot.Invite(c.Ctx, id.RoomID(p.GroupID), id.UserID(p.UserID), p.Reason)
}

// v11 actions that go-cqhttp serves and that have a Matrix counterpart (or an honest empty
// answer): set_group_admin, set_group_whole_ban, set_group_card for the bot itself,
// get_group_honor_info, can_send_image / can_send_record, .handle_quick_operation, and the
// _async / _rate_limited forms of every v11 action.

func Moderator(c *Call) (model.Moderator, error) {
	m, ok := model.As[model.Moderator](c.Bot)
	if !ok {
		return nil, ErrUnsupportedAction("this bot cannot change power levels")
	}
	return m, nil
}
