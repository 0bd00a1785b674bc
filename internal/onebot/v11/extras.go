package v11

import (
	"encoding/json"
	"strings"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot"
)

// The Matrix extras (matrix.*) in v11 form: the same names as in v12, with v11 numbers for
// rooms (group_id), users (user_id) and messages (message_id), in and out. Each maps the numbers
// to Matrix IDs and runs the v12 handler. Invites are answered with set_group_add_request /
// set_friend_add_request, timed mutes with set_group_ban, and messages read with get_msg.

type memberActionParams struct {
	GroupID onebot.FlexInt `json:"group_id"`
	UserID  onebot.FlexInt `json:"user_id"`
	Reason  string         `json:"reason,omitempty"`
}

// memberAction runs a member action (kick, ban, unban, invite) on the Matrix IDs of the numbers.
func memberAction(do func(c *onebot.Call, p onebot.MemberParams) (*onebot.NoData, error)) func(c *onebot.Call, p memberActionParams) (*onebot.NoData, error) {
	return func(c *onebot.Call, p memberActionParams) (*onebot.NoData, error) {
		room, u, err := roomUserOf(c, p.GroupID, p.UserID)
		if err != nil {
			return nil, err
		}
		return do(c, onebot.MemberParams{GroupID: string(room), UserID: string(u), Reason: p.Reason})
	}
}

type reactParams struct {
	MessageID onebot.FlexInt   `json:"message_id"`
	Key       string           `json:"key"`
	Encrypted *onebot.FlexBool `json:"encrypted,omitempty"`
	TxnID     onebot.TxnKey    `json:"txn_id,omitempty"`
}

// reacted answers matrix.react: the reaction's v11 number and Matrix ID. Result types: their
// fields are in the order of their JSON names, so that they marshal as the maps they were.
type reacted struct {
	MatrixEventID string `json:"matrix_event_id"`
	MessageID     int32  `json:"message_id"`
}

func react(c *onebot.Call, p reactParams) (*reacted, error) {
	msg, err := msgOf(c, p.MessageID)
	if err != nil {
		return nil, err
	}
	sent, err := onebot.React(c, onebot.ReactParams{MessageID: string(msg), Key: p.Key, Encrypted: p.Encrypted, TxnID: p.TxnID})
	if err != nil {
		return nil, err
	}
	n, err := numberOf(c, KindEvent, sent.MessageID)
	if err != nil {
		return nil, err
	}
	return &reacted{MessageID: int32(n), MatrixEventID: sent.MessageID}, nil
}

type typingParams struct {
	GroupID onebot.FlexInt   `json:"group_id"`
	Typing  *onebot.FlexBool `json:"typing,omitempty"`
	Timeout *onebot.FlexInt  `json:"timeout,omitempty"`
}

func setTyping(c *onebot.Call, p typingParams) (*onebot.NoData, error) {
	room, err := roomOf(c, p.GroupID)
	if err != nil {
		return nil, err
	}
	return onebot.SetTyping(c, onebot.TypingParams{GroupID: string(room), Typing: p.Typing, Timeout: p.Timeout})
}

type markReadParams struct {
	GroupID   onebot.FlexInt `json:"group_id"`
	MessageID onebot.FlexInt `json:"message_id"`
}

func markRead(c *onebot.Call, p markReadParams) (*onebot.NoData, error) {
	room, err := roomOf(c, p.GroupID)
	if err != nil {
		return nil, err
	}
	msg, err := msgOf(c, p.MessageID)
	if err != nil {
		return nil, err
	}
	return onebot.MarkRead(c, onebot.MarkReadParams{GroupID: string(room), MessageID: string(msg)})
}

// roomResult answers matrix.join_room and matrix.create_room: the room's v11 number and
// Matrix ID.
type roomResult struct {
	GroupID      int64  `json:"group_id"`
	MatrixRoomID string `json:"matrix_room_id"`
}

func joinRoom(c *onebot.Call, p onebot.JoinParams) (*roomResult, error) {
	r, err := onebot.JoinRoom(c, p)
	return numberRoom(c, r, err)
}

// roomResult numbers the room of a v12 answer.
func numberRoom(c *onebot.Call, r *onebot.RoomResult, err error) (*roomResult, error) {
	if err != nil {
		return nil, err
	}
	n, err := numberOf(c, KindRoom, r.GroupID)
	if err != nil {
		return nil, err
	}
	return &roomResult{GroupID: n, MatrixRoomID: r.GroupID}, nil
}

type createRoomParams struct {
	Name          string           `json:"name,omitempty"`
	Topic         string           `json:"topic,omitempty"`
	RoomAliasName string           `json:"room_alias_name,omitempty"`
	Invite        []onebot.FlexInt `json:"invite,omitempty"` // v11 user numbers
	IsDirect      onebot.FlexBool  `json:"is_direct,omitempty"`
	Preset        string           `json:"preset,omitempty"`
	Visibility    string           `json:"visibility,omitempty"`
	Encrypted     *onebot.FlexBool `json:"encrypted,omitempty"`
}

func createRoom(c *onebot.Call, p createRoomParams) (*roomResult, error) {
	p12 := onebot.CreateRoomParams{Name: p.Name, Topic: p.Topic, RoomAliasName: p.RoomAliasName, IsDirect: p.IsDirect,
		Preset: p.Preset, Visibility: p.Visibility, Encrypted: p.Encrypted}
	for _, n := range p.Invite {
		u, err := userOf(c, n)
		if err != nil {
			return nil, err
		}
		p12.Invite = append(p12.Invite, string(u))
	}
	r, err := onebot.CreateRoom(c, p12)
	return numberRoom(c, r, err)
}

// stateParams are matrix.send_state_event's params.
type stateParams struct {
	GroupID   onebot.FlexInt  `json:"group_id"`
	EventType string          `json:"event_type"`
	StateKey  string          `json:"state_key,omitempty"`
	Content   json.RawMessage `json:"content"`
}

// getStateParams are matrix.get_room_state's params.
type getStateParams struct {
	GroupID   onebot.FlexInt `json:"group_id"`
	EventType string         `json:"event_type,omitempty"`
	StateKey  string         `json:"state_key,omitempty"`
}

func getRoomState(c *onebot.Call, p getStateParams) (*onebot.RoomState, error) {
	room, err := roomOf(c, p.GroupID)
	if err != nil {
		return nil, err
	}
	return onebot.GetRoomState(c, onebot.GetStateParams{GroupID: string(room), EventType: p.EventType, StateKey: p.StateKey})
}

func sendStateEvent(c *onebot.Call, p stateParams) (*onebot.StateSent, error) {
	room, err := roomOf(c, p.GroupID)
	if err != nil {
		return nil, err
	}
	return onebot.SendStateEvent(c, onebot.StateParams{GroupID: string(room), EventType: p.EventType, StateKey: p.StateKey, Content: p.Content})
}

type setGroupAdminParams struct {
	GroupID onebot.FlexInt   `json:"group_id"`
	UserID  onebot.FlexInt   `json:"user_id"`
	Enable  *onebot.FlexBool `json:"enable,omitempty"` // default true
}

// setGroupAdmin gives power level 50 (admin), or with enable false takes the user's own
// level away (back to the room's default).
func setGroupAdmin(c *onebot.Call, p setGroupAdminParams) (*onebot.NoData, error) {
	room, u, err := roomUserOf(c, p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	m, err := onebot.Moderator(c)
	if err != nil {
		return nil, err
	}
	return nil, m.SetAdmin(c.Ctx, room, u, p.Enable == nil || bool(*p.Enable))
}

type setGroupWholeBanParams struct {
	GroupID onebot.FlexInt   `json:"group_id"`
	Enable  *onebot.FlexBool `json:"enable,omitempty"` // default true
}

// setGroupWholeBan mutes the whole room: its default send level goes to 50 (admins only),
// and back with enable false.
func setGroupWholeBan(c *onebot.Call, p setGroupWholeBanParams) (*onebot.NoData, error) {
	room, err := roomOf(c, p.GroupID)
	if err != nil {
		return nil, err
	}
	m, err := onebot.Moderator(c)
	if err != nil {
		return nil, err
	}
	return nil, m.SetWholeMute(c.Ctx, room, p.Enable == nil || bool(*p.Enable))
}

type setGroupCardParams struct {
	GroupID onebot.FlexInt `json:"group_id"`
	UserID  onebot.FlexInt `json:"user_id"`
	Card    string         `json:"card,omitempty"`
}

// setGroupCard sets a member's group card: on Matrix only the bot's own, as its per-room
// display name ("" = back to its global name). Matrix lets nobody set another user's name.
func setGroupCard(c *onebot.Call, p setGroupCardParams) (*onebot.NoData, error) {
	room, u, err := roomUserOf(c, p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	if u != c.Bot.UserID() {
		return nil, model.Errorf(model.ErrBadParam, "on Matrix only a user sets their own display name: set_group_card works for the bot itself (user_id %d)", c.SelfID)
	}
	if len(p.Card) > 255 {
		return nil, model.Errorf(model.ErrBadParam, "card is longer than 255 bytes")
	}
	m, err := onebot.Moderator(c)
	if err != nil {
		return nil, err
	}
	return nil, m.SetOwnRoomName(c.Ctx, room, strings.TrimSpace(p.Card))
}

type groupHonorParams struct {
	GroupID onebot.FlexInt `json:"group_id"`
	Type    string         `json:"type,omitempty"`
}

// honorInfo answers get_group_honor_info: nobody holds an honor. Result types: their fields
// are in the order of their JSON names, so that they marshal as the maps they were.
type honorInfo struct {
	CurrentTalkative json.RawMessage   `json:"current_talkative"` // always null
	EmotionList      []json.RawMessage `json:"emotion_list"`
	GroupID          int64             `json:"group_id"`
	LegendList       []json.RawMessage `json:"legend_list"`
	PerformerList    []json.RawMessage `json:"performer_list"`
	StrongNewbieList []json.RawMessage `json:"strong_newbie_list"`
	TalkativeList    []json.RawMessage `json:"talkative_list"`
}

// getGroupHonorInfo answers with empty lists: Matrix rooms have no honors.
func getGroupHonorInfo(c *onebot.Call, p groupHonorParams) (*honorInfo, error) {
	if _, err := roomOf(c, p.GroupID); err != nil {
		return nil, err
	}
	switch p.Type {
	case "", "all", "talkative", "performer", "legend", "strong_newbie", "emotion":
	default:
		return nil, model.Errorf(model.ErrBadParam, "type must be talkative, performer, legend, strong_newbie, emotion or all")
	}
	none := []json.RawMessage{}
	return &honorInfo{
		GroupID: int64(p.GroupID), TalkativeList: none, PerformerList: none, LegendList: none, StrongNewbieList: none, EmotionList: none,
	}, nil
}

// yes answers can_send_image and can_send_record.
type yes struct {
	Yes bool `json:"yes"`
}

// canSend answers whether the bot can send media: it can when the gateway takes in files.
func canSend(c *onebot.Call) (*yes, error) {
	return &yes{Yes: c.Host.MediaOn()}, nil
}

type quickOperationParams struct {
	Context   json.RawMessage `json:"context"`
	Operation json.RawMessage `json:"operation"`
}

// handleQuickOperation runs a quick operation on an event, as an HTTP POST reply would
// (go-cqhttp's .handle_quick_operation).
func handleQuickOperation(c *onebot.Call, p quickOperationParams) (*onebot.NoData, error) {
	var ev QuickContext
	if len(p.Context) == 0 || json.Unmarshal(p.Context, &ev) != nil || ev.PostType == "" {
		return nil, model.Errorf(model.ErrBadParam, "context must be the event object the operation answers")
	}
	if len(p.Operation) == 0 {
		return nil, model.Errorf(model.ErrBadParam, "operation is required")
	}
	op, err := DecodeQuickOperation(p.Operation)
	if err != nil {
		return nil, model.Errorf(model.ErrBadParam, "operation: %v", err)
	}
	steps, ignored, err := QuickSteps(ev, op)
	if err != nil {
		return nil, model.Errorf(model.ErrBadParam, "operation: %v", err)
	}
	if len(ignored) > 0 {
		return nil, model.Errorf(model.ErrBadParam, "operation keys that do not apply to a %s event: %s", ev.PostType, strings.Join(ignored, ", "))
	}
	for _, s := range steps {
		if _, err := c.Host.Run(c, s.Action, face.MustJSON(s.Params)); err != nil {
			return nil, err
		}
	}
	return nil, nil
}
