package gateway

import (
	"math"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Standard OneBot actions on messages, users, friends (direct rooms), groups (rooms) and their
// members, in v12 and v11 form. Both forms call the same model.RoomActions.

// --- parameter helpers -------------------------------------------------------------------

func v12Room(s string) (id.RoomID, error) {
	if !validRoomID(s) {
		return "", model.Errorf(model.ErrBadParam, "group_id must be a Matrix room ID like !abc:example.org")
	}
	return id.RoomID(s), nil
}

func v12User(s, name string) (id.UserID, error) {
	if !validUserID(s) {
		return "", model.Errorf(model.ErrBadParam, "%s must be a Matrix user ID like @alice:example.org", name)
	}
	return id.UserID(s), nil
}

func v12Msg(s string) (id.EventID, error) {
	if !strings.HasPrefix(s, "$") || len(s) < 2 {
		return "", model.Errorf(model.ErrBadParam, "message_id must be a Matrix event ID like $abc")
	}
	return id.EventID(s), nil
}

// v11Lookup maps a v11 number of one kind back to its Matrix ID.
func (c *call) v11Lookup(kind storage.IDKind, n flexInt, name string) (string, error) {
	if n <= 0 {
		return "", model.Errorf(model.ErrBadParam, "%s is required", name)
	}
	s, err := c.hub.opts.IDs.MatrixID(c.ctx, kind, int64(n))
	if err != nil {
		return "", idLookupError(err, "unknown %s %d", name, n)
	}
	return s, nil
}

func (c *call) v11Room(n flexInt) (id.RoomID, error) {
	s, err := c.v11Lookup(storage.KindRoom, n, "group_id")
	return id.RoomID(s), err
}

func (c *call) v11User(n flexInt) (id.UserID, error) {
	s, err := c.v11Lookup(storage.KindUser, n, "user_id")
	return id.UserID(s), err
}

// v11RoomUser maps the group and user numbers of a member action.
func (c *call) v11RoomUser(g, u flexInt) (id.RoomID, id.UserID, error) {
	room, err := c.v11Room(g)
	if err != nil {
		return "", "", err
	}
	user, err := c.v11User(u)
	return room, user, err
}

func (c *call) v11Msg(n flexInt) (id.EventID, error) {
	s, err := c.v11Lookup(storage.KindEvent, n, "message_id")
	return id.EventID(s), err
}

// v11Num maps a Matrix ID to its v11 number.
func (c *call) v11Num(kind storage.IDKind, s string) (int64, error) {
	return c.hub.opts.IDs.V11ID(c.ctx, kind, s)
}

// jsonPower keeps power levels exact in JavaScript clients: the creators of a version 12 room
// have a power above every number, reported as 2^53-1.
func jsonPower(level int) int64 {
	if level > 1<<53-1 || level == math.MaxInt {
		return 1<<53 - 1
	}
	return int64(level)
}

// --- v12 ---------------------------------------------------------------------------------

// v12MessageParams are delete_message's params.
type v12MessageParams struct {
	MessageID string `json:"message_id"`
	GroupID   string `json:"group_id,omitempty"` // optional: the room, when the gateway never saw the message
	Reason    string `json:"matrix.reason,omitempty"`
}

// v12MarkReadParams are matrix.mark_read's params.
type v12MarkReadParams struct {
	GroupID   string `json:"group_id"`
	MessageID string `json:"message_id"`
}

func v12DeleteMessage(c *call, p v12MessageParams) (*noData, error) {
	msg, err := v12Msg(p.MessageID)
	if err != nil {
		return nil, err
	}
	var room id.RoomID
	if p.GroupID != "" {
		if room, err = v12Room(p.GroupID); err != nil {
			return nil, err
		}
	}
	return nil, c.bot.bot.DeleteMessage(c.ctx, room, msg, p.Reason)
}

type v12UserParams struct {
	UserID string `json:"user_id"`
}

// Result types: their fields are in the order of their JSON names, so that they marshal as the
// maps they were.

// v12UserInfo answers get_user_info.
type v12UserInfo struct {
	AvatarURL       string `json:"matrix.avatar_url"`
	UserDisplayname string `json:"user_displayname"`
	UserID          string `json:"user_id"`
	UserName        string `json:"user_name"`
	UserRemark      string `json:"user_remark"`
}

// v12Friend is an entry of get_friend_list: a user and the direct room with them.
type v12Friend struct {
	RoomID          string `json:"matrix.room_id"`
	UserDisplayname string `json:"user_displayname"`
	UserID          string `json:"user_id"`
	UserName        string `json:"user_name"`
	UserRemark      string `json:"user_remark"`
}

func v12GetUserInfo(c *call, p v12UserParams) (*v12UserInfo, error) {
	u, err := v12User(p.UserID, "user_id")
	if err != nil {
		return nil, err
	}
	info, err := c.bot.bot.UserInfo(c.ctx, u)
	if err != nil {
		return nil, err
	}
	return &v12UserInfo{
		UserID: string(info.UserID), UserName: info.UserID.Localpart(), UserDisplayname: info.DisplayName, AvatarURL: info.AvatarURL,
	}, nil
}

func v12GetFriendList(c *call) ([]v12Friend, error) {
	friends, err := c.bot.bot.Friends(c.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]v12Friend, 0, len(friends))
	for _, f := range friends {
		out = append(out, v12Friend{
			UserID: string(f.UserID), UserName: f.UserID.Localpart(), UserDisplayname: f.DisplayName, RoomID: string(f.RoomID),
		})
	}
	return out, nil
}

type v12GroupParams struct {
	GroupID string `json:"group_id"`
}

// v12Group answers get_group_info and is an entry of get_group_list.
type v12Group struct {
	GroupID     string `json:"group_id"`
	GroupName   string `json:"group_name"`
	MemberCount int    `json:"matrix.member_count"`
}

func v12GroupInfo(g model.GroupInfo) v12Group {
	return v12Group{GroupID: string(g.RoomID), GroupName: g.Name, MemberCount: g.MemberCount}
}

func v12GetGroupInfo(c *call, p v12GroupParams) (*v12Group, error) {
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	g, err := c.bot.bot.Group(c.ctx, room)
	if err != nil {
		return nil, err
	}
	info := v12GroupInfo(g)
	return &info, nil
}

func v12GetGroupList(c *call) ([]v12Group, error) {
	groups, err := c.bot.bot.Groups(c.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]v12Group, 0, len(groups))
	for _, g := range groups {
		out = append(out, v12GroupInfo(g))
	}
	return out, nil
}

// v12MemberParams are the params of matrix.kick, matrix.ban and matrix.invite.
type v12MemberParams struct {
	GroupID string `json:"group_id"`
	UserID  string `json:"user_id"`
	Reason  string `json:"reason,omitempty"`
}

// v12MemberRefParams name a member: get_group_member_info, matrix.unban.
type v12MemberRefParams struct {
	GroupID string `json:"group_id"`
	UserID  string `json:"user_id"`
}

// v12GroupMember answers get_group_member_info and is an entry of get_group_member_list.
type v12GroupMember struct {
	PowerLevel      int64  `json:"matrix.power_level"`
	Role            string `json:"matrix.role"`
	UserDisplayname string `json:"user_displayname"`
	UserID          string `json:"user_id"`
	UserName        string `json:"user_name"`
}

func v12Member(m model.Member) v12GroupMember {
	return v12GroupMember{
		UserID: string(m.UserID), UserName: m.UserID.Localpart(), UserDisplayname: m.DisplayName,
		Role: string(m.Role), PowerLevel: jsonPower(m.PowerLevel),
	}
}

func v12GetGroupMemberInfo(c *call, p v12MemberRefParams) (*v12GroupMember, error) {
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	u, err := v12User(p.UserID, "user_id")
	if err != nil {
		return nil, err
	}
	m, err := c.bot.bot.GroupMember(c.ctx, room, u)
	if err != nil {
		return nil, err
	}
	member := v12Member(m)
	return &member, nil
}

func v12GetGroupMemberList(c *call, p v12GroupParams) ([]v12GroupMember, error) {
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	members, err := c.bot.bot.GroupMembers(c.ctx, room)
	if err != nil {
		return nil, err
	}
	out := make([]v12GroupMember, 0, len(members))
	for _, m := range members {
		out = append(out, v12Member(m))
	}
	return out, nil
}

type v12SetGroupNameParams struct {
	GroupID   string `json:"group_id"`
	GroupName string `json:"group_name"`
}

func v12SetGroupName(c *call, p v12SetGroupNameParams) (*noData, error) {
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.SetGroupName(c.ctx, room, p.GroupName)
}

func v12LeaveGroup(c *call, p v12GroupParams) (*noData, error) {
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.LeaveGroup(c.ctx, room)
}

// --- v11 ---------------------------------------------------------------------------------

type v11MessageParams struct {
	MessageID flexInt `json:"message_id"`
}

func v11DeleteMsg(c *call, p v11MessageParams) (*noData, error) {
	msg, err := c.v11Msg(p.MessageID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.DeleteMessage(c.ctx, "", msg, "")
}

type v11UserParams struct {
	UserID flexInt `json:"user_id"`
}

// v11StrangerInfo answers get_stranger_info.
type v11StrangerInfo struct {
	Age             int    `json:"age"`
	MatrixAvatarURL string `json:"matrix_avatar_url"`
	MatrixUserID    string `json:"matrix_user_id"`
	Nickname        string `json:"nickname"`
	Sex             string `json:"sex"`
	UserID          int64  `json:"user_id"`
}

func v11GetStrangerInfo(c *call, p v11UserParams) (*v11StrangerInfo, error) {
	u, err := c.v11User(p.UserID)
	if err != nil {
		return nil, err
	}
	info, err := c.bot.bot.UserInfo(c.ctx, u)
	if err != nil {
		return nil, err
	}
	nick := info.DisplayName
	if nick == "" {
		nick = u.Localpart()
	}
	return &v11StrangerInfo{
		UserID: int64(p.UserID), Nickname: nick, Sex: "unknown", MatrixUserID: string(u), MatrixAvatarURL: info.AvatarURL,
	}, nil
}

// v11Friend is an entry of get_friend_list.
type v11Friend struct {
	MatrixRoomID string `json:"matrix_room_id"`
	MatrixUserID string `json:"matrix_user_id"`
	Nickname     string `json:"nickname"`
	Remark       string `json:"remark"`
	UserID       int64  `json:"user_id"`
}

func v11GetFriendList(c *call) ([]v11Friend, error) {
	friends, err := c.bot.bot.Friends(c.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]v11Friend, 0, len(friends))
	for _, f := range friends {
		n, err := c.v11Num(storage.KindUser, string(f.UserID))
		if err != nil {
			return nil, err
		}
		nick := f.DisplayName
		if nick == "" {
			nick = f.UserID.Localpart()
		}
		out = append(out, v11Friend{UserID: n, Nickname: nick, MatrixUserID: string(f.UserID), MatrixRoomID: string(f.RoomID)})
	}
	return out, nil
}

// The params of the v11 group actions, one type per action (api/openapi.yaml documents each).
// no_cache is accepted for go-cqhttp compatibility, and ignored.
type (
	v11GroupParams struct {
		GroupID flexInt  `json:"group_id"`
		NoCache flexBool `json:"no_cache,omitempty"`
	}
	v11GroupMemberParams struct {
		GroupID flexInt  `json:"group_id"`
		UserID  flexInt  `json:"user_id"`
		NoCache flexBool `json:"no_cache,omitempty"`
	}
	v11SetGroupNameParams struct {
		GroupID   flexInt `json:"group_id"`
		GroupName string  `json:"group_name"`
	}
	v11SetGroupLeaveParams struct {
		GroupID   flexInt  `json:"group_id"`
		IsDismiss flexBool `json:"is_dismiss,omitempty"` // ignored: a Matrix room cannot be dissolved
	}
	v11SetGroupKickParams struct {
		GroupID          flexInt  `json:"group_id"`
		UserID           flexInt  `json:"user_id"`
		RejectAddRequest flexBool `json:"reject_add_request,omitempty"` // ban instead
	}
	v11SetGroupBanParams struct {
		GroupID flexInt `json:"group_id"`
		UserID  flexInt `json:"user_id"`
		// Seconds; 0 lifts the mute. Absent = 1800 as in go-cqhttp.
		Duration *flexInt `json:"duration,omitempty"`
	}
)

// v11Group answers get_group_info and is an entry of get_group_list.
type v11Group struct {
	GroupID        int64  `json:"group_id"`
	GroupName      string `json:"group_name"`
	MatrixRoomID   string `json:"matrix_room_id"`
	MaxMemberCount int    `json:"max_member_count"`
	MemberCount    int    `json:"member_count"`
}

func (c *call) v11GroupInfo(g model.GroupInfo) (*v11Group, error) {
	n, err := c.v11Num(storage.KindRoom, string(g.RoomID))
	if err != nil {
		return nil, err
	}
	return &v11Group{GroupID: n, GroupName: g.Name, MemberCount: g.MemberCount, MatrixRoomID: string(g.RoomID)}, nil
}

func v11GetGroupInfo(c *call, p v11GroupParams) (*v11Group, error) {
	room, err := c.v11Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	g, err := c.bot.bot.Group(c.ctx, room)
	if err != nil {
		return nil, err
	}
	return c.v11GroupInfo(g)
}

func v11GetGroupList(c *call) ([]*v11Group, error) {
	groups, err := c.bot.bot.Groups(c.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*v11Group, 0, len(groups))
	for _, g := range groups {
		m, err := c.v11GroupInfo(g)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// v11GroupMember answers get_group_member_info and is an entry of get_group_member_list
// (go-cqhttp's fields; those Matrix has no counterpart for are zero).
type v11GroupMember struct {
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

func (c *call) v11Member(m model.Member) (*v11GroupMember, error) {
	g, err := c.v11Num(storage.KindRoom, string(m.RoomID))
	if err != nil {
		return nil, err
	}
	u, err := c.v11Num(storage.KindUser, string(m.UserID))
	if err != nil {
		return nil, err
	}
	nick := m.DisplayName
	if nick == "" {
		nick = m.UserID.Localpart()
	}
	return &v11GroupMember{
		GroupID: g, UserID: u, Nickname: nick, Card: m.DisplayName, Sex: "unknown", Role: string(m.Role),
		MatrixUserID: string(m.UserID), MatrixPowerLevel: jsonPower(m.PowerLevel),
	}, nil
}

func v11GetGroupMemberInfo(c *call, p v11GroupMemberParams) (*v11GroupMember, error) {
	room, u, err := c.v11RoomUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	m, err := c.bot.bot.GroupMember(c.ctx, room, u)
	if err != nil {
		return nil, err
	}
	return c.v11Member(m)
}

func v11GetGroupMemberList(c *call, p v11GroupParams) ([]*v11GroupMember, error) {
	room, err := c.v11Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	members, err := c.bot.bot.GroupMembers(c.ctx, room)
	if err != nil {
		return nil, err
	}
	out := make([]*v11GroupMember, 0, len(members))
	for _, m := range members {
		mm, err := c.v11Member(m)
		if err != nil {
			return nil, err
		}
		out = append(out, mm)
	}
	return out, nil
}

func v11SetGroupName(c *call, p v11SetGroupNameParams) (*noData, error) {
	room, err := c.v11Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.SetGroupName(c.ctx, room, p.GroupName)
}

// v11SetGroupLeave leaves the room; is_dismiss is ignored (a Matrix room cannot be dissolved).
func v11SetGroupLeave(c *call, p v11SetGroupLeaveParams) (*noData, error) {
	room, err := c.v11Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	return nil, c.bot.bot.LeaveGroup(c.ctx, room)
}

// v11SetGroupKick kicks; with reject_add_request the user is banned instead, so they cannot
// come back.
func v11SetGroupKick(c *call, p v11SetGroupKickParams) (*noData, error) {
	room, u, err := c.v11RoomUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	if p.RejectAddRequest {
		return nil, c.bot.bot.Ban(c.ctx, room, u, "")
	}
	return nil, c.bot.bot.Kick(c.ctx, room, u, "")
}

// maxMute is the longest mute, as in QQ and go-cqhttp (30 days); a permanent ban is
// set_group_kick with reject_add_request (v12 matrix.ban).
const maxMute = 30 * 24 * time.Hour

// muteFor mutes u in room for seconds (0 lifts the mute), the Matrix way (model.Muter).
func muteFor(c *call, room id.RoomID, u id.UserID, seconds int64) (*noData, error) {
	if seconds < 0 || time.Duration(seconds) > maxMute/time.Second {
		return nil, model.Errorf(model.ErrBadParam, "duration must be from 0 (lift the mute) to %d seconds (30 days); "+
			"for a ban, use set_group_kick with reject_add_request (v12 matrix.ban)", int64(maxMute/time.Second))
	}
	m, ok := model.As[model.Muter](c.bot.bot)
	if !ok {
		return nil, protoErr(v12UnsupportedAction, v11UnsupportedAction, "this bot cannot mute")
	}
	return nil, m.Mute(c.ctx, room, u, time.Duration(seconds)*time.Second)
}

// defaultMute is set_group_ban's duration when none is given (go-cqhttp's default).
const defaultMute = 30 * 60

// v11SetGroupBan is QQ's timed mute: the user's power level goes below what sending messages
// requires for duration seconds (default 1800), and back after; duration 0 lifts it. It never
// bans: the user stays in the room.
func v11SetGroupBan(c *call, p v11SetGroupBanParams) (*noData, error) {
	room, u, err := c.v11RoomUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	d := int64(defaultMute)
	if p.Duration != nil {
		d = int64(*p.Duration)
	}
	return muteFor(c, room, u, d)
}

type v12MuteParams struct {
	GroupID  string `json:"group_id"`
	UserID   string `json:"user_id"`
	Duration *int64 `json:"duration,omitempty"`
}

// v12Mute is matrix.mute: v11 set_group_ban for v12 (duration in seconds, default 1800).
func v12Mute(c *call, p v12MuteParams) (*noData, error) {
	room, err := v12Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	u, err := v12User(p.UserID, "user_id")
	if err != nil {
		return nil, err
	}
	d := int64(defaultMute)
	if p.Duration != nil {
		d = *p.Duration
	}
	return muteFor(c, room, u, d)
}
