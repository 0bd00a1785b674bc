package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Retention bounds how long the gateway keeps what it stores about messages and files. A zero
// field sets no bound. The bounds hold on every read at once (an expired row is not returned),
// and the rows leave the file when PruneMessages / PruneFileRecords run (see
// internal/retention for the schedule).
type Retention struct {
	// MessageAge is GATEWAY_MESSAGE_RETENTION: how long a message stays in the index, counted
	// from when the gateway stored it.
	MessageAge time.Duration
	// MessageCount is GATEWAY_MESSAGE_RETENTION_COUNT: how many messages at most the index
	// keeps per bot and room (the newest).
	MessageCount int
	// EncryptedBodyAge is GATEWAY_ENCRYPTED_BODY_RETENTION: how long the decrypted content of a
	// message of an encrypted room is kept; its row (room, sender, time) stays for MessageAge.
	EncryptedBodyAge time.Duration
	// NoEncryptedBodies (GATEWAY_ENCRYPTED_BODY_RETENTION=0) stores no decrypted content at all:
	// messages of encrypted rooms are indexed without it.
	NoEncryptedBodies bool
	// FileAge is GATEWAY_FILE_RETENTION: how long a file record stays, counted from when it was
	// last written.
	FileAge time.Duration
}

// SetRetention sets the bounds GetMessage, GetFileRecord and the prune methods apply.
func (db *DB) SetRetention(r Retention) { db.retention.Store(&r) }

// Retention returns the bounds set by SetRetention (none by default).
func (db *DB) Retention() Retention {
	if r := db.retention.Load(); r != nil {
		return *r
	}
	return Retention{}
}

const queryCheckpoint = `PRAGMA wal_checkpoint(TRUNCATE)`

// Checkpoint copies the WAL into the database file and truncates the WAL to zero bytes, so
// that pruned rows (already overwritten in the pages by secure_delete) are not left in old WAL
// frames either. It reports false when readers or writers kept it from finishing; the next
// checkpoint finishes the job.
//
// On PostgreSQL there is nothing to do: it reports true (the server recycles its own WAL, and
// overwriting deleted rows is not something it offers).
func (db *DB) Checkpoint(ctx context.Context) (bool, error) {
	if isPostgres(db) {
		return true, nil
	}
	var busy, logFrames, done int
	db.checkpointing.Lock() // not while the checkpointer runs one (checkpoint.go)
	defer db.checkpointing.Unlock()
	if err := db.util.QueryRow(ctx, queryCheckpoint).Scan(&busy, &logFrames, &done); err != nil {
		return false, fmt.Errorf("failed to checkpoint the database: %w", err)
	}
	return busy == 0, nil
}

// SetClock replaces the clock that stamps stored rows and that the retention is checked
// against (time.Now by default), for tests that move time.
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// encryptedBodyCutoff is the stored_ms before which encrypted rooms' bodies are dropped, and
// whether there is such a bound.
func (r Retention) encryptedBodyCutoff(now time.Time) (int64, bool) {
	switch {
	case r.NoEncryptedBodies:
		return math.MaxInt64, true
	case r.EncryptedBodyAge > 0:
		return now.Add(-r.EncryptedBodyAge).UnixMilli(), true
	}
	return 0, false
}

func (r Retention) bodyExpired(storedMS int64, now time.Time) bool {
	cutoff, ok := r.encryptedBodyCutoff(now)
	return ok && storedMS < cutoff
}

const (
	scrubbedKey          = "retention:scrubbed"
	clearRedactedContent = `UPDATE gateway_message SET content = '' WHERE redacted = TRUE AND content <> ''`
	queryVacuum          = `VACUUM`
)

// ScrubOnce cleans, once in the life of a database file, what builds before the retention
// left in it: it drops the content they kept for redacted messages, rewrites the file (VACUUM)
// so that plaintext deleted before secure_delete was on is not left in its free space, and
// empties the WAL. It reports whether it ran; after a failure it runs again at the next call.
// VACUUM holds the write lock while it copies the whole file: call it before anything else
// uses the database. A PostgreSQL database has nothing to clear (no build before the retention
// wrote to one): it reports false.
func (db *DB) ScrubOnce(ctx context.Context) (bool, error) {
	if isPostgres(db) {
		return false, nil
	}
	if _, err := db.KV().GetValue(ctx, scrubbedKey); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if _, err := db.util.Exec(ctx, clearRedactedContent); err != nil {
		return false, fmt.Errorf("failed to drop the content of redacted messages: %w", err)
	}
	if _, err := db.util.Exec(ctx, queryVacuum); err != nil {
		return false, fmt.Errorf("failed to rewrite the database file (VACUUM): %w", err)
	}
	if err := db.KV().SetValue(ctx, scrubbedKey, db.now().UTC().Format(time.RFC3339)); err != nil {
		return false, err
	}
	if _, err := db.Checkpoint(ctx); err != nil {
		return true, err
	}
	return true, nil
}
