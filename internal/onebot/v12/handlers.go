package v12

import (
	"encoding/json"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot"
)

type sendMessageParams struct {
	DetailType string          `json:"detail_type"`
	UserID     string          `json:"user_id,omitempty"`
	GroupID    string          `json:"group_id,omitempty"`
	Message    json.RawMessage `json:"message"`
	// Matrix extensions: the msgtype of text (m.text, m.notice, m.emote) and Markdown rendering.
	MsgType  string `json:"matrix.msgtype,omitempty"`
	Markdown *bool  `json:"matrix.markdown,omitempty"`
	// An idempotency key: a retry with the same key posts the message once (idempotency.go).
	TxnID onebot.TxnKey `json:"matrix.txn_id,omitempty"`
}

func sendMessageAction(c *onebot.Call, p sendMessageParams) (*onebot.Sent, error) {
	var to model.Target
	switch p.DetailType {
	case "group":
		if !onebot.ValidRoomID(p.GroupID) {
			return nil, model.Errorf(model.ErrBadParam, "group_id must be a Matrix room ID like !abc:example.org")
		}
		to.RoomID = id.RoomID(p.GroupID)
	case "private":
		if !onebot.ValidUserID(p.UserID) {
			return nil, model.Errorf(model.ErrBadParam, "user_id must be a Matrix user ID like @alice:example.org")
		}
		to.UserID = id.UserID(p.UserID)
	case "":
		return nil, model.Errorf(model.ErrBadParam, "detail_type is required: group or private")
	default:
		return nil, onebot.ErrUnsupportedParam("detail_type %q is not supported: use group or private", p.DetailType)
	}
	segs, err := DecodeMessage(p.Message)
	if err != nil {
		return nil, err
	}
	opts := model.SendOptions{MsgType: p.MsgType, Markdown: p.Markdown}
	if opts.Idempotency, err = onebot.SendIdempotency(c, p.TxnID, to, segs, opts); err != nil {
		return nil, err
	}
	sent, err := onebot.SendMessage(c, to, segs, opts)
	if err != nil {
		return nil, err
	}
	return &onebot.Sent{MessageID: string(sent.EventID), Time: Time(sent.Time)}, nil
}

// DecodeMessage reads a v12 message: an array of segments (a bare string is taken as text).
func DecodeMessage(raw json.RawMessage) ([]model.Segment, error) {
	var segs []Segment
	if len(raw) == 0 || string(raw) == "null" {
		return nil, model.Errorf(model.ErrBadParam, "message is required")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, model.Errorf(model.ErrBadParam, "message: %v", err)
		}
		return []model.Segment{model.Text{Text: s}}, nil
	}
	if err := json.Unmarshal(raw, &segs); err != nil {
		return nil, model.Errorf(model.ErrBadParam, "message must be an array of segments: %v", err)
	}
	if len(segs) == 0 {
		return nil, model.Errorf(model.ErrBadParam, "message is empty")
	}
	return DecodeSegments(segs)
}

// selfInfo answers get_self_info.
type selfInfo struct {
	UserDisplayname string `json:"user_displayname"`
	UserID          string `json:"user_id"`
	UserName        string `json:"user_name"`
}

func getSelfInfo(c *onebot.Call) (*selfInfo, error) {
	b := c.Bot
	return &selfInfo{UserID: string(b.UserID()), UserName: b.UserID().Localpart(), UserDisplayname: b.DisplayName()}, nil
}

func getStatus(c *onebot.Call) (*Status, error) {
	st := StatusOf(c.Host.Bots(c.Ctx))
	for i := range st.Bots {
		st.Bots[i].Metrics = c.Host.BotCounters(st.Bots[i].Self.UserID)
	}
	st.Elsewhere = c.Host.Elsewhere(c.Ctx)
	return st, nil
}

func getVersion(c *onebot.Call) (*VersionInfo, error) {
	impl, version := c.Host.Impl()
	return &VersionInfo{Impl: impl, Version: version, OneBotVersion: ProtocolVersion}, nil
}

func getSupportedActions(c *onebot.Call) ([]string, error) { return c.Host.SupportedActions(12), nil }

type getMessageParams struct {
	MessageID string `json:"message_id"`
}

// getMessageAction is matrix.get_message: OneBot v12 has no standard action to read a message (its
// clients take the reply's user_id from the segment), so this is an extension.
func getMessageAction(c *onebot.Call, p getMessageParams) (*Event, error) {
	if !strings.HasPrefix(p.MessageID, "$") {
		return nil, model.Errorf(model.ErrBadParam, "message_id must be a Matrix event ID like $abc")
	}
	ev, err := onebot.GetMessage(c, id.EventID(p.MessageID))
	if err != nil {
		return nil, err
	}
	return MessageEvent(ev), nil
}

// --- v12 ---------------------------------------------------------------------------------

// messageParams are delete_message's params.
type messageParams struct {
	MessageID string `json:"message_id"`
	GroupID   string `json:"group_id,omitempty"` // optional: the room, when the gateway never saw the message
	Reason    string `json:"matrix.reason,omitempty"`
}

func deleteMessage(c *onebot.Call, p messageParams) (*onebot.NoData, error) {
	msg, err := onebot.Msg(p.MessageID)
	if err != nil {
		return nil, err
	}
	var room id.RoomID
	if p.GroupID != "" {
		if room, err = onebot.Room(p.GroupID); err != nil {
			return nil, err
		}
	}
	return nil, c.Bot.DeleteMessage(c.Ctx, room, msg, p.Reason)
}

type userParams struct {
	UserID string `json:"user_id"`
}

// Result types: their fields are in the order of their JSON names, so that they marshal as the
// maps they were.

// userInfo answers get_user_info.
type userInfo struct {
	AvatarURL       string `json:"matrix.avatar_url"`
	UserDisplayname string `json:"user_displayname"`
	UserID          string `json:"user_id"`
	UserName        string `json:"user_name"`
	UserRemark      string `json:"user_remark"`
}

// friend is an entry of get_friend_list: a user and the direct room with them.
type friend struct {
	RoomID          string `json:"matrix.room_id"`
	UserDisplayname string `json:"user_displayname"`
	UserID          string `json:"user_id"`
	UserName        string `json:"user_name"`
	UserRemark      string `json:"user_remark"`
}

func getUserInfo(c *onebot.Call, p userParams) (*userInfo, error) {
	u, err := onebot.User(p.UserID, "user_id")
	if err != nil {
		return nil, err
	}
	info, err := c.Bot.UserInfo(c.Ctx, u)
	if err != nil {
		return nil, err
	}
	return &userInfo{
		UserID: string(info.UserID), UserName: info.UserID.Localpart(), UserDisplayname: info.DisplayName, AvatarURL: info.AvatarURL,
	}, nil
}

func getFriendList(c *onebot.Call) ([]friend, error) {
	friends, err := c.Bot.Friends(c.Ctx)
	if err != nil {
		return nil, err
	}
	out := make([]friend, 0, len(friends))
	for _, f := range friends {
		out = append(out, friend{
			UserID: string(f.UserID), UserName: f.UserID.Localpart(), UserDisplayname: f.DisplayName, RoomID: string(f.RoomID),
		})
	}
	return out, nil
}

type groupParams struct {
	GroupID string `json:"group_id"`
}

// group answers get_group_info and is an entry of get_group_list.
type group struct {
	GroupID     string `json:"group_id"`
	GroupName   string `json:"group_name"`
	MemberCount int    `json:"matrix.member_count"`
}

func groupInfoOf(g model.GroupInfo) group {
	return group{GroupID: string(g.RoomID), GroupName: g.Name, MemberCount: g.MemberCount}
}

func getGroupInfo(c *onebot.Call, p groupParams) (*group, error) {
	room, err := onebot.Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	g, err := c.Bot.Group(c.Ctx, room)
	if err != nil {
		return nil, err
	}
	info := groupInfoOf(g)
	return &info, nil
}

func getGroupList(c *onebot.Call) ([]group, error) {
	groups, err := c.Bot.Groups(c.Ctx)
	if err != nil {
		return nil, err
	}
	out := make([]group, 0, len(groups))
	for _, g := range groups {
		out = append(out, groupInfoOf(g))
	}
	return out, nil
}

// memberRefParams name a member: get_group_member_info, matrix.unban.
type memberRefParams struct {
	GroupID string `json:"group_id"`
	UserID  string `json:"user_id"`
}

// groupMember answers get_group_member_info and is an entry of get_group_member_list.
type groupMember struct {
	PowerLevel      int64  `json:"matrix.power_level"`
	Role            string `json:"matrix.role"`
	UserDisplayname string `json:"user_displayname"`
	UserID          string `json:"user_id"`
	UserName        string `json:"user_name"`
}

func memberOf(m model.Member) groupMember {
	return groupMember{
		UserID: string(m.UserID), UserName: m.UserID.Localpart(), UserDisplayname: m.DisplayName,
		Role: string(m.Role), PowerLevel: onebot.JSONPower(m.PowerLevel),
	}
}

func getGroupMemberInfo(c *onebot.Call, p memberRefParams) (*groupMember, error) {
	room, err := onebot.Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	u, err := onebot.User(p.UserID, "user_id")
	if err != nil {
		return nil, err
	}
	m, err := c.Bot.GroupMember(c.Ctx, room, u)
	if err != nil {
		return nil, err
	}
	member := memberOf(m)
	return &member, nil
}

func getGroupMemberList(c *onebot.Call, p groupParams) ([]groupMember, error) {
	room, err := onebot.Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	members, err := c.Bot.GroupMembers(c.Ctx, room)
	if err != nil {
		return nil, err
	}
	out := make([]groupMember, 0, len(members))
	for _, m := range members {
		out = append(out, memberOf(m))
	}
	return out, nil
}

type setGroupNameParams struct {
	GroupID   string `json:"group_id"`
	GroupName string `json:"group_name"`
}

func setGroupName(c *onebot.Call, p setGroupNameParams) (*onebot.NoData, error) {
	room, err := onebot.Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.SetGroupName(c.Ctx, room, p.GroupName)
}

func leaveGroup(c *onebot.Call, p groupParams) (*onebot.NoData, error) {
	room, err := onebot.Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.LeaveGroup(c.Ctx, room)
}

type muteParams struct {
	GroupID  string `json:"group_id"`
	UserID   string `json:"user_id"`
	Duration *int64 `json:"duration,omitempty"`
}

// mute is matrix.mute: v11 set_group_ban for v12 (duration in seconds, default 1800).
func mute(c *onebot.Call, p muteParams) (*onebot.NoData, error) {
	room, err := onebot.Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	u, err := onebot.User(p.UserID, "user_id")
	if err != nil {
		return nil, err
	}
	d := int64(onebot.DefaultMute)
	if p.Duration != nil {
		d = *p.Duration
	}
	return onebot.MuteFor(c, room, u, d)
}

// declineParams are matrix.decline_invite's params.
type declineParams struct {
	GroupID string `json:"group_id"`
	Reason  string `json:"reason,omitempty"`
}

func acceptInvite(c *onebot.Call, p groupParams) (*onebot.NoData, error) {
	room, err := onebot.Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.AnswerInvite(c.Ctx, room, true, "")
}

func declineInvite(c *onebot.Call, p declineParams) (*onebot.NoData, error) {
	room, err := onebot.Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.AnswerInvite(c.Ctx, room, false, p.Reason)
}

// --- members -----------------------------------------------------------------------------

// roomAndUser checks the Matrix IDs of {group_id, user_id}.
func roomAndUser(groupID, userID string) (id.RoomID, id.UserID, error) {
	room, err := onebot.Room(groupID)
	if err != nil {
		return "", "", err
	}
	u, err := onebot.User(userID, "user_id")
	if err != nil {
		return "", "", err
	}
	return room, u, nil
}

func kick(c *onebot.Call, p onebot.MemberParams) (*onebot.NoData, error) {
	room, u, err := roomAndUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.Kick(c.Ctx, room, u, p.Reason)
}

func ban(c *onebot.Call, p onebot.MemberParams) (*onebot.NoData, error) {
	room, u, err := roomAndUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.Ban(c.Ctx, room, u, p.Reason)
}

func unban(c *onebot.Call, p memberRefParams) (*onebot.NoData, error) {
	room, u, err := roomAndUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.Unban(c.Ctx, room, u)
}

func invite(c *onebot.Call, p onebot.MemberParams) (*onebot.NoData, error) {
	room, u, err := roomAndUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.Invite(c.Ctx, room, u, p.Reason)
}

const maxLatestTimeout = 60 // seconds a poll may wait

type getLatestEventsParams struct {
	Limit   int64 `json:"limit,omitempty"`
	Timeout int64 `json:"timeout,omitempty"`
}

func getLatestEvents(c *onebot.Call) ([]json.RawMessage, error) {
	if !c.Host.FromHTTP(c.Ctx) {
		return nil, onebot.ErrUnsupportedAction("get_latest_events is for HTTP clients: a WebSocket connection receives events as they come")
	}
	if c.Host.EventBuffer() <= 0 {
		return nil, onebot.ErrUnsupportedAction("get_latest_events is off: the gateway's GATEWAY_V12_EVENT_BUFFER is 0")
	}
	var p getLatestEventsParams
	if err := c.Decode(&p); err != nil {
		return nil, err
	}
	if p.Limit < 0 || p.Timeout < 0 {
		return nil, model.Errorf(model.ErrBadParam, "limit and timeout must not be negative")
	}
	timeout := time.Duration(min(p.Timeout, maxLatestTimeout)) * time.Second
	// A client limited to one bot (its own token) polls a buffer of that bot's events only.
	return c.Host.LatestEvents(c.Ctx, int(p.Limit), timeout), nil
}
