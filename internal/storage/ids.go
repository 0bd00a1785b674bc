package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
)

// IDKind says which OneBot v11 id map to use. Each kind numbers from 1.
type IDKind int

const (
	KindUser  IDKind = iota + 1 // user_id, self_id (int64 in v11)
	KindRoom                    // group_id (int64 in v11)
	KindEvent                   // message_id (int32 in v11)

	kindCount = iota + 1 // size of arrays indexed by IDKind
)

// ErrIDsExhausted is returned (wrapped) by V11ID when a kind has handed out
// every number it may.
var ErrIDsExhausted = errors.New("v11 id space exhausted")

// idCacheSize bounds each direction of each kind's in-memory cache.
const idCacheSize = 4096

// Upper bounds of the numbers handed out. v11's message_id is an int32;
// user and group ids are int64, but some clients (Koishi) only treat numbers
// below 2^32 as numbers.
const (
	maxEventID = math.MaxInt32
	maxOtherID = math.MaxUint32
)

// Each insert hands out the number after the highest one within the kind's bound (a pinned
// number above the bound, see PinV11ID, does not move the others past it). It runs as one
// statement, so two callers cannot take the same number.
const (
	selectUserV11    = `SELECT id FROM gateway_user_id WHERE matrix_id = $1`
	selectUserMatrix = `SELECT matrix_id FROM gateway_user_id WHERE id = $1`
	insertUser       = `INSERT INTO gateway_user_id (id, matrix_id) SELECT COALESCE(MAX(id), 0) + 1, CAST($1 AS TEXT) FROM gateway_user_id WHERE id <= $2 ON CONFLICT (matrix_id) DO NOTHING`

	selectRoomV11    = `SELECT id FROM gateway_room_id WHERE matrix_id = $1`
	selectRoomMatrix = `SELECT matrix_id FROM gateway_room_id WHERE id = $1`
	insertRoom       = `INSERT INTO gateway_room_id (id, matrix_id) SELECT COALESCE(MAX(id), 0) + 1, CAST($1 AS TEXT) FROM gateway_room_id WHERE id <= $2 ON CONFLICT (matrix_id) DO NOTHING`

	selectEventV11    = `SELECT id FROM gateway_event_id WHERE matrix_id = $1`
	selectEventMatrix = `SELECT matrix_id FROM gateway_event_id WHERE id = $1`
	insertEvent       = `INSERT INTO gateway_event_id (id, matrix_id) SELECT COALESCE(MAX(id), 0) + 1, CAST($1 AS TEXT) FROM gateway_event_id WHERE id <= $2 ON CONFLICT (matrix_id) DO NOTHING`

	// Pinning a user's number (PinV11ID): the next free number, moving a row to another
	// number, and a row with a given number. Rows are moved, never deleted.
	nextUserV11  = `SELECT COALESCE(MAX(id), 0) + 1 FROM gateway_user_id WHERE id <= $1`
	moveUserV11  = `UPDATE gateway_user_id SET id = $1 WHERE matrix_id = $2`
	insertUserAt = `INSERT INTO gateway_user_id (id, matrix_id) VALUES ($1, $2)`
)

type idQueries struct {
	table, selectV11, selectMatrix, insert string
	max                                    int64
}

func (k IDKind) queries() (idQueries, error) {
	switch k {
	case KindUser:
		return idQueries{"gateway_user_id", selectUserV11, selectUserMatrix, insertUser, maxOtherID}, nil
	case KindRoom:
		return idQueries{"gateway_room_id", selectRoomV11, selectRoomMatrix, insertRoom, maxOtherID}, nil
	case KindEvent:
		return idQueries{"gateway_event_id", selectEventV11, selectEventMatrix, insertEvent, maxEventID}, nil
	}
	return idQueries{}, fmt.Errorf("unknown id kind %d", int(k))
}

func (k IDKind) String() string {
	switch k {
	case KindUser:
		return "user"
	case KindRoom:
		return "room"
	case KindEvent:
		return "event"
	}
	return fmt.Sprintf("IDKind(%d)", int(k))
}

// V11ID returns the OneBot v11 number for matrixID, creating it on first use.
// Numbers are stable across restarts and start at 1. Concurrent callers
// asking for the same new matrixID get the same number.
func (s IDStore) V11ID(ctx context.Context, kind IDKind, matrixID string) (int64, error) {
	q, err := kind.queries()
	if err != nil {
		return 0, fmt.Errorf("failed to map %q: %w", matrixID, err)
	}
	if matrixID == "" {
		return 0, fmt.Errorf("failed to map %s id: matrix id is empty", kind)
	}
	cache := s.db.idMaps[kind]
	if v, ok := cache.toV11.Get(matrixID); ok {
		return v, nil
	}
	// Most misses are for ids created before a restart: try a plain read
	// before taking the write lock.
	var v int64
	err = s.db.util.QueryRow(ctx, q.selectV11, matrixID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		v, err = s.createV11ID(ctx, kind, q, matrixID)
	}
	if err != nil {
		return 0, fmt.Errorf("failed to map %s %s: %w", kind, matrixID, err)
	}
	cache.put(matrixID, v)
	return v, nil
}

func (s IDStore) createV11ID(ctx context.Context, kind IDKind, q idQueries, matrixID string) (int64, error) {
	var v int64
	err := inTx(ctx, s.db, func(ctx context.Context) error {
		if err := lockIDs(ctx, s.db, q.table); err != nil {
			return err
		}
		if _, err := s.db.util.Exec(ctx, q.insert, matrixID, q.max); err != nil {
			return fmt.Errorf("failed to insert: %w", err)
		}
		if err := s.db.util.QueryRow(ctx, q.selectV11, matrixID).Scan(&v); err != nil {
			return fmt.Errorf("failed to read back: %w", err)
		}
		if v > q.max {
			// Rolling back removes the row again.
			return fmt.Errorf("%w: next %s id would be %d", ErrIDsExhausted, kind, v)
		}
		return nil
	})
	return v, err
}

// MatrixID returns the Matrix id that v11 stands for, or ErrNotFound.
func (s IDStore) MatrixID(ctx context.Context, kind IDKind, v11 int64) (string, error) {
	q, err := kind.queries()
	if err != nil {
		return "", fmt.Errorf("failed to look up v11 id %d: %w", v11, err)
	}
	cache := s.db.idMaps[kind]
	if m, ok := cache.toMatrix.Get(v11); ok {
		return m, nil
	}
	var m string
	err = s.db.util.QueryRow(ctx, q.selectMatrix, v11).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("failed to look up v11 %s id %d: %w", kind, v11, ErrNotFound)
	} else if err != nil {
		return "", fmt.Errorf("failed to look up v11 %s id %d: %w", kind, v11, err)
	}
	cache.put(m, v11)
	return m, nil
}

// PinV11ID makes v the OneBot v11 user number of matrixID: a bot's onebot_self_id, so that the
// bot has that one number everywhere (events, member lists, get_stranger_info, at segments)
// and not also the number the map gave it when it was first seen. v may lie above the numbers
// handed out (up to 2^63-1); it does not move them. The bot's former number, if any, is no
// longer anyone's. Another user who held v (their number came from the map before v was
// pinned) moves to a new number, which is returned with their Matrix ID so that the caller
// can say so; moved is "" otherwise.
func (s IDStore) PinV11ID(ctx context.Context, matrixID string, v int64) (moved string, movedTo int64, err error) {
	if matrixID == "" || v <= 0 {
		return "", 0, fmt.Errorf("failed to pin v11 user id %d to %q: both must be set", v, matrixID)
	}
	var former int64
	err = inTx(ctx, s.db, func(ctx context.Context) error {
		if err := lockIDs(ctx, s.db, "gateway_user_id"); err != nil {
			return err
		}
		var holder string
		switch err := s.db.util.QueryRow(ctx, selectUserMatrix, v).Scan(&holder); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("failed to read who holds %d: %w", v, err)
		case holder == matrixID:
			return nil
		default:
			if err := s.db.util.QueryRow(ctx, nextUserV11, maxOtherID).Scan(&movedTo); err != nil {
				return fmt.Errorf("failed to find a new number for %s: %w", holder, err)
			}
			if movedTo > maxOtherID {
				return fmt.Errorf("failed to move %s off %d: %w", holder, v, ErrIDsExhausted)
			}
			if _, err := s.db.util.Exec(ctx, moveUserV11, movedTo, holder); err != nil {
				return fmt.Errorf("failed to move %s off %d: %w", holder, v, err)
			}
			moved = holder
		}
		switch err := s.db.util.QueryRow(ctx, selectUserV11, matrixID).Scan(&former); {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := s.db.util.Exec(ctx, insertUserAt, v, matrixID); err != nil {
				return fmt.Errorf("failed to insert: %w", err)
			}
		case err != nil:
			return fmt.Errorf("failed to read the number of %s: %w", matrixID, err)
		default:
			if _, err := s.db.util.Exec(ctx, moveUserV11, v, matrixID); err != nil {
				return fmt.Errorf("failed to move %s to %d: %w", matrixID, v, err)
			}
		}
		return nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("failed to pin v11 user id %d to %s: %w", v, matrixID, err)
	}
	cache := s.db.idMaps[KindUser]
	if former != 0 && former != v {
		cache.toMatrix.Remove(former)
	}
	if moved != "" {
		cache.put(moved, movedTo)
	}
	cache.put(matrixID, v)
	return moved, movedTo, nil
}

// lockIDs keeps, until the transaction of ctx ends, other writers of table (an id map) out: a
// new number is max(id)+1, which two PostgreSQL transactions could otherwise both take (the loser
// would fail on the primary key). Readers are not held up. SQLite's transactions already take the
// write lock (BEGIN IMMEDIATE).
func lockIDs(ctx context.Context, db *DB, table string) error {
	if !isPostgres(db) {
		return nil
	}
	if _, err := db.util.Exec(ctx, "LOCK TABLE "+table+" IN SHARE ROW EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("failed to lock %s: %w", table, err)
	}
	return nil
}
