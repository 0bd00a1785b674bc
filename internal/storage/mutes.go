package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Mute is a timed mute: UserID's power level in RoomID was lowered to MutedLevel until Until.
type Mute struct {
	RoomID     string
	UserID     string
	MutedLevel int
	// PreviousLevel is the user's own power level entry before the mute; nil when the user had
	// none (the room's users_default applied).
	PreviousLevel *int
	Until         time.Time
}

const (
	upsertMute = `INSERT INTO gateway_mute (bot_user_id, room_id, user_id, muted_level, previous_level, until_ms)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (bot_user_id, room_id, user_id) DO UPDATE SET
		muted_level = excluded.muted_level, until_ms = excluded.until_ms`
	selectMute = `SELECT room_id, user_id, muted_level, previous_level, until_ms FROM gateway_mute
		WHERE bot_user_id = $1 AND room_id = $2 AND user_id = $3`
	selectNextMute = `SELECT room_id, user_id, muted_level, previous_level, until_ms FROM gateway_mute
		WHERE bot_user_id = $1 ORDER BY until_ms LIMIT 1`
	deleteMute = `DELETE FROM gateway_mute WHERE bot_user_id = $1 AND room_id = $2 AND user_id = $3`
)

// PutMute records a mute of bot's. A user already muted keeps the previous level recorded by
// the first mute (the level to go back to), with the new muted level and end.
func (s MuteStore) PutMute(ctx context.Context, bot string, m Mute) error {
	var prev any
	if m.PreviousLevel != nil {
		prev = *m.PreviousLevel
	}
	if _, err := s.db.util.Exec(ctx, upsertMute, bot, m.RoomID, m.UserID, m.MutedLevel, prev, m.Until.UnixMilli()); err != nil {
		return fmt.Errorf("failed to record the mute of %s in %s: %w", m.UserID, m.RoomID, err)
	}
	return nil
}

// GetMute returns bot's mute of user in room, or ErrNotFound.
func (s MuteStore) GetMute(ctx context.Context, bot, room, user string) (Mute, error) {
	m, err := scanMute(s.db.util.QueryRow(ctx, selectMute, bot, room, user))
	if err != nil {
		return Mute{}, fmt.Errorf("failed to get the mute of %s in %s: %w", user, room, err)
	}
	return m, nil
}

// NextMute returns the mute of bot's that ends first, or ErrNotFound.
func (s MuteStore) NextMute(ctx context.Context, bot string) (Mute, error) {
	m, err := scanMute(s.db.util.QueryRow(ctx, selectNextMute, bot))
	if err != nil {
		return Mute{}, fmt.Errorf("failed to get the next mute to lift: %w", err)
	}
	return m, nil
}

// DeleteMute forgets bot's mute of user in room.
func (s MuteStore) DeleteMute(ctx context.Context, bot, room, user string) error {
	if _, err := s.db.util.Exec(ctx, deleteMute, bot, room, user); err != nil {
		return fmt.Errorf("failed to delete the mute of %s in %s: %w", user, room, err)
	}
	return nil
}

func scanMute(row *sql.Row) (Mute, error) {
	var m Mute
	var prev sql.NullInt64
	var until int64
	err := row.Scan(&m.RoomID, &m.UserID, &m.MutedLevel, &prev, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return Mute{}, ErrNotFound
	} else if err != nil {
		return Mute{}, err
	}
	if prev.Valid {
		p := int(prev.Int64)
		m.PreviousLevel = &p
	}
	m.Until = time.UnixMilli(until)
	return m, nil
}
