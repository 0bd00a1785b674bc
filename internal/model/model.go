// Package model holds the neutral events and actions that flow between the Matrix side
// (internal/matrix) and the OneBot side (internal/gateway). Neither side imports the other:
// Matrix → session → model.Event → codec (v11 | v12) → transports, and actions come back the
// same way through the Bot interface.
package model

import (
	"context"
	"time"

	"maunium.net/go/mautrix/id"
)

// Platform is the OneBot v12 platform name of every bot of this gateway.
const Platform = "matrix"

// Kind tells which part of an Event is set.
type Kind string

const (
	KindMessage Kind = "message"
)

// Event is one thing that happened on the Matrix side that OneBot clients are told about.
type Event struct {
	ID   string    // unique and stable: the Matrix event ID where there is one
	Time time.Time // origin_server_ts
	Self id.UserID // the bot that saw it
	Kind Kind
	// Replayed marks an event handed over again after a restart interrupted its batch: a client
	// may have had it already (OneBot: matrix.replayed / matrix_replayed).
	Replayed bool
	// Decrypted tells that the event arrived end-to-end encrypted and the gateway decrypted it:
	// what it carries is plaintext the homeserver never saw, so it is kept at rest (an outbox)
	// only as long as GATEWAY_ENCRYPTED_BODY_RETENTION allows.
	Decrypted bool
	Message   *Message // for KindMessage
	// The other kinds (events.go): the field named after the kind is set.
	Member   *MemberChange
	Delete   *Deletion
	Reaction *Reaction
	Edit     *Edit
	Typing   *Typing
	Receipt  *Receipt
	Invite   *Invite
}

// Message is a room message as seen by a bot.
type Message struct {
	EventID    id.EventID
	RoomID     id.RoomID
	Sender     id.UserID
	SenderName string // display name in the room when known
	// SenderRole is the sender's role in the room from its power levels when the message was
	// converted (RoleOf; the creators of a version 12 room are owners); "" when unknown.
	SenderRole Role
	Direct     bool   // the room is a direct chat (m.direct) → OneBot private message
	MsgType    string // m.text, m.notice, m.emote, …
	Segments   []Segment
	Plain      string // alt_message: a plain-text rendering of Segments
}

// Target says where an outgoing message goes: a room, or a user's direct chat.
type Target struct {
	RoomID id.RoomID // set for a group (room) message
	UserID id.UserID // set for a private message; the bot finds or creates the direct room
}

// Sent describes a message the bot sent.
type Sent struct {
	EventID id.EventID
	RoomID  id.RoomID
	Time    time.Time
}

// BotState is where a bot's connection to its homeserver stands.
type BotState string

const (
	StateStarting BotState = "starting"
	StateSyncing  BotState = "syncing" // healthy
	StateBackoff  BotState = "backoff" // transient failure, retrying
	StateOffline  BotState = "offline" // needs the operator (token rejected, …)
	StateStopped  BotState = "stopped"
)

// BotStatus is a snapshot of a bot's health.
type BotStatus struct {
	State  BotState
	Reason string // why it is not syncing; empty when healthy
	Since  time.Time
	// SessionRetried is set with StateBackoff when the homeserver refused the bot's session and
	// the gateway tries once more before the bot is offline: the bot has no usable token.
	SessionRetried bool
}

// Online tells whether the bot can talk to its homeserver now: it syncs, or it retries after a
// transient failure with a session that still holds. A bot whose session is being retried is
// not online.
func (s BotStatus) Online() bool {
	return s.State == StateSyncing || (s.State == StateBackoff && !s.SessionRetried)
}

// Good tells whether everything works as it should.
func (s BotStatus) Good() bool { return s.State == StateSyncing }

// Bot is what the OneBot side needs from one Matrix bot.
type Bot interface {
	UserID() id.UserID
	DisplayName() string
	Status() BotStatus
	SendMessage(ctx context.Context, to Target, segs []Segment) (Sent, error)
	RoomActions // events.go
}

// Sink receives the events of the bots. Publish never blocks on a slow consumer: it returns once
// the event is queued on every connection that wants it (a connection that cannot keep up is
// dropped and counted). While no consumer of the bot's events exists at all, Publish waits for
// one (unless the hub is told not to), so that the sync position only moves past events that
// were handed over; it returns ctx's error when ctx ends first.
type Sink interface {
	Publish(ctx context.Context, ev *Event) error
	BotStatusChanged(self id.UserID, st BotStatus)
}
