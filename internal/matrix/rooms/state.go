package rooms

import (
	"context"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
)

// State answers questions about rooms from the state store, which the sync loop keeps current
// (no homeserver request). Without a state store it knows nothing.
type State struct {
	acct *account.Account
}

// NewState returns what acct's state store knows.
func NewState(acct *account.Account) *State { return &State{acct: acct} }

// MemberName is the display name of u in room, or "".
func (s *State) MemberName(ctx context.Context, room id.RoomID, u id.UserID) string {
	if s.acct.StateStore == nil {
		return ""
	}
	m, err := s.acct.StateStore.TryGetMember(ctx, room, u)
	if err != nil || m == nil {
		return ""
	}
	return m.Displayname
}

// MemberRole is u's role in room from the power levels in the state store; "" when the store
// does not know the room. A room without power levels gives its creator 100 and everyone else 0.
func (s *State) MemberRole(ctx context.Context, room id.RoomID, u id.UserID) model.Role {
	if s.acct.StateStore == nil {
		return ""
	}
	pl, err := s.acct.StateStore.GetPowerLevels(ctx, room)
	if err != nil {
		s.acct.Log().Warn("failed to read power levels from the state store; the sender's role is left out", "room_id", room, "error", err)
		return ""
	}
	if pl == nil {
		create, err := s.acct.StateStore.GetCreate(ctx, room)
		if err != nil || create == nil {
			return ""
		}
		if create.Sender == u {
			return model.RoleOwner
		}
		pl = &event.PowerLevelsEventContent{CreateEvent: create}
	}
	return model.RoleOf(pl.GetUserLevel(u))
}

// Encrypted tells whether room is encrypted, as far as the state store knows. The message index
// keeps the bodies of such rooms' messages only for GATEWAY_ENCRYPTED_BODY_RETENTION. When the
// state store cannot tell, the room counts as encrypted.
func (s *State) Encrypted(ctx context.Context, room id.RoomID) bool {
	if s.acct.StateStore == nil {
		return false
	}
	enc, err := s.acct.StateStore.IsEncrypted(ctx, room)
	return enc || err != nil
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
