package v11

import (
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot"
)

// lookup maps a v11 number of one kind back to its Matrix ID.
func lookup(c *onebot.Call, kind Kind, n onebot.FlexInt, name string) (string, error) {
	if n <= 0 {
		return "", model.Errorf(model.ErrBadParam, "%s is required", name)
	}
	s, err := c.Host.IDs().MatrixID(c.Ctx, kind, int64(n))
	if err != nil {
		return "", lookupError(err, "unknown %s %d", name, n)
	}
	return s, nil
}

func roomOf(c *onebot.Call, n onebot.FlexInt) (id.RoomID, error) {
	s, err := lookup(c, KindRoom, n, "group_id")
	return id.RoomID(s), err
}

func userOf(c *onebot.Call, n onebot.FlexInt) (id.UserID, error) {
	s, err := lookup(c, KindUser, n, "user_id")
	return id.UserID(s), err
}

// roomUserOf maps the group and user numbers of a member action.
func roomUserOf(c *onebot.Call, g, u onebot.FlexInt) (id.RoomID, id.UserID, error) {
	room, err := roomOf(c, g)
	if err != nil {
		return "", "", err
	}
	user, err := userOf(c, u)
	return room, user, err
}

func msgOf(c *onebot.Call, n onebot.FlexInt) (id.EventID, error) {
	s, err := lookup(c, KindEvent, n, "message_id")
	return id.EventID(s), err
}

// numberOf maps a Matrix ID to its v11 number.
func numberOf(c *onebot.Call, kind Kind, s string) (int64, error) {
	return c.Host.IDs().V11ID(c.Ctx, kind, s)
}

// --- v11 ---------------------------------------------------------------------------------

type messageParams struct {
	MessageID onebot.FlexInt `json:"message_id"`
}

func deleteMsg(c *onebot.Call, p messageParams) (*onebot.NoData, error) {
	msg, err := msgOf(c, p.MessageID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.DeleteMessage(c.Ctx, "", msg, "")
}

type userParams struct {
	UserID onebot.FlexInt `json:"user_id"`
}

// strangerInfo answers get_stranger_info.
type strangerInfo struct {
	Age             int    `json:"age"`
	MatrixAvatarURL string `json:"matrix_avatar_url"`
	MatrixUserID    string `json:"matrix_user_id"`
	Nickname        string `json:"nickname"`
	Sex             string `json:"sex"`
	UserID          int64  `json:"user_id"`
}

func getStrangerInfo(c *onebot.Call, p userParams) (*strangerInfo, error) {
	u, err := userOf(c, p.UserID)
	if err != nil {
		return nil, err
	}
	info, err := c.Bot.UserInfo(c.Ctx, u)
	if err != nil {
		return nil, err
	}
	nick := info.DisplayName
	if nick == "" {
		nick = u.Localpart()
	}
	return &strangerInfo{
		UserID: int64(p.UserID), Nickname: nick, Sex: "unknown", MatrixUserID: string(u), MatrixAvatarURL: info.AvatarURL,
	}, nil
}

// friend is an entry of get_friend_list.
type friend struct {
	MatrixRoomID string `json:"matrix_room_id"`
	MatrixUserID string `json:"matrix_user_id"`
	Nickname     string `json:"nickname"`
	Remark       string `json:"remark"`
	UserID       int64  `json:"user_id"`
}

func getFriendList(c *onebot.Call) ([]friend, error) {
	friends, err := c.Bot.Friends(c.Ctx)
	if err != nil {
		return nil, err
	}
	out := make([]friend, 0, len(friends))
	for _, f := range friends {
		n, err := numberOf(c, KindUser, string(f.UserID))
		if err != nil {
			return nil, err
		}
		nick := f.DisplayName
		if nick == "" {
			nick = f.UserID.Localpart()
		}
		out = append(out, friend{UserID: n, Nickname: nick, MatrixUserID: string(f.UserID), MatrixRoomID: string(f.RoomID)})
	}
	return out, nil
}

// The params of the v11 group actions, one type per action (api/openapi.yaml documents each).
// no_cache is accepted for go-cqhttp compatibility, and ignored.
type (
	groupParams struct {
		GroupID onebot.FlexInt  `json:"group_id"`
		NoCache onebot.FlexBool `json:"no_cache,omitempty"`
	}
	groupMemberParams struct {
		GroupID onebot.FlexInt  `json:"group_id"`
		UserID  onebot.FlexInt  `json:"user_id"`
		NoCache onebot.FlexBool `json:"no_cache,omitempty"`
	}
	setGroupNameParams struct {
		GroupID   onebot.FlexInt `json:"group_id"`
		GroupName string         `json:"group_name"`
	}
	setGroupLeaveParams struct {
		GroupID   onebot.FlexInt  `json:"group_id"`
		IsDismiss onebot.FlexBool `json:"is_dismiss,omitempty"` // ignored: a Matrix room cannot be dissolved
	}
	setGroupKickParams struct {
		GroupID          onebot.FlexInt  `json:"group_id"`
		UserID           onebot.FlexInt  `json:"user_id"`
		RejectAddRequest onebot.FlexBool `json:"reject_add_request,omitempty"` // ban instead
	}
	setGroupBanParams struct {
		GroupID onebot.FlexInt `json:"group_id"`
		UserID  onebot.FlexInt `json:"user_id"`
		// Seconds; 0 lifts the mute. Absent = 1800 as in go-cqhttp.
		Duration *onebot.FlexInt `json:"duration,omitempty"`
	}
)

// groupResult answers get_group_info and is an entry of get_group_list.
type groupResult struct {
	GroupID        int64  `json:"group_id"`
	GroupName      string `json:"group_name"`
	MatrixRoomID   string `json:"matrix_room_id"`
	MaxMemberCount int    `json:"max_member_count"`
	MemberCount    int    `json:"member_count"`
}

func groupInfoOf(c *onebot.Call, g model.GroupInfo) (*groupResult, error) {
	n, err := numberOf(c, KindRoom, string(g.RoomID))
	if err != nil {
		return nil, err
	}
	return &groupResult{GroupID: n, GroupName: g.Name, MemberCount: g.MemberCount, MatrixRoomID: string(g.RoomID)}, nil
}

func getGroupInfo(c *onebot.Call, p groupParams) (*groupResult, error) {
	room, err := roomOf(c, p.GroupID)
	if err != nil {
		return nil, err
	}
	g, err := c.Bot.Group(c.Ctx, room)
	if err != nil {
		return nil, err
	}
	return groupInfoOf(c, g)
}

func getGroupList(c *onebot.Call) ([]*groupResult, error) {
	groups, err := c.Bot.Groups(c.Ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*groupResult, 0, len(groups))
	for _, g := range groups {
		m, err := groupInfoOf(c, g)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// groupMember answers get_group_member_info and is an entry of get_group_member_list
// (go-cqhttp's fields; those Matrix has no counterpart for are zero).
type groupMember struct {
	Age              int    `json:"age"`
	Area             string `json:"area"`
	Card             string `json:"card"`
	CardChangeable   bool   `json:"card_changeable"`
	GroupID          int64  `json:"group_id"`
	JoinTime         int64  `json:"join_time"`
	LastSentTime     int64  `json:"last_sent_time"`
	Level            string `json:"level"`
	MatrixPowerLevel int64  `json:"matrix_power_level"`
	MatrixUserID     string `json:"matrix_user_id"`
	Nickname         string `json:"nickname"`
	Role             string `json:"role"`
	Sex              string `json:"sex"`
	Title            string `json:"title"`
	TitleExpireTime  int64  `json:"title_expire_time"`
	Unfriendly       bool   `json:"unfriendly"`
	UserID           int64  `json:"user_id"`
}

func memberOf(c *onebot.Call, m model.Member) (*groupMember, error) {
	g, err := numberOf(c, KindRoom, string(m.RoomID))
	if err != nil {
		return nil, err
	}
	u, err := numberOf(c, KindUser, string(m.UserID))
	if err != nil {
		return nil, err
	}
	nick := m.DisplayName
	if nick == "" {
		nick = m.UserID.Localpart()
	}
	return &groupMember{
		GroupID: g, UserID: u, Nickname: nick, Card: m.DisplayName, Sex: "unknown", Role: string(m.Role),
		MatrixUserID: string(m.UserID), MatrixPowerLevel: onebot.JSONPower(m.PowerLevel),
	}, nil
}

func getGroupMemberInfo(c *onebot.Call, p groupMemberParams) (*groupMember, error) {
	room, u, err := roomUserOf(c, p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	m, err := c.Bot.GroupMember(c.Ctx, room, u)
	if err != nil {
		return nil, err
	}
	return memberOf(c, m)
}

func getGroupMemberList(c *onebot.Call, p groupParams) ([]*groupMember, error) {
	room, err := roomOf(c, p.GroupID)
	if err != nil {
		return nil, err
	}
	members, err := c.Bot.GroupMembers(c.Ctx, room)
	if err != nil {
		return nil, err
	}
	out := make([]*groupMember, 0, len(members))
	for _, m := range members {
		mm, err := memberOf(c, m)
		if err != nil {
			return nil, err
		}
		out = append(out, mm)
	}
	return out, nil
}

func setGroupName(c *onebot.Call, p setGroupNameParams) (*onebot.NoData, error) {
	room, err := roomOf(c, p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.SetGroupName(c.Ctx, room, p.GroupName)
}

// setGroupLeave leaves the room; is_dismiss is ignored (a Matrix room cannot be dissolved).
func setGroupLeave(c *onebot.Call, p setGroupLeaveParams) (*onebot.NoData, error) {
	room, err := roomOf(c, p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.Bot.LeaveGroup(c.Ctx, room)
}

// setGroupKick kicks; with reject_add_request the user is banned instead, so they cannot
// come back.
func setGroupKick(c *onebot.Call, p setGroupKickParams) (*onebot.NoData, error) {
	room, u, err := roomUserOf(c, p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	if p.RejectAddRequest {
		return nil, c.Bot.Ban(c.Ctx, room, u, "")
	}
	return nil, c.Bot.Kick(c.Ctx, room, u, "")
}

// setGroupBan is QQ's timed mute: the user's power level goes below what sending messages
// requires for duration seconds (default 1800), and back after; duration 0 lifts it. It never
// bans: the user stays in the room.
func setGroupBan(c *onebot.Call, p setGroupBanParams) (*onebot.NoData, error) {
	room, u, err := roomUserOf(c, p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	d := int64(onebot.DefaultMute)
	if p.Duration != nil {
		d = int64(*p.Duration)
	}
	return onebot.MuteFor(c, room, u, d)
}

// Invite answers (v11 set_group_add_request / set_friend_add_request, v12 matrix.accept_invite /
// matrix.decline_invite) and the Matrix extras matrix.* of v12.

// --- invites -----------------------------------------------------------------------------

// friendRequestParams are set_friend_add_request's params (a direct-room invite).
type friendRequestParams struct {
	Flag    string           `json:"flag"`
	Approve *onebot.FlexBool `json:"approve,omitempty"`
	Reason  string           `json:"reason,omitempty"` // of a decline
}

// addRequestParams are set_group_add_request's params.
type addRequestParams struct {
	friendRequestParams
	SubType string `json:"sub_type,omitempty"`
	Type    string `json:"type,omitempty"` // go-cqhttp's older name of sub_type
}

// answer answers an invite: flag is the room ID from the request event; approve defaults to true.
func answer(c *onebot.Call, p friendRequestParams) (*onebot.NoData, error) {
	if !onebot.ValidRoomID(p.Flag) {
		return nil, model.Errorf(model.ErrBadParam, "flag must be the flag of a request event (a Matrix room ID)")
	}
	accept := p.Approve == nil || bool(*p.Approve)
	return nil, c.Bot.AnswerInvite(c.Ctx, id.RoomID(p.Flag), accept, p.Reason)
}

func setGroupAddRequest(c *onebot.Call, p addRequestParams) (*onebot.NoData, error) {
	sub := p.SubType
	if sub == "" {
		sub = p.Type
	}
	if sub != "" && sub != "invite" {
		return nil, model.Errorf(model.ErrBadParam, "sub_type %q: only invite requests exist on Matrix", sub)
	}
	return answer(c, p.friendRequestParams)
}

func setFriendAddRequest(c *onebot.Call, p friendRequestParams) (*onebot.NoData, error) {
	return answer(c, p)
}
