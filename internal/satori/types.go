// Package satori is the gateway's third protocol face: the Satori protocol (satori.chat), which
// Koishi speaks natively and NoneBot2 through nonebot-adapter-satori. It serves the HTTP API
// (POST {prefix}/v1/{resource}.{method}), the event stream ({prefix}/v1/events: IDENTIFY, READY,
// PING/PONG, META, EVENT with `sn`, and resume by sn) and the message elements, on the neutral
// model: model.Bot for actions, model.Event for events. A Matrix room is a guild with one text
// channel of the same ID; a direct room is a direct channel without a guild.
package satori

import (
	"encoding/json"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// Opcodes of the event stream.
const (
	OpEvent    = 0 // server → client: an event
	OpPing     = 1 // client → server
	OpPong     = 2 // server → client
	OpIdentify = 3 // client → server: token and the last sn seen
	OpReady    = 4 // server → client: the logins
	OpMeta     = 5 // server → client: proxy_urls changed
)

// Signal is one frame of the event stream.
type Signal struct {
	Op   int             `json:"op"`
	Body json.RawMessage `json:"body,omitempty"`
}

// Identify is the body of IDENTIFY.
type Identify struct {
	Token string `json:"token,omitempty"`
	SN    *int64 `json:"sn,omitempty"`
}

// Ready is the body of READY.
type Ready struct {
	Logins    []Login  `json:"logins"`
	ProxyURLs []string `json:"proxy_urls"`
}

// Login statuses.
const (
	StatusOffline    = 0
	StatusOnline     = 1
	StatusConnect    = 2
	StatusDisconnect = 3
	StatusReconnect  = 4
)

// Login is one bot account.
type Login struct {
	SN       int64    `json:"sn"`
	Platform string   `json:"platform"`
	User     *User    `json:"user"`
	Status   int      `json:"status"`
	Adapter  string   `json:"adapter"`
	Features []string `json:"features"`
	// SelfID is the pre-1.2 spelling of User.ID, which older clients read.
	SelfID string `json:"self_id"`
}

// User is a Matrix user.
type User struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Nick   string `json:"nick,omitempty"`
	Avatar string `json:"avatar,omitempty"`
	IsBot  bool   `json:"is_bot,omitempty"`
}

// Channel types.
const (
	ChannelText   = 0
	ChannelDirect = 1
)

// Channel is a Matrix room seen as a channel.
type Channel struct {
	ID   string `json:"id"`
	Type int    `json:"type"`
	Name string `json:"name,omitempty"`
}

// Guild is a Matrix room seen as a guild.
type Guild struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Avatar string `json:"avatar,omitempty"`
}

// Member is a room member.
type Member struct {
	User     *User  `json:"user,omitempty"`
	Nick     string `json:"nick,omitempty"`
	Name     string `json:"name,omitempty"`
	Avatar   string `json:"avatar,omitempty"`
	JoinedAt int64  `json:"joined_at,omitempty"`
}

// Message is a Matrix message.
type Message struct {
	ID        string   `json:"id"`
	Content   string   `json:"content"`
	Channel   *Channel `json:"channel,omitempty"`
	Guild     *Guild   `json:"guild,omitempty"`
	Member    *Member  `json:"member,omitempty"`
	User      *User    `json:"user,omitempty"`
	CreatedAt int64    `json:"created_at,omitempty"`
	UpdatedAt int64    `json:"updated_at,omitempty"`
}

// Emoji is a reaction key.
type Emoji struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Event is one event of the stream. Besides `login`, it carries `self_id` and `platform` for
// clients of protocol versions before 1.2 (Koishi's @satorijs/adapter-satori 1.x reads them).
type Event struct {
	SN        int64    `json:"sn,omitempty"` // set when the event reaches a stream
	Type      string   `json:"type"`
	Timestamp int64    `json:"timestamp"`
	Login     *Login   `json:"login"`
	SelfID    string   `json:"self_id"`
	Platform  string   `json:"platform"`
	Channel   *Channel `json:"channel,omitempty"`
	Guild     *Guild   `json:"guild,omitempty"`
	Member    *Member  `json:"member,omitempty"`
	Message   *Message `json:"message,omitempty"`
	Operator  *User    `json:"operator,omitempty"`
	User      *User    `json:"user,omitempty"`
	Emoji     *Emoji   `json:"emoji,omitempty"`
}

// List is a page of a list resource; the gateway answers every list in one page.
type List[T any] struct {
	Data []T    `json:"data"`
	Next string `json:"next,omitempty"`
}

// Adapter names this gateway in Login.adapter.
const Adapter = "matrix-onebot"

// LoginOf is the Login of a bot. sn is the login's number in this process.
func LoginOf(b model.Bot, sn int64) Login {
	st := StatusOnline
	switch b.Status().State {
	case model.StateOffline, model.StateStopped:
		st = StatusOffline
	case model.StateStarting:
		st = StatusConnect
	case model.StateBackoff:
		st = StatusReconnect
	}
	u := string(b.UserID())
	return Login{
		SN: sn, Platform: model.Platform, User: &User{ID: u, Name: b.DisplayName(), IsBot: true}, Status: st,
		Adapter: Adapter, Features: features, SelfID: u,
	}
}

// features are the optional resources this face serves (Login.features).
var features = []string{
	"message.delete", "message.update", "message.list",
	"guild.member.get", "guild.member.list",
	"reaction.create", "reaction.delete", "reaction.clear", "reaction.list",
	"upload.create",
}

func userOf(u id.UserID, name string) *User {
	if u == "" {
		return nil
	}
	return &User{ID: string(u), Name: name}
}

// place is where an event happened: a room as a channel, and as a guild unless it is direct.
func place(room id.RoomID, direct bool) (*Channel, *Guild) {
	if room == "" {
		return nil, nil
	}
	if direct {
		return &Channel{ID: string(room), Type: ChannelDirect}, nil
	}
	return &Channel{ID: string(room), Type: ChannelText}, &Guild{ID: string(room)}
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// EventOf converts a neutral event to a Satori event (without sn); ok is false for kinds that
// Satori has no event for (typing, read receipts).
func EventOf(ev *model.Event, login Login) (Event, bool) {
	out := Event{Timestamp: millis(ev.Time), Login: &login, SelfID: login.SelfID, Platform: login.Platform}
	if out.Timestamp == 0 {
		out.Timestamp = time.Now().UnixMilli()
	}
	switch {
	case ev.Kind == model.KindMessage && ev.Message != nil:
		m := ev.Message
		out.Type = "message-created"
		out.Channel, out.Guild = place(m.RoomID, m.Direct)
		out.User = userOf(m.Sender, m.SenderName)
		if !m.Direct {
			out.Member = &Member{Nick: m.SenderName, Name: m.SenderName}
		}
		out.Message = &Message{ID: string(m.EventID), Content: Content(m.Segments), CreatedAt: out.Timestamp}
	case ev.Kind == model.KindEdit && ev.Edit != nil:
		e := ev.Edit
		out.Type = "message-updated"
		out.Channel, out.Guild = place(e.RoomID, e.Direct)
		out.User = userOf(e.Sender, "")
		if !e.Direct {
			out.Member = &Member{}
		}
		out.Message = &Message{ID: string(e.Target), Content: Content(e.Segments), UpdatedAt: out.Timestamp}
	case ev.Kind == model.KindDelete && ev.Delete != nil:
		d := ev.Delete
		out.Type = "message-deleted"
		out.Channel, out.Guild = place(d.RoomID, d.Direct)
		out.User = userOf(d.Sender, "")
		if out.User == nil {
			out.User = userOf(d.Operator, "")
		}
		out.Operator = userOf(d.Operator, "")
		if !d.Direct {
			out.Member = &Member{}
		}
		out.Message = &Message{ID: string(d.MessageID)}
	case ev.Kind == model.KindReaction && ev.Reaction != nil:
		r := ev.Reaction
		out.Type = "reaction-added"
		out.Channel, out.Guild = place(r.RoomID, r.Direct)
		if out.Guild == nil { // the reference clients want a guild on reactions
			out.Guild = &Guild{ID: string(r.RoomID)}
		}
		out.User = userOf(r.Sender, "")
		out.Message = &Message{ID: string(r.Target)}
		out.Emoji = &Emoji{ID: r.Key, Name: r.Key}
	case ev.Kind == model.KindMember && ev.Member != nil:
		m := ev.Member
		out.Type = "guild-member-removed"
		if m.Increase() {
			out.Type = "guild-member-added"
		}
		if string(m.UserID) == login.SelfID { // the bot itself joined or left: a guild came or went
			out.Type = "guild-removed"
			if m.Increase() {
				out.Type = "guild-added"
			}
		}
		out.Channel, out.Guild = place(m.RoomID, false)
		out.User = userOf(m.UserID, "")
		out.Operator = userOf(m.Operator, "")
		out.Member = &Member{User: out.User}
	case ev.Kind == model.KindInvite && ev.Invite != nil:
		// An invite the bot did not accept by itself: a request whose id is the room ID
		// (guild.approve / friend.approve answer it). A direct chat's is a friend request.
		in := ev.Invite
		out.Type = "guild-request"
		if in.Direct {
			out.Type = "friend-request"
		}
		out.Guild = &Guild{ID: string(in.RoomID), Name: in.RoomName}
		out.User = userOf(in.Inviter, "")
		out.Message = &Message{ID: string(in.RoomID), Content: ""}
	default:
		return Event{}, false
	}
	return out, true
}
