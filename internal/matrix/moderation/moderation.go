package moderation

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Power levels and the bot's per-room profile: v11 set_group_admin, set_group_whole_ban and
// set_group_card (the bot itself). Every change rewrites m.room.power_levels with only the
// field in question changed, under the same lock as mutes (mute.go).

var _ model.Moderator = (*Moderator)(nil)

// adminLevel is the level set_group_admin gives: admin in OneBot terms (model.RoleOf), a
// moderator in Element's.
const adminLevel = 50

// changeLevels runs change on room's power levels as they are now, with the bot online and the
// lock of every power level change (and mute) held.
func (s *Moderator) changeLevels(ctx context.Context, room id.RoomID, change func(rl *roomLevels) error) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rl, err := s.roomLevels(ctx, room)
	if err != nil {
		return err
	}
	return change(rl)
}

// SetAdmin implements model.Moderator.
func (s *Moderator) SetAdmin(ctx context.Context, room id.RoomID, u id.UserID, admin bool) error {
	return s.changeLevels(ctx, room, func(rl *roomLevels) error {
		var level *int
		if admin {
			l := adminLevel
			level = &l
		} else if _, ok := rl.entry(u); !ok {
			return nil // no level of their own: nothing to take away
		}
		rl.setUser(u, level)
		return s.putLevels(ctx, room, rl, "failed to change the power level of "+string(u))
	})
}

// wholeMuteLevel is the default send level while a room is muted as a whole: admins still speak.
const wholeMuteLevel = adminLevel

func wholeMuteKey(bot id.UserID, room id.RoomID) string {
	return "whole_mute:" + string(bot) + ":" + string(room)
}

// SetWholeMute implements model.Moderator. The level to put back is stored (gateway_kv) while
// the room is muted.
func (s *Moderator) SetWholeMute(ctx context.Context, room id.RoomID, on bool) error {
	return s.changeLevels(ctx, room, func(rl *roomLevels) error { return s.setWholeMute(ctx, room, rl, on) })
}

// setWholeMute is SetWholeMute with the levels read and the lock held.
func (s *Moderator) setWholeMute(ctx context.Context, room id.RoomID, rl *roomLevels, on bool) error {
	key := wholeMuteKey(s.acct.UserID(), room)
	current := rl.pl.EventsDefault
	if on {
		if current >= wholeMuteLevel {
			return nil // only admins speak already
		}
		if err := s.acct.DB.KV().SetValue(ctx, key, strconv.Itoa(current)); err != nil {
			return err
		}
		rl.raw["events_default"] = json.RawMessage(strconv.Itoa(wholeMuteLevel))
		return s.putLevels(ctx, room, rl, "failed to mute the room")
	}
	previous := 0 // the spec's default
	stored, err := s.acct.DB.KV().GetValue(ctx, key)
	switch {
	case err == nil:
		if n, perr := strconv.Atoi(stored); perr == nil {
			previous = n
		}
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}
	if current != previous {
		rl.raw["events_default"] = json.RawMessage(strconv.Itoa(previous))
		if err := s.putLevels(ctx, room, rl, "failed to lift the room's mute"); err != nil {
			return err
		}
	}
	if err == nil {
		if err := s.acct.DB.KV().SetValue(ctx, key, ""); err != nil {
			s.acct.Log().Warn("failed to forget a room's mute", "room_id", room, "error", err)
		}
	}
	return nil
}

// SetOwnRoomName implements model.Moderator: the bot's m.room.member event in room gets the new
// displayname, the rest of it (membership, avatar) as it is.
func (s *Moderator) SetOwnRoomName(ctx context.Context, room id.RoomID, name string) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	me := s.acct.UserID()
	var content map[string]json.RawMessage
	if err := s.acct.Client().StateEvent(ctx, room, event.StateMember, string(me), &content); err != nil {
		return account.ActionError("failed to read the bot's membership in "+string(room), err)
	}
	var membership string
	_ = json.Unmarshal(content["membership"], &membership)
	if membership != string(event.MembershipJoin) {
		return model.Errorf(model.ErrNotFound, "the bot is not in room %s", room)
	}
	if name == "" {
		name = s.acct.DisplayName() // back to its global name
	}
	if name == "" {
		delete(content, "displayname")
	} else {
		b, _ := json.Marshal(name)
		content["displayname"] = b
	}
	if _, err := s.acct.Client().SendStateEvent(ctx, room, event.StateMember, string(me), content); err != nil {
		return account.ActionError("failed to set the bot's display name in "+string(room), err)
	}
	return nil
}
