package actions

import (
	"context"
	"errors"
	"slices"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
)

// powerLevels fetches a room's power levels with its create event, so that the creators of a
// version 12 room count as owners (their power is above every number).
func (s *Rooms) powerLevels(ctx context.Context, room id.RoomID) (*event.PowerLevelsEventContent, error) {
	var pl event.PowerLevelsEventContent
	if err := s.acct.Client().StateEvent(ctx, room, event.StatePowerLevels, "", &pl); err != nil && !errors.Is(err, mautrix.MNotFound) {
		return nil, account.ActionError("failed to get the power levels of "+string(room), err)
	}
	if create, err := s.acct.Client().FullStateEvent(ctx, room, event.StateCreate, ""); err == nil {
		_ = create.Content.ParseRaw(event.StateCreate)
		pl.CreateEvent = create
	}
	return &pl, nil
}

func member(room id.RoomID, u id.UserID, name string, pl *event.PowerLevelsEventContent) model.Member {
	level := pl.GetUserLevel(u)
	return model.Member{RoomID: room, UserID: u, DisplayName: name, PowerLevel: level, Role: model.RoleOf(level)}
}

// GroupMembers implements model.RoomActions: the joined members, sorted by user ID.
func (s *Rooms) GroupMembers(ctx context.Context, room id.RoomID) ([]model.Member, error) {
	if err := s.acct.Online(); err != nil {
		return nil, err
	}
	joined, err := s.acct.Client().JoinedMembers(ctx, room)
	if err != nil {
		return nil, account.ActionError("failed to list the members of "+string(room), err)
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
func (s *Rooms) GroupMember(ctx context.Context, room id.RoomID, u id.UserID) (model.Member, error) {
	if err := s.acct.Online(); err != nil {
		return model.Member{}, err
	}
	var m event.MemberEventContent
	if err := s.acct.Client().StateEvent(ctx, room, event.StateMember, string(u), &m); err != nil {
		return model.Member{}, account.ActionError("failed to get member "+string(u), err)
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
