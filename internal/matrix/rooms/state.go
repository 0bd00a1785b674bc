package rooms

import (
	"context"
	"sync"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
)

// State answers questions about rooms from the state store, which the sync loop keeps current
// (no homeserver request). Without a state store it knows nothing.
//
// What it read of a room is kept until the sync loop hands it a state event of that room
// (Invalidate): the sync loop asks for the sender's name and role of every message, and a batch
// of messages costs a read of the store per room and sender instead of three per message.
type State struct {
	acct *account.Account

	mu    sync.Mutex
	rooms map[id.RoomID]*roomState
}

// roomState is what State read of one room's state from the store.
type roomState struct {
	role map[id.UserID]model.Role
	name map[id.UserID]string
}

// stateCacheRooms bounds how many rooms State keeps what it read of; past it, it starts over.
const stateCacheRooms = 10000

// NewState returns what acct's state store knows.
func NewState(acct *account.Account) *State {
	return &State{acct: acct, rooms: map[id.RoomID]*roomState{}}
}

// Invalidate forgets what was read of room: a state event of the room changed the store.
func (s *State) Invalidate(room id.RoomID) {
	s.mu.Lock()
	delete(s.rooms, room)
	s.mu.Unlock()
}

// cached runs get on what is kept of room, under the lock.
func (s *State) cached(room id.RoomID, get func(r *roomState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[room]
	if r == nil {
		if len(s.rooms) >= stateCacheRooms {
			clear(s.rooms)
		}
		r = &roomState{role: map[id.UserID]model.Role{}, name: map[id.UserID]string{}}
		s.rooms[room] = r
	}
	get(r)
}

// remember keeps what was read of room, unless the room was invalidated meanwhile (gen is the
// roomState the read started from).
func (s *State) remember(room id.RoomID, gen *roomState, keep func(r *roomState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[room] == gen {
		keep(gen)
	}
}

// MemberName is the display name of u in room, or "".
func (s *State) MemberName(ctx context.Context, room id.RoomID, u id.UserID) string {
	if s.acct.StateStore == nil {
		return ""
	}
	var (
		gen   *roomState
		name  string
		known bool
	)
	s.cached(room, func(r *roomState) { gen = r; name, known = r.name[u] })
	if known {
		return name
	}
	m, err := s.acct.StateStore.TryGetMember(ctx, room, u)
	if err != nil {
		return ""
	}
	if m != nil {
		name = m.Displayname
	}
	s.remember(room, gen, func(r *roomState) { r.name[u] = name })
	return name
}

// MemberRole is u's role in room from the power levels in the state store; "" when the store
// does not know the room. A room without power levels gives its creator 100 and everyone else 0.
func (s *State) MemberRole(ctx context.Context, room id.RoomID, u id.UserID) model.Role {
	if s.acct.StateStore == nil {
		return ""
	}
	var (
		gen   *roomState
		role  model.Role
		known bool
	)
	s.cached(room, func(r *roomState) { gen = r; role, known = r.role[u] })
	if known {
		return role
	}
	role, ok := s.readRole(ctx, room, u)
	if ok {
		s.remember(room, gen, func(r *roomState) { r.role[u] = role })
	}
	return role
}

// readRole reads u's role in room from the store; ok is false when the read failed.
func (s *State) readRole(ctx context.Context, room id.RoomID, u id.UserID) (model.Role, bool) {
	pl, err := s.acct.StateStore.GetPowerLevels(ctx, room)
	if err != nil {
		s.acct.Log().Warn("failed to read power levels from the state store; the sender's role is left out", "room_id", room, "error", err)
		return "", false
	}
	if pl == nil {
		create, err := s.acct.StateStore.GetCreate(ctx, room)
		if err != nil {
			return "", false
		}
		if create == nil {
			return "", true
		}
		if create.Sender == u {
			return model.RoleOwner, true
		}
		pl = &event.PowerLevelsEventContent{CreateEvent: create}
	}
	return model.RoleOf(pl.GetUserLevel(u)), true
}

// Encrypted tells whether room is encrypted, as far as the state store knows
// (account.StoredEncryption, which keeps what it read). The message index keeps the bodies of
// such rooms' messages only for GATEWAY_ENCRYPTED_BODY_RETENTION. When the state store cannot
// tell, the room counts as encrypted.
func (s *State) Encrypted(ctx context.Context, room id.RoomID) bool {
	alg, err := s.acct.StoredEncryption(ctx, room)
	return alg != "" || err != nil
}

// Left reports whether the bot is known to have left (or been kicked or banned from) room.
// Unknown membership is not "left": the state store may not hold the bot's own member event.
func (s *State) Left(ctx context.Context, room id.RoomID) bool {
	if s.acct.StateStore == nil {
		return false
	}
	m, err := s.acct.StateStore.TryGetMember(ctx, room, s.acct.UserID())
	if err != nil || m == nil {
		return false
	}
	return m.Membership == event.MembershipLeave || m.Membership == event.MembershipBan
}
