// Package moderation changes power levels for a bot: timed mutes (Matrix has no timed ban),
// admins, a whole room's mute, and the bot's own per-room display name.
package moderation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/backoff"
	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Timed mutes (OneBot v11 set_group_ban, v12 matrix.mute), the Matrix way: the user's power
// level in the room goes below what sending a message requires, and back when the mute ends.
// Each mute is stored (storage.Mute) with the level to go back to, and the bot's mute lifter
// lifts it when it is due, also after a restart.

var _ model.Muter = (*Moderator)(nil)

// Moderator changes a bot's rooms' power levels (model.Muter, model.Moderator): one change at a
// time, and a wake-up for the mute lifter when a mute is added or the bot comes online.
type Moderator struct {
	acct *account.Account
	mu   sync.Mutex
	wake chan struct{}
}

// New returns the moderator of acct's bot; a status change wakes its mute lifter, so that mutes
// due while the bot was offline are lifted once it is back.
func New(acct *account.Account) *Moderator {
	m := &Moderator{acct: acct, wake: make(chan struct{}, 1)}
	acct.WatchStatus(m.poke)
	return m
}

func (m *Moderator) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// roomLevels is a room's m.room.power_levels as it is (to write back with only the users
// changed) and parsed (with the create event, for the creators of version 12 rooms).
type roomLevels struct {
	raw   map[string]json.RawMessage
	users map[string]json.RawMessage
	pl    event.PowerLevelsEventContent
}

func (s *Moderator) roomLevels(ctx context.Context, room id.RoomID) (*roomLevels, error) {
	var raw json.RawMessage
	if err := s.acct.Client().StateEvent(ctx, room, event.StatePowerLevels, "", &raw); err != nil {
		return nil, account.ActionError("failed to get the power levels of "+string(room), err)
	}
	rl, err := parseRoomLevels(raw)
	if err != nil {
		return nil, model.Errorf(model.ErrPlatform, "the power levels of %s cannot be read: %v", room, err)
	}
	if create, err := s.acct.Client().FullStateEvent(ctx, room, event.StateCreate, ""); err == nil {
		_ = create.Content.ParseRaw(event.StateCreate)
		rl.pl.CreateEvent = create
	}
	return rl, nil
}

// parseRoomLevels reads the content of an m.room.power_levels event.
func parseRoomLevels(raw json.RawMessage) (*roomLevels, error) {
	rl := &roomLevels{}
	if err := json.Unmarshal(raw, &rl.raw); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &rl.pl); err != nil {
		return nil, err
	}
	if u, ok := rl.raw["users"]; ok {
		_ = json.Unmarshal(u, &rl.users)
	}
	if rl.users == nil { // none, or "users": null
		rl.users = map[string]json.RawMessage{}
	}
	return rl, nil
}

// sendLevel is the power level sending a message requires: a muted user must be below what
// m.room.message needs and what m.room.encrypted needs (the messages of an encrypted room).
func (rl *roomLevels) sendLevel() int {
	return min(rl.pl.GetEventLevel(event.EventMessage), rl.pl.GetEventLevel(event.EventEncrypted))
}

// entry is u's own entry in users (ok false: none, users_default applies).
func (rl *roomLevels) entry(u id.UserID) (int, bool) {
	l, ok := rl.pl.Users[u]
	return l, ok
}

// setUser sets u's entry (nil: removes it, users_default applies).
func (rl *roomLevels) setUser(u id.UserID, level *int) {
	if level == nil {
		delete(rl.users, string(u))
	} else {
		rl.users[string(u)] = json.RawMessage(fmt.Sprint(*level))
	}
	b, _ := json.Marshal(rl.users)
	rl.raw["users"] = b
}

func (s *Moderator) putLevels(ctx context.Context, room id.RoomID, rl *roomLevels, what string) error {
	if _, err := s.acct.Client().SendStateEvent(ctx, room, event.StatePowerLevels, "", rl.raw); err != nil {
		return account.ActionError(what, err)
	}
	return nil
}

// Mute implements model.Muter: d > 0 mutes u in room for d (a user muted already gets the new
// end), d == 0 lifts a mute at once.
func (s *Moderator) Mute(ctx context.Context, room id.RoomID, u id.UserID, d time.Duration) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	if u == s.acct.UserID() {
		return model.Errorf(model.ErrBadParam, "the bot cannot mute itself: it could not lift the mute")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	bot := string(s.acct.UserID())
	rec, err := s.acct.DB.Mutes().GetMute(ctx, bot, string(room), string(u))
	haveRec := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if d == 0 {
		if haveRec {
			return s.liftLocked(ctx, rec)
		}
		return s.unmuteUnrecorded(ctx, room, u)
	}
	rl, err := s.roomLevels(ctx, room)
	if err != nil {
		return err
	}
	until := time.Now().Add(d)
	send := rl.sendLevel()
	if cur := rl.pl.GetUserLevel(u); cur < send {
		if !haveRec {
			// Muted already, by someone else (or never allowed to speak): that is theirs to
			// lift, not this mute's end.
			return nil
		}
		rec.Until = until // muted by the gateway: the mute gets its new end
		if err := s.acct.DB.Mutes().PutMute(ctx, bot, rec); err != nil {
			return err
		}
		s.poke()
		return nil
	}
	m := storage.Mute{RoomID: string(room), UserID: string(u), MutedLevel: send - 1, Until: until}
	if l, ok := rl.entry(u); ok {
		m.PreviousLevel = &l
	}
	// Recorded first, so a mute that reached the room is always lifted in time.
	if err := s.acct.DB.Mutes().PutMute(ctx, bot, m); err != nil {
		return err
	}
	rl.setUser(u, &m.MutedLevel)
	if err := s.putLevels(ctx, room, rl, "failed to mute "+string(u)); err != nil {
		if derr := s.acct.DB.Mutes().DeleteMute(context.WithoutCancel(ctx), bot, string(room), string(u)); derr != nil {
			s.acct.Log().Warn("failed to forget a mute that was refused", "room_id", room, "user_id", u, "error", derr)
		}
		return err
	}
	s.acct.Log().Info("muted a user", "room_id", room, "user_id", u, "until", until.UTC().Format(time.RFC3339))
	s.poke()
	return nil
}

// unmuteUnrecorded lifts a mute the gateway has no record of (set by hand, or by another tool):
// the user's own entry goes, so users_default applies, or the send level when that is lower.
func (s *Moderator) unmuteUnrecorded(ctx context.Context, room id.RoomID, u id.UserID) error {
	rl, err := s.roomLevels(ctx, room)
	if err != nil {
		return err
	}
	send := rl.sendLevel()
	if rl.pl.GetUserLevel(u) >= send {
		return nil // not muted
	}
	var level *int
	if rl.pl.UsersDefault < send {
		level = &send
	}
	rl.setUser(u, level)
	return s.putLevels(ctx, room, rl, "failed to lift the mute of "+string(u))
}

// liftLocked lifts a recorded mute: the user gets back the level they had, unless their level
// was changed by someone else meanwhile (then it stays as it is). The record goes either way,
// except when the homeserver could not be asked.
func (s *Moderator) liftLocked(ctx context.Context, m storage.Mute) error {
	room, u := id.RoomID(m.RoomID), id.UserID(m.UserID)
	rl, err := s.roomLevels(ctx, room)
	if err == nil {
		if l, ok := rl.entry(u); ok && l == m.MutedLevel {
			rl.setUser(u, m.PreviousLevel)
			err = s.putLevels(ctx, room, rl, "failed to lift the mute of "+string(u))
		} else {
			s.acct.Log().Info("mute ended; the user's power level was changed meanwhile and stays as it is", "room_id", room, "user_id", u)
		}
	}
	if err != nil && !errors.Is(err, mautrix.MNotFound) && model.KindOf(err) != model.ErrPlatform {
		return err // not answered: tried again
	}
	if derr := s.acct.DB.Mutes().DeleteMute(context.WithoutCancel(ctx), string(s.acct.UserID()), m.RoomID, m.UserID); derr != nil {
		return derr
	}
	if err != nil {
		return err
	}
	s.acct.Log().Info("lifted a mute", "room_id", room, "user_id", u)
	return nil
}

// StartLifter runs the bot's mute lifter until the returned stop is called.
func (s *Moderator) StartLifter(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.liftMutes(ctx)
	}()
	return func() { cancel(); <-done }
}

// liftMutes lifts each stored mute when it is due, while the bot is online; a mute that came
// due while the gateway was stopped is lifted as soon as the bot is back.
func (s *Moderator) liftMutes(ctx context.Context) {
	retry := backoff.New(s.acct.RetryInterval, account.MaxBackoff)
	for ctx.Err() == nil {
		wait := time.Duration(-1) // until woken
		if s.acct.LoggedIn() && s.acct.Status().Online() {
			m, err := s.acct.DB.Mutes().NextMute(ctx, string(s.acct.UserID()))
			switch {
			case errors.Is(err, storage.ErrNotFound):
			case err != nil:
				wait = retry.Next()
				s.acct.Log().Warn("failed to read the mutes to lift; trying again", "error", err, "retry_in", wait)
			case time.Until(m.Until) > 0:
				wait = time.Until(m.Until)
			default:
				s.mu.Lock()
				err := s.liftLocked(ctx, m)
				s.mu.Unlock()
				switch {
				case err == nil:
					retry.Reset()
					continue
				case model.KindOf(err) == model.ErrPlatform:
					retry.Reset()
					s.acct.Log().Warn("failed to lift a mute: the homeserver refused; give the bot the power to change power levels, "+
						"or set the user's power level by hand", "room_id", m.RoomID, "user_id", m.UserID, "error", err)
					continue
				}
				wait = retry.Next()
				s.acct.Log().Warn("failed to lift a mute; trying again", "room_id", m.RoomID, "user_id", m.UserID, "error", err, "retry_in", wait)
			}
		}
		var timer *time.Timer
		var due <-chan time.Time
		if wait >= 0 {
			timer = time.NewTimer(wait)
			due = timer.C
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-due:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}
