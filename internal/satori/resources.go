package satori

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/satori/element"
)

// call is one API request: the bot it is for and its JSON body.
type call struct {
	face  *Face
	bot   model.Bot
	login Login
	body  json.RawMessage
	// contentType is the request's Content-Type (upload.create's body is multipart).
	contentType string
	// client names the caller for per-client quotas (face.ClientKey).
	client string
}

// params decodes the body into p; a malformed body is ErrBadParam.
func (c *call) params(p any) error {
	if len(c.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.body, p); err != nil {
		return model.Errorf(model.ErrBadParam, "the body is not the JSON object this method takes: %v", err)
	}
	return nil
}

func required(name, v string) error {
	if v == "" {
		return model.Errorf(model.ErrBadParam, "%s is required", name)
	}
	return nil
}

// resources is the method table of the API: "resource.method" to its row (methods.go), which
// carries the Go types its body is decoded into and its answer encoded from; api/openapi.yaml
// documents each row, and TestOpenAPIDocumentsTheMethods holds them together.
var resources = map[string]method{
	"login.get":           noParams(loginGet),
	"user.get":            typed(userGet),
	"user.channel.create": typed(userChannelCreate),
	"friend.list":         noParams(friendList),
	"guild.get":           typed(guildGet),
	"guild.list":          noParams(guildList),
	"channel.get":         typed(channelGet),
	"channel.list":        typed(channelList),
	"guild.member.get":    typed(guildMemberGet),
	"guild.member.list":   typed(guildMemberList),
	"guild.member.kick":   typed(guildMemberKick),
	"guild.member.mute":   typed(guildMemberMute),
	"channel.mute":        typed(channelMute),
	"message.create":      typed(messageCreate),
	"message.get":         typed(messageGet),
	"message.delete":      typed(messageDelete),
	"message.list":        typed(messageList), // messagelist.go
	"message.update":      typed(messageUpdate),
	"reaction.create":     typed(reactionCreate),
	"reaction.delete":     typed(reactionDelete), // reactions.go
	"reaction.clear":      typed(reactionClear),
	"reaction.list":       typed(reactionList),
	"upload.create":       multipartRow(uploadCreate), // upload.go
	"guild.approve":       typed(requestApprove),      // requests.go
	"friend.approve":      typed(requestApprove),
}

// unserved are the methods of the Satori protocol this gateway does not serve, with why: a
// client gets 501 naming the method, not a 404 that reads like a typo.
var unserved = map[string]string{
	"channel.create":          "a Matrix room is a guild with one channel: create a room instead (not served yet)",
	"channel.update":          "a Matrix room is a guild with one channel (not served yet)",
	"channel.delete":          "a Matrix room cannot be deleted",
	"guild.member.approve":    "Matrix has no join requests to answer here (knocks are not served)",
	"guild.member.role.set":   "Matrix has power levels, not roles",
	"guild.member.role.unset": "Matrix has power levels, not roles",
	"guild.role.list":         "Matrix has power levels, not roles",
	"guild.role.create":       "Matrix has power levels, not roles",
	"guild.role.update":       "Matrix has power levels, not roles",
	"guild.role.delete":       "Matrix has power levels, not roles",
	"friend.delete":           "Matrix has no friends list to remove from",
}

func loginGet(_ context.Context, c *call) (Login, error) { return c.login, nil }

// userParams name a user (user.get, user.channel.create).
type userParams struct {
	UserID string `json:"user_id"`
}

func userGet(ctx context.Context, c *call, p userParams) (User, error) {
	if err := required("user_id", p.UserID); err != nil {
		return User{}, err
	}
	info, err := c.bot.UserInfo(ctx, id.UserID(p.UserID))
	if err != nil {
		return User{}, err
	}
	return User{ID: string(info.UserID), Name: info.DisplayName, Avatar: info.AvatarURL}, nil
}

// privatePrefix marks a direct channel whose room the bot has not made yet: the first message
// to it finds or creates the direct room (as OneBot private messages do).
const privatePrefix = "private:"

func userChannelCreate(ctx context.Context, c *call, p userParams) (Channel, error) {
	if err := required("user_id", p.UserID); err != nil {
		return Channel{}, err
	}
	friends, err := c.bot.Friends(ctx)
	if err != nil {
		return Channel{}, err
	}
	for _, f := range friends {
		if string(f.UserID) == p.UserID {
			return Channel{ID: string(f.RoomID), Type: ChannelDirect, Name: f.DisplayName}, nil
		}
	}
	return Channel{ID: privatePrefix + p.UserID, Type: ChannelDirect}, nil
}

// Friend is an entry of friend.list.
type Friend struct {
	User User   `json:"user"`
	Nick string `json:"nick,omitempty"`
}

func friendList(ctx context.Context, c *call) (List[Friend], error) {
	friends, err := c.bot.Friends(ctx)
	if err != nil {
		return List[Friend]{}, err
	}
	out := List[Friend]{Data: []Friend{}}
	for _, f := range friends {
		out.Data = append(out.Data, Friend{User: User{ID: string(f.UserID), Name: f.DisplayName}})
	}
	return out, nil
}

// roomParam reads a room ID parameter (guild_id or channel_id).
func roomParam(name, v string) (id.RoomID, error) {
	if err := required(name, v); err != nil {
		return "", err
	}
	if !strings.HasPrefix(v, "!") {
		return "", model.Errorf(model.ErrBadParam, "%s must be a Matrix room ID (!…), got %q", name, v)
	}
	return id.RoomID(v), nil
}

// guildParams name a guild (a room).
type guildParams struct {
	GuildID string `json:"guild_id"`
}

func guildGet(ctx context.Context, c *call, p guildParams) (Guild, error) {
	room, err := roomParam("guild_id", p.GuildID)
	if err != nil {
		return Guild{}, err
	}
	g, err := c.bot.Group(ctx, room)
	if err != nil {
		return Guild{}, err
	}
	return Guild{ID: string(g.RoomID), Name: g.Name}, nil
}

func guildList(ctx context.Context, c *call) (List[Guild], error) {
	groups, err := c.bot.Groups(ctx)
	if err != nil {
		return List[Guild]{}, err
	}
	out := List[Guild]{Data: []Guild{}}
	for _, g := range groups {
		out.Data = append(out.Data, Guild{ID: string(g.RoomID), Name: g.Name})
	}
	return out, nil
}

// channelOf describes a room as a channel: direct when it is the bot's direct room with someone.
func channelOf(ctx context.Context, bot model.Bot, room id.RoomID) (Channel, error) {
	friends, err := bot.Friends(ctx)
	if err != nil {
		return Channel{}, err
	}
	for _, f := range friends {
		if f.RoomID == room {
			return Channel{ID: string(room), Type: ChannelDirect, Name: f.DisplayName}, nil
		}
	}
	g, err := bot.Group(ctx, room)
	if err != nil {
		return Channel{}, err
	}
	return Channel{ID: string(room), Type: ChannelText, Name: g.Name}, nil
}

// channelParams name a channel (a room, or private:@user).
type channelParams struct {
	ChannelID string `json:"channel_id"`
}

func channelGet(ctx context.Context, c *call, p channelParams) (Channel, error) {
	if u, ok := strings.CutPrefix(p.ChannelID, privatePrefix); ok && u != "" {
		return Channel{ID: p.ChannelID, Type: ChannelDirect}, nil
	}
	room, err := roomParam("channel_id", p.ChannelID)
	if err != nil {
		return Channel{}, err
	}
	return channelOf(ctx, c.bot, room)
}

func channelList(ctx context.Context, c *call, p guildParams) (List[Channel], error) {
	room, err := roomParam("guild_id", p.GuildID)
	if err != nil {
		return List[Channel]{}, err
	}
	ch, err := channelOf(ctx, c.bot, room)
	if err != nil {
		return List[Channel]{}, err
	}
	return List[Channel]{Data: []Channel{ch}}, nil
}

func memberOf(m model.Member) Member {
	return Member{User: &User{ID: string(m.UserID), Name: m.DisplayName}, Nick: m.DisplayName, Name: m.DisplayName}
}

// memberParams name a member of a guild.
type memberParams struct {
	GuildID string `json:"guild_id"`
	UserID  string `json:"user_id"`
}

func (p memberParams) member() (id.RoomID, error) {
	room, err := roomParam("guild_id", p.GuildID)
	if err == nil {
		err = required("user_id", p.UserID)
	}
	return room, err
}

func guildMemberGet(ctx context.Context, c *call, p memberParams) (Member, error) {
	room, err := p.member()
	if err != nil {
		return Member{}, err
	}
	m, err := c.bot.GroupMember(ctx, room, id.UserID(p.UserID))
	if err != nil {
		return Member{}, err
	}
	return memberOf(m), nil
}

func guildMemberList(ctx context.Context, c *call, p guildParams) (List[Member], error) {
	room, err := roomParam("guild_id", p.GuildID)
	if err != nil {
		return List[Member]{}, err
	}
	members, err := c.bot.GroupMembers(ctx, room)
	if err != nil {
		return List[Member]{}, err
	}
	out := List[Member]{Data: []Member{}}
	for _, m := range members {
		out.Data = append(out.Data, memberOf(m))
	}
	return out, nil
}

// kickParams are guild.member.kick's.
type kickParams struct {
	memberParams
	Permanent bool `json:"permanent,omitempty"`
}

// guildMemberKick removes a member; permanent bans (Matrix bans last until unbanned).
func guildMemberKick(ctx context.Context, c *call, p kickParams) (Empty, error) {
	room, err := p.member()
	if err != nil {
		return Empty{}, err
	}
	if p.Permanent {
		return Empty{}, c.bot.Ban(ctx, room, id.UserID(p.UserID), "")
	}
	return Empty{}, c.bot.Kick(ctx, room, id.UserID(p.UserID), "")
}

// muteParams are guild.member.mute's.
type muteParams struct {
	memberParams
	Duration *float64 `json:"duration"`
}

// guildMemberMute mutes a member for duration milliseconds (0 lifts the mute): Matrix has no
// timed mute, so the bot lowers the member's power level and restores it later (model.Muter).
func guildMemberMute(ctx context.Context, c *call, p muteParams) (Empty, error) {
	room, err := p.member()
	if err == nil && (p.Duration == nil || *p.Duration < 0 || *p.Duration > float64(maxMute.Milliseconds())) {
		err = model.Errorf(model.ErrBadParam, "duration is required: milliseconds from 0 (lift the mute) to %d", maxMute.Milliseconds())
	}
	if err != nil {
		return Empty{}, err
	}
	m, ok := model.As[model.Muter](c.bot)
	if !ok {
		return Empty{}, model.Errorf(model.ErrNotFound, "this bot mutes no members")
	}
	return Empty{}, m.Mute(ctx, room, id.UserID(p.UserID), time.Duration(*p.Duration)*time.Millisecond)
}

// maxMute is the longest mute (as OneBot v11's set_group_ban takes: 30 days).
const maxMute = 30 * 24 * time.Hour

// channelMute lets only admins send in a room (enable) or everyone again (model.Moderator).
// channelMuteParams are channel.mute's.
type channelMuteParams struct {
	ChannelID string `json:"channel_id"`
	Enable    *bool  `json:"enable,omitempty"` // default true
}

func channelMute(ctx context.Context, c *call, p channelMuteParams) (Empty, error) {
	room, err := roomParam("channel_id", p.ChannelID)
	if err != nil {
		return Empty{}, err
	}
	m, ok := model.As[model.Moderator](c.bot)
	if !ok {
		return Empty{}, model.Errorf(model.ErrNotFound, "this bot mutes no channels")
	}
	return Empty{}, m.SetWholeMute(ctx, room, p.Enable == nil || *p.Enable)
}

// target is where message.create sends: a room, or a user's direct chat (private:@user).
func target(channel string) (model.Target, error) {
	if u, ok := strings.CutPrefix(channel, privatePrefix); ok {
		if !strings.HasPrefix(u, "@") {
			return model.Target{}, model.Errorf(model.ErrBadParam, "channel_id %q: a private channel names a Matrix user (private:@user:server)", channel)
		}
		return model.Target{UserID: id.UserID(u)}, nil
	}
	room, err := roomParam("channel_id", channel)
	return model.Target{RoomID: room}, err
}

// createParams are message.create's.
type createParams struct {
	ChannelID string `json:"channel_id"`
	Content   string `json:"content"`
}

func messageCreate(ctx context.Context, c *call, p createParams) ([]Message, error) {
	to, err := target(p.ChannelID)
	if err != nil {
		return nil, err
	}
	els, err := element.Parse(p.Content)
	if err != nil {
		return nil, model.Errorf(model.ErrBadParam, "content: %v", err)
	}
	segs, err := Segments(els)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, model.Errorf(model.ErrBadParam, "content is empty")
	}
	if err := c.face.host.ResolveMedia(ctx, segs); err != nil {
		return nil, err
	}
	sent, err := c.bot.SendMessage(ctx, to, segs)
	if err != nil {
		return nil, err
	}
	ch, guild := place(sent.RoomID, to.UserID != "")
	return []Message{{
		ID: string(sent.EventID), Content: p.Content, Channel: ch, Guild: guild,
		User: &User{ID: c.login.User.ID, Name: c.login.User.Name}, CreatedAt: millis(sent.Time),
	}}, nil
}

// messageParams name a message, and its channel (may be left out when the gateway knows the
// message).
type messageParams struct {
	ChannelID string `json:"channel_id,omitempty"`
	MessageID string `json:"message_id"`
}

// room checks the params and returns the message's room ("" = the gateway's index knows it).
func (p messageParams) room() (id.RoomID, error) {
	if err := required("message_id", p.MessageID); err != nil {
		return "", err
	}
	if strings.HasPrefix(p.ChannelID, privatePrefix) || p.ChannelID == "" {
		return "", nil
	}
	return roomParam("channel_id", p.ChannelID)
}

func messageGet(ctx context.Context, c *call, p messageParams) (Message, error) {
	if _, err := p.room(); err != nil {
		return Message{}, err
	}
	g, ok := model.As[model.MessageGetter](c.bot)
	if !ok {
		return Message{}, model.Errorf(model.ErrNotFound, "this bot keeps no messages")
	}
	ev, err := g.GetMessage(ctx, id.EventID(p.MessageID))
	if err != nil {
		return Message{}, err
	}
	se, ok := EventOf(ev, c.login)
	if !ok || se.Message == nil {
		return Message{}, model.Errorf(model.ErrNotFound, "message %s is not a message", p.MessageID)
	}
	m := *se.Message
	m.Channel, m.Guild, m.Member, m.User = se.Channel, se.Guild, se.Member, se.User
	return m, nil
}

// updateParams are message.update's.
type updateParams struct {
	messageParams
	Content string `json:"content"`
}

// messageUpdate edits one of the bot's own messages (m.replace): text, mentions and markup; the
// original must be a message the gateway knows was sent by this bot.
func messageUpdate(ctx context.Context, c *call, p updateParams) (Empty, error) {
	if err := required("message_id", p.MessageID); err != nil {
		return Empty{}, err
	}
	g, ok := model.As[model.MessageGetter](c.bot)
	sender, ok2 := model.As[model.OptionSender](c.bot)
	if !ok || !ok2 {
		return Empty{}, model.Errorf(model.ErrNotFound, "this bot edits no messages")
	}
	orig, err := g.GetMessage(ctx, id.EventID(p.MessageID))
	if err != nil {
		return Empty{}, err
	}
	if orig.Message == nil || orig.Message.Sender != c.bot.UserID() {
		return Empty{}, model.Errorf(model.ErrBadParam, "message %s is not the bot's own: Matrix shows edits by the original sender only", p.MessageID)
	}
	if p.ChannelID != "" && p.ChannelID != string(orig.Message.RoomID) {
		return Empty{}, model.Errorf(model.ErrNotFound, "message %s is not in channel %s", p.MessageID, p.ChannelID)
	}
	els, err := element.Parse(p.Content)
	if err != nil {
		return Empty{}, model.Errorf(model.ErrBadParam, "content: %v", err)
	}
	segs, err := Segments(els)
	if err != nil {
		return Empty{}, err
	}
	if len(segs) == 0 {
		return Empty{}, model.Errorf(model.ErrBadParam, "content is empty")
	}
	_, err = sender.SendMessageWith(ctx, model.Target{RoomID: orig.Message.RoomID}, segs, model.SendOptions{Replace: id.EventID(p.MessageID)})
	return Empty{}, err
}

func messageDelete(ctx context.Context, c *call, p messageParams) (Empty, error) {
	room, err := p.room()
	if err != nil {
		return Empty{}, err
	}
	return Empty{}, c.bot.DeleteMessage(ctx, room, id.EventID(p.MessageID), "")
}

func reactionCreate(ctx context.Context, c *call, p reactionParams) (Empty, error) {
	room, err := p.room()
	if err != nil {
		return Empty{}, err
	}
	key := firstOf(p.EmojiID, p.Emoji)
	if err := required("emoji_id", key); err != nil {
		return Empty{}, err
	}
	_, err = c.bot.React(ctx, room, id.EventID(p.MessageID), key, model.ReactOptions{})
	return Empty{}, err
}

// unsupported answers a method of the Satori API that this face does not serve.
func unsupported(method string) error {
	return model.Errorf(model.ErrNotFound, "%s is not supported by this gateway", fmt.Sprint(method))
}
