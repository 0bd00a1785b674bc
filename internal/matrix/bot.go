package matrix

import (
	"context"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/actions"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Bot is what the hub sees of a bot: model.Bot, each action forwarded to the collaborator that
// serves it, and the optional interfaces as facets (model.As): the messenger (OptionSender,
// MessageGetter, HistoryReader), the idempotency keys (IdempotentSender), the moderator (Muter,
// Moderator), the raw API (RawAPI) and the message actions (ReactionReader).
type Bot struct {
	acct   *account.Account
	out    *messenger
	rooms  *actions.Rooms
	msgs   *actions.Messages
	facets []any
}

var (
	_ model.Bot     = (*Bot)(nil)
	_ model.Faceted = (*Bot)(nil)
)

// UserID implements model.Bot; it is "" until the first whoami when user_id is not configured.
func (b *Bot) UserID() id.UserID { return b.acct.UserID() }

// Name names the bot as the configuration does (its user ID, else its login_user or index):
// OneBot answers use it for a bot whose user ID is not known before it logs in.
func (b *Bot) Name() string { return b.acct.Config.Name() }

// DisplayName implements model.Bot.
func (b *Bot) DisplayName() string { return b.acct.DisplayName() }

// Status implements model.Bot.
func (b *Bot) Status() model.BotStatus { return b.acct.Status() }

// Facets implements model.Faceted.
func (b *Bot) Facets() []any { return b.facets }

// SendMessage implements model.Bot.
func (b *Bot) SendMessage(ctx context.Context, to model.Target, segs []model.Segment) (model.Sent, error) {
	return b.out.SendMessage(ctx, to, segs)
}

// DeleteMessage implements model.RoomActions.
func (b *Bot) DeleteMessage(ctx context.Context, room id.RoomID, msg id.EventID, reason string) error {
	return b.msgs.DeleteMessage(ctx, room, msg, reason)
}

// React implements model.RoomActions.
func (b *Bot) React(ctx context.Context, room id.RoomID, msg id.EventID, key string, opts model.ReactOptions) (model.Sent, error) {
	return b.msgs.React(ctx, room, msg, key, opts)
}

// SetTyping implements model.RoomActions.
func (b *Bot) SetTyping(ctx context.Context, room id.RoomID, typing bool, timeout time.Duration) error {
	return b.msgs.SetTyping(ctx, room, typing, timeout)
}

// MarkRead implements model.RoomActions.
func (b *Bot) MarkRead(ctx context.Context, room id.RoomID, msg id.EventID) error {
	return b.msgs.MarkRead(ctx, room, msg)
}

// UserInfo implements model.RoomActions.
func (b *Bot) UserInfo(ctx context.Context, u id.UserID) (model.UserInfo, error) {
	return b.rooms.UserInfo(ctx, u)
}

// Friends implements model.RoomActions.
func (b *Bot) Friends(ctx context.Context) ([]model.Friend, error) { return b.rooms.Friends(ctx) }

// Groups implements model.RoomActions.
func (b *Bot) Groups(ctx context.Context) ([]model.GroupInfo, error) { return b.rooms.Groups(ctx) }

// Group implements model.RoomActions.
func (b *Bot) Group(ctx context.Context, room id.RoomID) (model.GroupInfo, error) {
	return b.rooms.Group(ctx, room)
}

// GroupMembers implements model.RoomActions.
func (b *Bot) GroupMembers(ctx context.Context, room id.RoomID) ([]model.Member, error) {
	return b.rooms.GroupMembers(ctx, room)
}

// GroupMember implements model.RoomActions.
func (b *Bot) GroupMember(ctx context.Context, room id.RoomID, u id.UserID) (model.Member, error) {
	return b.rooms.GroupMember(ctx, room, u)
}

// SetGroupName implements model.RoomActions.
func (b *Bot) SetGroupName(ctx context.Context, room id.RoomID, name string) error {
	return b.rooms.SetGroupName(ctx, room, name)
}

// LeaveGroup implements model.RoomActions.
func (b *Bot) LeaveGroup(ctx context.Context, room id.RoomID) error {
	return b.rooms.LeaveGroup(ctx, room)
}

// Kick implements model.RoomActions.
func (b *Bot) Kick(ctx context.Context, room id.RoomID, u id.UserID, reason string) error {
	return b.rooms.Kick(ctx, room, u, reason)
}

// Ban implements model.RoomActions.
func (b *Bot) Ban(ctx context.Context, room id.RoomID, u id.UserID, reason string) error {
	return b.rooms.Ban(ctx, room, u, reason)
}

// Unban implements model.RoomActions.
func (b *Bot) Unban(ctx context.Context, room id.RoomID, u id.UserID) error {
	return b.rooms.Unban(ctx, room, u)
}

// AnswerInvite implements model.RoomActions.
func (b *Bot) AnswerInvite(ctx context.Context, room id.RoomID, accept bool, reason string) error {
	return b.rooms.AnswerInvite(ctx, room, accept, reason)
}

// JoinRoom implements model.RoomActions.
func (b *Bot) JoinRoom(ctx context.Context, roomOrAlias string) (id.RoomID, error) {
	return b.rooms.JoinRoom(ctx, roomOrAlias)
}

// Invite implements model.RoomActions.
func (b *Bot) Invite(ctx context.Context, room id.RoomID, u id.UserID, reason string) error {
	return b.rooms.Invite(ctx, room, u, reason)
}

// CreateRoom implements model.RoomActions.
func (b *Bot) CreateRoom(ctx context.Context, req model.CreateRoom) (id.RoomID, error) {
	return b.rooms.CreateRoom(ctx, req)
}
