// Package actions are the model.RoomActions of a bot: each is one or a few Client-Server API
// calls, and every refusal comes back through account.ActionError with the Matrix errcode.
// Rooms serves the room and member actions, Messages those on messages, Raw the raw API.
package actions

import (
	"context"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/crypt"
	"github.com/matrix-onebot/gateway/internal/matrix/rooms"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Rooms serves a bot's actions on rooms and their members.
type Rooms struct {
	acct    *account.Account
	direct  *rooms.Direct
	state   *rooms.State
	invites *rooms.Invites
	device  *crypt.Device
	policy  *crypt.Policy
}

// NewRooms returns the room actions of acct's bot.
func NewRooms(acct *account.Account, direct *rooms.Direct, state *rooms.State, invites *rooms.Invites, device *crypt.Device, policy *crypt.Policy) *Rooms {
	return &Rooms{acct: acct, direct: direct, state: state, invites: invites, device: device, policy: policy}
}

// UserInfo implements model.RoomActions from the user's global profile.
func (s *Rooms) UserInfo(ctx context.Context, u id.UserID) (model.UserInfo, error) {
	if err := s.acct.Online(); err != nil {
		return model.UserInfo{}, err
	}
	p, err := s.acct.Client().GetProfile(ctx, u)
	if err != nil {
		return model.UserInfo{}, account.ActionError("failed to get the profile of "+string(u), err)
	}
	return model.UserInfo{UserID: u, DisplayName: p.DisplayName, AvatarURL: p.AvatarURL.String()}, nil
}

// Friends implements model.RoomActions: the users the bot has a direct room with (m.direct) that
// the bot is still in.
func (s *Rooms) Friends(ctx context.Context) ([]model.Friend, error) {
	out := []model.Friend{}
	for _, u := range s.direct.Users() {
		room := s.direct.RoomWith(ctx, u)
		if room == "" {
			continue
		}
		out = append(out, model.Friend{UserID: u, DisplayName: s.state.MemberName(ctx, room, u), RoomID: room})
	}
	return out, nil
}

// Groups implements model.RoomActions: the joined rooms that are not direct chats.
func (s *Rooms) Groups(ctx context.Context) ([]model.GroupInfo, error) {
	if err := s.acct.Online(); err != nil {
		return nil, err
	}
	resp, err := s.acct.Client().JoinedRooms(ctx)
	if err != nil {
		return nil, account.ActionError("failed to list rooms", err)
	}
	out := []model.GroupInfo{}
	for _, room := range resp.JoinedRooms {
		if s.direct.IsDirect(room) {
			continue
		}
		g, err := s.Group(ctx, room)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// Group implements model.RoomActions.
func (s *Rooms) Group(ctx context.Context, room id.RoomID) (model.GroupInfo, error) {
	if err := s.acct.Online(); err != nil {
		return model.GroupInfo{}, err
	}
	members, err := s.acct.Client().JoinedMembers(ctx, room)
	if err != nil {
		return model.GroupInfo{}, account.ActionError("failed to get room "+string(room), err)
	}
	return model.GroupInfo{RoomID: room, Name: s.roomName(ctx, room), MemberCount: len(members.Joined)}, nil
}

// roomName is m.room.name, else the canonical alias, else "".
func (s *Rooms) roomName(ctx context.Context, room id.RoomID) string {
	var name event.RoomNameEventContent
	if err := s.acct.Client().StateEvent(ctx, room, event.StateRoomName, "", &name); err == nil && name.Name != "" {
		return name.Name
	}
	var alias event.CanonicalAliasEventContent
	if err := s.acct.Client().StateEvent(ctx, room, event.StateCanonicalAlias, "", &alias); err == nil {
		return string(alias.Alias)
	}
	return ""
}

// SetGroupName implements model.RoomActions.
func (s *Rooms) SetGroupName(ctx context.Context, room id.RoomID, name string) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	if _, err := s.acct.Client().SendStateEvent(ctx, room, event.StateRoomName, "", &event.RoomNameEventContent{Name: name}); err != nil {
		return account.ActionError("failed to rename room", err)
	}
	return nil
}

// LeaveGroup implements model.RoomActions.
func (s *Rooms) LeaveGroup(ctx context.Context, room id.RoomID) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	if _, err := s.acct.Client().LeaveRoom(ctx, room); err != nil {
		return account.ActionError("failed to leave room", err)
	}
	return nil
}

// Kick implements model.RoomActions.
func (s *Rooms) Kick(ctx context.Context, room id.RoomID, u id.UserID, reason string) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	if _, err := s.acct.Client().KickUser(ctx, room, &mautrix.ReqKickUser{UserID: u, Reason: reason}); err != nil {
		return account.ActionError("failed to kick "+string(u), err)
	}
	return nil
}

// Ban implements model.RoomActions. A Matrix ban lasts until it is lifted.
func (s *Rooms) Ban(ctx context.Context, room id.RoomID, u id.UserID, reason string) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	if _, err := s.acct.Client().BanUser(ctx, room, &mautrix.ReqBanUser{UserID: u, Reason: reason}); err != nil {
		return account.ActionError("failed to ban "+string(u), err)
	}
	return nil
}

// Unban implements model.RoomActions.
func (s *Rooms) Unban(ctx context.Context, room id.RoomID, u id.UserID) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	if _, err := s.acct.Client().UnbanUser(ctx, room, &mautrix.ReqUnbanUser{UserID: u}); err != nil {
		return account.ActionError("failed to unban "+string(u), err)
	}
	return nil
}

// AnswerInvite implements model.RoomActions: join to accept, leave to decline.
func (s *Rooms) AnswerInvite(ctx context.Context, room id.RoomID, accept bool, reason string) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	if accept {
		s.policy.Forget(room)
		if _, err := s.acct.Client().JoinRoomByID(ctx, room); err != nil {
			return account.ActionError("failed to accept the invite to "+string(room), err)
		}
		s.afterJoin(ctx, room)
		return nil
	}
	if _, err := s.acct.Client().LeaveRoom(ctx, room, &mautrix.ReqLeave{Reason: reason}); err != nil {
		return account.ActionError("failed to decline the invite to "+string(room), err)
	}
	return nil
}

// afterJoin records a room joined by invite as direct when the invite said so.
func (s *Rooms) afterJoin(ctx context.Context, room id.RoomID) {
	inv := s.invites.Take(room)
	if inv.Direct && inv.Inviter != "" {
		if err := s.direct.Add(ctx, inv.Inviter, room); err != nil {
			s.acct.Log().Warn("failed to mark room as direct", "room_id", room, "error", err)
		}
	}
}

// JoinRoom implements model.RoomActions.
func (s *Rooms) JoinRoom(ctx context.Context, roomOrAlias string) (id.RoomID, error) {
	if err := s.acct.Online(); err != nil {
		return "", err
	}
	resp, err := s.acct.Client().JoinRoom(ctx, roomOrAlias, nil)
	if err != nil {
		return "", account.ActionError("failed to join "+roomOrAlias, err)
	}
	s.policy.Forget(resp.RoomID)
	s.afterJoin(ctx, resp.RoomID)
	return resp.RoomID, nil
}

// Invite implements model.RoomActions.
func (s *Rooms) Invite(ctx context.Context, room id.RoomID, u id.UserID, reason string) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	if _, err := s.acct.Client().InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: u, Reason: reason}); err != nil {
		return account.ActionError("failed to invite "+string(u), err)
	}
	return nil
}

// CreateRoom implements model.RoomActions; a direct room is recorded in m.direct. The room is
// encrypted when req.Encrypted says so, by default when the bot does end-to-end encryption.
func (s *Rooms) CreateRoom(ctx context.Context, req model.CreateRoom) (id.RoomID, error) {
	encrypted := s.device.EncryptsNewRooms()
	if req.Encrypted != nil {
		if *req.Encrypted && !encrypted {
			return "", model.Errorf(model.ErrBadParam, "encrypted is true, but end-to-end encryption is off for this bot "+
				"(e2ee is false in MATRIX_BOTS, or its access token has no device ID): it could not read or send in that room; "+
				"turn e2ee on, or leave encrypted out")
		}
		encrypted = *req.Encrypted
	}
	if err := s.acct.Online(); err != nil {
		return "", err
	}
	create := &mautrix.ReqCreateRoom{
		Name: req.Name, Topic: req.Topic, RoomAliasName: req.Alias, Invite: req.Invite,
		IsDirect: req.IsDirect, Preset: req.Preset, Visibility: req.Visibility,
	}
	if encrypted {
		create.InitialState = []*event.Event{crypt.EncryptionState()}
	}
	resp, err := s.acct.Client().CreateRoom(ctx, create)
	if err != nil {
		return "", account.ActionError("failed to create room", err)
	}
	if req.IsDirect && len(req.Invite) == 1 {
		if err := s.direct.Add(ctx, req.Invite[0], resp.RoomID); err != nil {
			s.acct.Log().Warn("failed to record direct room", "room_id", resp.RoomID, "error", err)
		}
	}
	return resp.RoomID, nil
}
