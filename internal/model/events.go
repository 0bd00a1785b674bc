package model

import (
	"context"
	"encoding/json"
	"time"

	"maunium.net/go/mautrix/id"
)

// Event kinds other than messages. Each kind sets the Event field of the same name.
const (
	KindMember   Kind = "member"   // Event.Member: someone joined or left a room
	KindDelete   Kind = "delete"   // Event.Delete: a message was redacted
	KindReaction Kind = "reaction" // Event.Reaction: an m.reaction annotation
	KindEdit     Kind = "edit"     // Event.Edit: an m.replace edit by the original sender
	KindTyping   Kind = "typing"   // Event.Typing: who is typing in a room (opt-in)
	KindReceipt  Kind = "receipt"  // Event.Receipt: a read receipt (opt-in)
	KindInvite   Kind = "invite"   // Event.Invite: the bot was invited and did not accept by itself
)

// MemberChangeKind says how a room's membership changed.
type MemberChangeKind string

const (
	MemberJoin   MemberChangeKind = "join"   // joined on their own
	MemberInvite MemberChangeKind = "invite" // joined after an invite (Operator invited them)
	MemberLeave  MemberChangeKind = "leave"  // left on their own
	MemberKick   MemberChangeKind = "kick"   // removed by Operator
	MemberBan    MemberChangeKind = "ban"    // banned by Operator (removed and kept out)
)

// MemberChange is a join or a departure in a room.
type MemberChange struct {
	EventID  id.EventID
	RoomID   id.RoomID
	UserID   id.UserID // whose membership changed
	Operator id.UserID // who changed it: UserID itself for join and leave
	Change   MemberChangeKind
	Direct   bool // the room is a direct chat
}

// Increase tells whether the room gained a member.
func (m *MemberChange) Increase() bool { return m.Change == MemberJoin || m.Change == MemberInvite }

// Deletion is a redacted message.
type Deletion struct {
	EventID   id.EventID // the redaction event
	RoomID    id.RoomID
	MessageID id.EventID // the redacted message
	Sender    id.UserID  // who sent the redacted message
	Operator  id.UserID  // who redacted it
	Reason    string
	Direct    bool
}

// Reaction is an m.reaction (annotation) on a message.
type Reaction struct {
	EventID      id.EventID // the reaction event
	RoomID       id.RoomID
	Sender       id.UserID
	Target       id.EventID // the message reacted to
	TargetSender id.UserID  // its sender, "" when the gateway never saw it
	Key          string     // the emoji or text
	Direct       bool
}

// Edit is a message replaced by its own sender (m.replace); edits by anyone else are dropped.
type Edit struct {
	EventID  id.EventID // the edit event
	RoomID   id.RoomID
	Sender   id.UserID
	Target   id.EventID // the edited message
	MsgType  string
	Segments []Segment // the new content
	Plain    string
	Direct   bool
}

// Typing is the set of users typing in a room now (the bot left out).
type Typing struct {
	RoomID  id.RoomID
	UserIDs []id.UserID
	Direct  bool
}

// Receipt is a read receipt: UserID has read up to EventID.
type Receipt struct {
	RoomID  id.RoomID
	EventID id.EventID
	UserID  id.UserID
	Type    string // m.read or m.read.private
	Direct  bool
}

// Invite is an invite the bot did not accept by itself; a client accepts or declines it.
type Invite struct {
	RoomID   id.RoomID
	Inviter  id.UserID
	RoomName string
	Direct   bool // the inviter marked it as a direct chat
}

// UserInfo is a Matrix user's public profile.
type UserInfo struct {
	UserID      id.UserID
	DisplayName string
	AvatarURL   string
}

// Friend is a user the bot has a direct room with.
type Friend struct {
	UserID      id.UserID
	DisplayName string
	RoomID      id.RoomID
}

// GroupInfo describes a room.
type GroupInfo struct {
	RoomID      id.RoomID
	Name        string // m.room.name, else the canonical alias, else ""
	MemberCount int    // joined members
}

// Role of a member, from power levels: owner ≥ 100, admin ≥ 50, member below.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// RoleOf maps a power level to a role.
func RoleOf(level int) Role {
	switch {
	case level >= 100:
		return RoleOwner
	case level >= 50:
		return RoleAdmin
	}
	return RoleMember
}

// Member is one joined member of a room.
type Member struct {
	RoomID      id.RoomID
	UserID      id.UserID
	DisplayName string
	PowerLevel  int // math.MaxInt for the creators of a version 12 room
	Role        Role
}

// CreateRoom is what matrix.create_room asks for.
type CreateRoom struct {
	Name       string
	Topic      string
	Alias      string // room_alias_name: the local part of #alias:server
	Invite     []id.UserID
	IsDirect   bool
	Preset     string // private_chat, public_chat, trusted_private_chat
	Visibility string // private or public (room directory)
	// Encrypted asks for an encrypted room (m.room.encryption in the initial state); nil means
	// encrypted when the bot does end-to-end encryption. True for a bot without it is an error.
	Encrypted *bool
}

// ReactOptions tune matrix.react.
type ReactOptions struct {
	// Encrypted sends the reaction encrypted in an encrypted room; nil means the gateway's
	// default (GATEWAY_ENCRYPT_REACTIONS, off: reactions go unencrypted, as Element sends them).
	Encrypted *bool
	// Idempotency, when set, makes a retried reaction post once (see IdempotentSender).
	Idempotency *Idempotency
}

// RawRequest is a Client-Server API call the gateway has no action for.
type RawRequest struct {
	Method string
	Path   string // must start with /_matrix/client/
	Query  map[string]string
	Body   json.RawMessage
}

// RawResponse is the homeserver's answer to a RawRequest (also when it is an error status).
type RawResponse struct {
	Status int
	Body   json.RawMessage
}

// RoomActions are the actions on rooms, members, messages and the raw API that a bot serves
// beyond sending messages. Every homeserver refusal is an *ActionError of kind ErrPlatform (or
// ErrNotFound / ErrRateLimited) carrying the Matrix errcode.
type RoomActions interface {
	// DeleteMessage redacts a message; room may be "" when the gateway has seen the message.
	DeleteMessage(ctx context.Context, room id.RoomID, msg id.EventID, reason string) error
	// React sends an m.reaction annotation with key to msg; room as for DeleteMessage.
	React(ctx context.Context, room id.RoomID, msg id.EventID, key string, opts ReactOptions) (Sent, error)
	UserInfo(ctx context.Context, u id.UserID) (UserInfo, error)
	Friends(ctx context.Context) ([]Friend, error)
	Groups(ctx context.Context) ([]GroupInfo, error)
	Group(ctx context.Context, room id.RoomID) (GroupInfo, error)
	GroupMembers(ctx context.Context, room id.RoomID) ([]Member, error)
	GroupMember(ctx context.Context, room id.RoomID, u id.UserID) (Member, error)
	SetGroupName(ctx context.Context, room id.RoomID, name string) error
	LeaveGroup(ctx context.Context, room id.RoomID) error
	Kick(ctx context.Context, room id.RoomID, u id.UserID, reason string) error
	// Ban bans u from room. Matrix bans have no duration: they last until Unban.
	Ban(ctx context.Context, room id.RoomID, u id.UserID, reason string) error
	Unban(ctx context.Context, room id.RoomID, u id.UserID) error
	// AnswerInvite joins room (accept) or rejects the invite to it.
	AnswerInvite(ctx context.Context, room id.RoomID, accept bool, reason string) error
	SetTyping(ctx context.Context, room id.RoomID, typing bool, timeout time.Duration) error
	MarkRead(ctx context.Context, room id.RoomID, msg id.EventID) error
	// JoinRoom joins a room by ID or alias and returns its ID.
	JoinRoom(ctx context.Context, roomOrAlias string) (id.RoomID, error)
	Invite(ctx context.Context, room id.RoomID, u id.UserID, reason string) error
	CreateRoom(ctx context.Context, req CreateRoom) (id.RoomID, error)
}

// RawAPI is a Bot that reaches room state and the Client-Server API directly (the Matrix
// extensions matrix.get_room_state, matrix.send_state_event, matrix.raw_request). It is apart
// from Bot so that Bot stays within 25 methods; ask for it with As.
type RawAPI interface {
	// RoomState returns the whole state (a JSON array of events) when evtType is "", else the
	// content of one state event.
	RoomState(ctx context.Context, room id.RoomID, evtType, stateKey string) (json.RawMessage, error)
	SendState(ctx context.Context, room id.RoomID, evtType, stateKey string, content json.RawMessage) (id.EventID, error)
	RawRequest(ctx context.Context, req RawRequest) (RawResponse, error)
}

// Muter is a Bot that mutes room members for a time (OneBot v11 set_group_ban): Matrix has no
// timed ban, so a mute lowers the user's power level below what sending messages requires and
// restores it when d has passed (also across restarts). d == 0 lifts a mute at once.
type Muter interface {
	Mute(ctx context.Context, room id.RoomID, u id.UserID, d time.Duration) error
}

// Moderator is a Bot that changes power levels and its own per-room profile (OneBot v11
// set_group_admin, set_group_whole_ban, set_group_card for the bot itself).
type Moderator interface {
	// SetAdmin gives u power level 50 in room (admin), or takes u's own level away (the room's
	// users_default applies).
	SetAdmin(ctx context.Context, room id.RoomID, u id.UserID, admin bool) error
	// SetWholeMute raises the room's default send level (events_default) to 50, so only admins
	// can send, or puts back the level it had.
	SetWholeMute(ctx context.Context, room id.RoomID, on bool) error
	// SetOwnRoomName sets the bot's display name in room only ("" = its global one).
	SetOwnRoomName(ctx context.Context, room id.RoomID, name string) error
}

// ReactionReader is a Bot that reads the reactions to a message from the homeserver's
// relations API (Satori reaction.list, and reaction.delete/clear to find what to redact).
type ReactionReader interface {
	// Reactions returns one page of the reactions to msg in room (from "" = the first page) and
	// the token of the next page ("" = none). Encrypted reactions are decrypted and read like plain
	// ones (those the bot has no key for are left out).
	Reactions(ctx context.Context, room id.RoomID, msg id.EventID, from string) (page []Reaction, next string, err error)
}
