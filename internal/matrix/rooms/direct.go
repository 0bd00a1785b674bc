// Package rooms is what a bot knows about its rooms: which are direct chats (Direct, m.direct),
// who is in them and with what power (State, from the state store the sync keeps current), the
// invites it has seen (Invites), and the messages it has seen or sent (Index).
package rooms

import (
	"context"
	"errors"
	"slices"
	"sync"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
)

// Direct is the bot's m.direct account data both ways.
type Direct struct {
	acct *account.Account

	mu    sync.RWMutex
	rooms map[id.RoomID]id.UserID
	users map[id.UserID][]id.RoomID
}

// NewDirect returns acct's direct rooms, none until Load or the sync tells them.
func NewDirect(acct *account.Account) *Direct {
	return &Direct{acct: acct, rooms: map[id.RoomID]id.UserID{}, users: map[id.UserID][]id.RoomID{}}
}

// Set replaces what is known with content.
func (d *Direct) Set(content event.DirectChatsEventContent) {
	rooms, users := map[id.RoomID]id.UserID{}, map[id.UserID][]id.RoomID{}
	for u, rs := range content {
		for _, r := range rs {
			rooms[r] = u
		}
		users[u] = append([]id.RoomID(nil), rs...)
	}
	d.mu.Lock()
	d.rooms, d.users = rooms, users
	d.mu.Unlock()
}

// IsDirect tells whether room is a direct chat.
func (d *Direct) IsDirect(room id.RoomID) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, ok := d.rooms[room]
	return ok
}

// Users are the users the bot has a direct room with, sorted.
func (d *Direct) Users() []id.UserID {
	d.mu.RLock()
	users := make([]id.UserID, 0, len(d.users))
	for u := range d.users {
		users = append(users, u)
	}
	d.mu.RUnlock()
	slices.Sort(users)
	return users
}

// RoomWith returns the newest direct room with u the bot is still in, or "".
func (d *Direct) RoomWith(ctx context.Context, u id.UserID) id.RoomID {
	d.mu.RLock()
	rooms := slices.Clone(d.users[u])
	d.mu.RUnlock()
	for i := len(rooms) - 1; i >= 0; i-- {
		if d.acct.StateStore == nil || d.acct.StateStore.IsInRoom(ctx, rooms[i], d.acct.UserID()) {
			return rooms[i]
		}
	}
	return ""
}

// Load reads m.direct at start: an incremental sync only reports later changes.
func (d *Direct) Load(ctx context.Context) {
	var content event.DirectChatsEventContent
	err := d.acct.Client().GetAccountData(ctx, event.AccountDataDirectChats.Type, &content)
	if err != nil && !errors.Is(err, mautrix.MNotFound) {
		d.acct.Log().Warn("failed to load direct rooms (m.direct)", "error", err)
		return
	}
	d.Set(content)
}

// Add records room as a direct room with u in m.direct, on the homeserver too.
func (d *Direct) Add(ctx context.Context, u id.UserID, room id.RoomID) error {
	d.mu.Lock()
	content := event.DirectChatsEventContent{}
	for user, rooms := range d.users {
		content[user] = slices.Clone(rooms)
	}
	d.mu.Unlock()
	if slices.Contains(content[u], room) {
		return nil
	}
	content[u] = append(content[u], room)
	if err := d.acct.Client().SetAccountData(ctx, event.AccountDataDirectChats.Type, content); err != nil {
		return err
	}
	d.Set(content)
	return nil
}

// HandleAccountData takes m.direct from the sync's account data.
func (d *Direct) HandleAccountData(evt *event.Event) {
	if evt.Type.Type == event.AccountDataDirectChats.Type {
		if c, ok := evt.Content.Parsed.(*event.DirectChatsEventContent); ok {
			d.Set(*c)
		}
	}
}
