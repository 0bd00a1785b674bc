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

// resources maps "resource.method" to its handler.
var resources = map[string]func(ctx context.Context, c *call) (any, error){
	"login.get":           loginGet,
	"user.get":            userGet,
	"user.channel.create": userChannelCreate,
	"friend.list":         friendList,
	"guild.get":           guildGet,
	"guild.list":          guildList,
	"channel.get":         channelGet,
	"channel.list":        channelList,
	"guild.member.get":    guildMemberGet,
	"guild.member.list":   guildMemberList,
	"guild.member.kick":   guildMemberKick,
	"guild.member.mute":   guildMemberMute,
	"channel.mute":        channelMute,
	"message.create":      messageCreate,
	"message.get":         messageGet,
	"message.delete":      messageDelete,
	"message.list":        messageList, // messagelist.go
	"message.update":      messageUpdate,
	"reaction.create":     reactionCreate,
	"reaction.delete":     reactionDelete, // reactions.go
	"reaction.clear":      reactionClear,
	"reaction.list":       reactionList,
	"upload.create":       uploadCreate,   // upload.go
	"guild.approve":       requestApprove, // requests.go
	"friend.approve":      requestApprove,
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

func loginGet(_ context.Context, c *call) (any, error) { return c.login, nil }

func userGet(ctx context.Context, c *call) (any, error) {
	var p struct {
		UserID string `json:"user_id"`
	}
	if err := c.params(&p); err != nil {
		return nil, err
	}
	if err := required("user_id", p.UserID); err != nil {
		return nil, err
	}
	info, err := c.bot.UserInfo(ctx, id.UserID(p.UserID))
	if err != nil {
		return nil, err
	}
	return User{ID: string(info.UserID), Name: info.DisplayName, Avatar: info.AvatarURL}, nil
}

// privatePrefix marks a direct channel whose room the bot has not made yet: the first message
// to it finds or creates the direct room (as OneBot private messages do).
const privatePrefix = "private:"

func userChannelCreate(ctx context.Context, c *call) (any, error) {
	var p struct {
		UserID string `json:"user_id"`
	}
	if err := c.params(&p); err != nil {
		return nil, err
	}
	if err := required("user_id", p.UserID); err != nil {
		return nil, err
	}
	friends, err := c.bot.Friends(ctx)
	if err != nil {
		return nil, err
	}
	for _, f := range friends {
		if string(f.UserID) == p.UserID {
			return Channel{ID: string(f.RoomID), Type: ChannelDirect, Name: f.DisplayName}, nil
		}
	}
	return Channel{ID: privatePrefix + p.UserID, Type: ChannelDirect}, nil
}

func friendList(ctx context.Context, c *call) (any, error) {
	friends, err := c.bot.Friends(ctx)
	if err != nil {
		return nil, err
	}
	type friend struct {
		User User   `json:"user"`
		Nick string `json:"nick,omitempty"`
	}
	out := List[friend]{Data: []friend{}}
	for _, f := range friends {
		out.Data = append(out.Data, friend{User: User{ID: string(f.UserID), Name: f.DisplayName}})
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

func guildGet(ctx context.Context, c *call) (any, error) {
	var p struct {
		GuildID string `json:"guild_id"`
	}
	if err := c.params(&p); err != nil {
		return nil, err
	}
	room, err := roomParam("guild_id", p.GuildID)
	if err != nil {
		return nil, err
	}
	g, err := c.bot.Group(ctx, room)
	if err != nil {
		return nil, err
	}
	return Guild{ID: string(g.RoomID), Name: g.Name}, nil
}

func guildList(ctx context.Context, c *call) (any, error) {
	groups, err := c.bot.Groups(ctx)
	if err != nil {
		return nil, err
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

func channelGet(ctx context.Context, c *call) (any, error) {
	var p struct {
		ChannelID string `json:"channel_id"`
	}
	if err := c.params(&p); err != nil {
		return nil, err
	}
	if u, ok := strings.CutPrefix(p.ChannelID, privatePrefix); ok && u != "" {
		return Channel{ID: p.ChannelID, Type: ChannelDirect}, nil
	}
	room, err := roomParam("channel_id", p.ChannelID)
	if err != nil {
		return nil, err
	}
	return channelOf(ctx, c.bot, room)
}

func channelList(ctx context.Context, c *call) (any, error) {
	var p struct {
		GuildID string `json:"guild_id"`
	}
	if err := c.params(&p); err != nil {
		return nil, err
	}
	room, err := roomParam("guild_id", p.GuildID)
	if err != nil {
		return nil, err
	}
	ch, err := channelOf(ctx, c.bot, room)
	if err != nil {
		return nil, err
	}
	return List[Channel]{Data: []Channel{ch}}, nil
}

func memberOf(m model.Member) Member {
	return Member{User: &User{ID: string(m.UserID), Name: m.DisplayName}, Nick: m.DisplayName, Name: m.DisplayName}
}

type memberParams struct {
	GuildID   string `json:"guild_id"`
	UserID    string `json:"user_id"`
	Permanent bool   `json:"permanent"`
}

func (c *call) member(needUser bool) (id.RoomID, memberParams, error) {
	var p memberParams
	if err := c.params(&p); err != nil {
		return "", p, err
	}
	room, err := roomParam("guild_id", p.GuildID)
	if err == nil && needUser {
		err = required("user_id", p.UserID)
	}
	return room, p, err
}

func guildMemberGet(ctx context.Context, c *call) (any, error) {
	room, p, err := c.member(true)
	if err != nil {
		return nil, err
	}
	m, err := c.bot.GroupMember(ctx, room, id.UserID(p.UserID))
	if err != nil {
		return nil, err
	}
	return memberOf(m), nil
}

func guildMemberList(ctx context.Context, c *call) (any, error) {
	room, _, err := c.member(false)
	if err != nil {
		return nil, err
	}
	members, err := c.bot.GroupMembers(ctx, room)
	if err != nil {
		return nil, err
	}
	out := List[Member]{Data: []Member{}}
	for _, m := range members {
		out.Data = append(out.Data, memberOf(m))
	}
	return out, nil
}

// guildMemberKick removes a member; permanent bans (Matrix bans last until unbanned).
func guildMemberKick(ctx context.Context, c *call) (any, error) {
	room, p, err := c.member(true)
	if err != nil {
		return nil, err
	}
	if p.Permanent {
		return nil, c.bot.Ban(ctx, room, id.UserID(p.UserID), "")
	}
	return nil, c.bot.Kick(ctx, room, id.UserID(p.UserID), "")
}

// guildMemberMute mutes a member for duration milliseconds (0 lifts the mute): Matrix has no
// timed mute, so the bot lowers the member's power level and restores it later (model.Muter).
func guildMemberMute(ctx context.Context, c *call) (any, error) {
	var p struct {
		GuildID  string   `json:"guild_id"`
		UserID   string   `json:"user_id"`
		Duration *float64 `json:"duration"`
	}
	if err := c.params(&p); err != nil {
		return nil, err
	}
	room, err := roomParam("guild_id", p.GuildID)
	if err == nil {
		err = required("user_id", p.UserID)
	}
	if err == nil && (p.Duration == nil || *p.Duration < 0 || *p.Duration > float64(maxMute.Milliseconds())) {
		err = model.Errorf(model.ErrBadParam, "duration is required: milliseconds from 0 (lift the mute) to %d", maxMute.Milliseconds())
	}
	if err != nil {
		return nil, err
	}
	m, ok := model.As[model.Muter](c.bot)
	if !ok {
		return nil, model.Errorf(model.ErrNotFound, "this bot mutes no members")
	}
	return nil, m.Mute(ctx, room, id.UserID(p.UserID), time.Duration(*p.Duration)*time.Millisecond)
}

// maxMute is the longest mute (as OneBot v11's set_group_ban takes: 30 days).
const maxMute = 30 * 24 * time.Hour

// channelMute lets only admins send in a room (enable) or everyone again (model.Moderator).
func channelMute(ctx context.Context, c *call) (any, error) {
	var p struct {
		ChannelID string `json:"channel_id"`
		Enable    *bool  `json:"enable"`
	}
	if err := c.params(&p); err != nil {
		return nil, err
	}
	room, err := roomParam("channel_id", p.ChannelID)
	if err != nil {
		return nil, err
	}
	m, ok := model.As[model.Moderator](c.bot)
	if !ok {
		return nil, model.Errorf(model.ErrNotFound, "this bot mutes no channels")
	}
	return nil, m.SetWholeMute(ctx, room, p.Enable == nil || *p.Enable)
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

func messageCreate(ctx context.Context, c *call) (any, error) {
	var p struct {
		ChannelID string `json:"channel_id"`
		Content   string `json:"content"`
	}
	if err := c.params(&p); err != nil {
		return nil, err
	}
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

type messageParams struct {
	ChannelID string `json:"channel_id"`
	MessageID string `json:"message_id"`
	EmojiID   string `json:"emoji_id"`
	Emoji     string `json:"emoji"` // before protocol 1.1
}

func (c *call) message() (id.RoomID, messageParams, error) {
	var p messageParams
	if err := c.params(&p); err != nil {
		return "", p, err
	}
	if err := required("message_id", p.MessageID); err != nil {
		return "", p, err
	}
	var room id.RoomID
	if !strings.HasPrefix(p.ChannelID, privatePrefix) && p.ChannelID != "" {
		var err error
		if room, err = roomParam("channel_id", p.ChannelID); err != nil {
			return "", p, err
		}
	}
	return room, p, nil
}

func messageGet(ctx context.Context, c *call) (any, error) {
	_, p, err := c.message()
	if err != nil {
		return nil, err
	}
	g, ok := model.As[model.MessageGetter](c.bot)
	if !ok {
		return nil, model.Errorf(model.ErrNotFound, "this bot keeps no messages")
	}
	ev, err := g.GetMessage(ctx, id.EventID(p.MessageID))
	if err != nil {
		return nil, err
	}
	se, ok := EventOf(ev, c.login)
	if !ok || se.Message == nil {
		return nil, model.Errorf(model.ErrNotFound, "message %s is not a message", p.MessageID)
	}
	m := *se.Message
	m.Channel, m.Guild, m.Member, m.User = se.Channel, se.Guild, se.Member, se.User
	return m, nil
}

// messageUpdate edits one of the bot's own messages (m.replace): text, mentions and markup; the
// original must be a message the gateway knows was sent by this bot.
func messageUpdate(ctx context.Context, c *call) (any, error) {
	var p struct {
		messageParams
		Content string `json:"content"`
	}
	if err := c.params(&p); err != nil {
		return nil, err
	}
	if err := required("message_id", p.MessageID); err != nil {
		return nil, err
	}
	g, ok := model.As[model.MessageGetter](c.bot)
	sender, ok2 := model.As[model.OptionSender](c.bot)
	if !ok || !ok2 {
		return nil, model.Errorf(model.ErrNotFound, "this bot edits no messages")
	}
	orig, err := g.GetMessage(ctx, id.EventID(p.MessageID))
	if err != nil {
		return nil, err
	}
	if orig.Message == nil || orig.Message.Sender != c.bot.UserID() {
		return nil, model.Errorf(model.ErrBadParam, "message %s is not the bot's own: Matrix shows edits by the original sender only", p.MessageID)
	}
	if p.ChannelID != "" && p.ChannelID != string(orig.Message.RoomID) {
		return nil, model.Errorf(model.ErrNotFound, "message %s is not in channel %s", p.MessageID, p.ChannelID)
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
	_, err = sender.SendMessageWith(ctx, model.Target{RoomID: orig.Message.RoomID}, segs, model.SendOptions{Replace: id.EventID(p.MessageID)})
	return nil, err
}

func messageDelete(ctx context.Context, c *call) (any, error) {
	room, p, err := c.message()
	if err != nil {
		return nil, err
	}
	return nil, c.bot.DeleteMessage(ctx, room, id.EventID(p.MessageID), "")
}

func reactionCreate(ctx context.Context, c *call) (any, error) {
	room, p, err := c.message()
	if err != nil {
		return nil, err
	}
	key := firstOf(p.EmojiID, p.Emoji)
	if err := required("emoji_id", key); err != nil {
		return nil, err
	}
	_, err = c.bot.React(ctx, room, id.EventID(p.MessageID), key, model.ReactOptions{})
	return nil, err
}

// unsupported answers a method of the Satori API that this face does not serve.
func unsupported(method string) error {
	return model.Errorf(model.ErrNotFound, "%s is not supported by this gateway", fmt.Sprint(method))
}
