package matrix

import (
	"context"
	"errors"
	"slices"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// powerLevels fetches a room's power levels with its create event, so that the creators of a
// version 12 room count as owners (their power is above every number).
func (s *Session) powerLevels(ctx context.Context, room id.RoomID) (*event.PowerLevelsEventContent, error) {
	var pl event.PowerLevelsEventContent
	if err := s.client.StateEvent(ctx, room, event.StatePowerLevels, "", &pl); err != nil && !errors.Is(err, mautrix.MNotFound) {
		return nil, actionError("failed to get the power levels of "+string(room), err)
	}
	if create, err := s.client.FullStateEvent(ctx, room, event.StateCreate, ""); err == nil {
		_ = create.Content.ParseRaw(event.StateCreate)
		pl.CreateEvent = create
	}
	return &pl, nil
}

// memberRole is u's role in room from the power levels in the state store, which the sync loop
// keeps current (no homeserver request); "" when the store does not know the room. A room
// without power levels gives its creator 100 and everyone else 0.
func (s *Session) memberRole(ctx context.Context, room id.RoomID, u id.UserID) model.Role {
	if s.opts.StateStore == nil {
		return ""
	}
	pl, err := s.opts.StateStore.GetPowerLevels(ctx, room)
	if err != nil {
		s.log.Warn("failed to read power levels from the state store; the sender's role is left out", "room_id", room, "error", err)
		return ""
	}
	if pl == nil {
		create, err := s.opts.StateStore.GetCreate(ctx, room)
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

func member(room id.RoomID, u id.UserID, name string, pl *event.PowerLevelsEventContent) model.Member {
	level := pl.GetUserLevel(u)
	return model.Member{RoomID: room, UserID: u, DisplayName: name, PowerLevel: level, Role: model.RoleOf(level)}
}

// GroupMembers implements model.RoomActions: the joined members, sorted by user ID.
func (s *Session) GroupMembers(ctx context.Context, room id.RoomID) ([]model.Member, error) {
	if err := s.online(); err != nil {
		return nil, err
	}
	joined, err := s.client.JoinedMembers(ctx, room)
	if err != nil {
		return nil, actionError("failed to list the members of "+string(room), err)
	}
	pl, err := s.powerLevels(ctx, room)
	if err != nil {
		return nil, err
	}
	users := make([]id.UserID, 0, len(joined.Joined))
	for u := range joined.Joined {
		users = append(users, u)
	}
	slices.Sort(users)
	out := make([]model.Member, 0, len(users))
	for _, u := range users {
		out = append(out, member(room, u, joined.Joined[u].DisplayName, pl))
	}
	return out, nil
}

// GroupMember implements model.RoomActions; a user who is not joined is not found.
func (s *Session) GroupMember(ctx context.Context, room id.RoomID, u id.UserID) (model.Member, error) {
	if err := s.online(); err != nil {
		return model.Member{}, err
	}
	var m event.MemberEventContent
	if err := s.client.StateEvent(ctx, room, event.StateMember, string(u), &m); err != nil {
		return model.Member{}, actionError("failed to get member "+string(u), err)
	}
	if m.Membership != event.MembershipJoin {
		return model.Member{}, model.Errorf(model.ErrNotFound, "%s is not a member of %s (membership %s)", u, room, m.Membership)
	}
	pl, err := s.powerLevels(ctx, room)
	if err != nil {
		return model.Member{}, err
	}
	return member(room, u, m.Displayname, pl), nil
}
