package storage

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"
)

// OutboxEntry is one frame waiting for a pushing endpoint.
type OutboxEntry struct {
	Seq      int64 // increases in the order frames were appended, never reused
	QueuedAt time.Time
	Payload  []byte
	// Encrypted marks a frame of an end-to-end encrypted room's event (OutboxFrame.Encrypted).
	Encrypted bool
}

// OutboxLimits bound one endpoint's outbox.
type OutboxLimits struct {
	MaxEvents int           // the oldest frames beyond this many are dropped (> 0)
	MaxAge    time.Duration // frames older than this are dropped (0 = no age limit)
}

const (
	insertOutbox = `INSERT INTO gateway_outbox (endpoint, queued_at, payload, encrypted) VALUES ($1, $2, $3, $4) RETURNING seq`
	// Deletes every frame of the endpoint that is not among the newest ? ones.
	trimOutboxCount = `DELETE FROM gateway_outbox WHERE endpoint = $1 AND seq <=
		(SELECT seq FROM gateway_outbox WHERE endpoint = $2 ORDER BY seq DESC LIMIT 1 OFFSET $3)`
	trimOutboxAge = `DELETE FROM gateway_outbox WHERE endpoint = $1 AND queued_at < $2`
	// The reads leave out encrypted frames queued before $2, the body retention's cutoff.
	selectOutbox = `SELECT seq, queued_at, payload, encrypted FROM gateway_outbox
		WHERE endpoint = $1 AND (encrypted = FALSE OR queued_at >= $2) ORDER BY seq LIMIT $3`
	selectAfter = `SELECT seq, queued_at, payload, encrypted FROM gateway_outbox
		WHERE endpoint = $1 AND (encrypted = FALSE OR queued_at >= $2) AND seq > $3 ORDER BY seq LIMIT $4`
	newestOutbox    = `SELECT COALESCE(MAX(seq), 0) FROM gateway_outbox WHERE endpoint = $1`
	deleteOutbox    = `DELETE FROM gateway_outbox WHERE endpoint = $1 AND seq <= $2`
	countOutbox     = `SELECT COUNT(*) FROM gateway_outbox WHERE endpoint = $1`
	purgeOutboxAge  = `DELETE FROM gateway_outbox WHERE queued_at < $1`
	statOutboxAfter = `SELECT COUNT(*), COALESCE(MIN(queued_at), 0) FROM gateway_outbox WHERE endpoint = $1 AND seq > $2`
	// The retention of decrypted content (GATEWAY_ENCRYPTED_BODY_RETENTION) on the outbox.
	pruneEncryptedOutbox     = `DELETE FROM gateway_outbox WHERE encrypted = TRUE AND queued_at < $1`
	deliveredEncryptedOutbox = `DELETE FROM gateway_outbox WHERE endpoint = $1 AND seq <= $2 AND encrypted = TRUE`
)

// OutboxAppend adds a frame that holds no decrypted content (a status frame) at the end of
// endpoint's outbox, then drops what exceeds the limits (the oldest first). It returns how many
// frames were dropped.
func (s OutboxStore) OutboxAppend(ctx context.Context, endpoint string, payload []byte, at time.Time, lim OutboxLimits) (int64, error) {
	var dropped int64
	err := inTx(ctx, s.db, func(ctx context.Context) (err error) {
		_, dropped, err = appendOutbox(ctx, s.db, OutboxFrame{Endpoint: endpoint, Payload: payload}, at, lim)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("failed to append to outbox: %w", err)
	}
	return dropped, nil
}

// outboxLockClass is the first key of the transaction-level advisory locks that serialise the
// appends to one endpoint's outbox on PostgreSQL ("outb"); the second is a hash of the endpoint.
// Two-key locks do not share their key space with the one-key locks of Ownership and the upgrade.
const outboxLockClass int32 = 0x6f757462

// lockOutboxEndpoint makes, on PostgreSQL, the transaction of ctx the only one appending to
// endpoint's outbox until it ends. The readers go by seq (OutboxAfter reads past a position,
// OutboxDelete deletes up to a seq), so a frame must not become visible after one with a higher
// seq: without the lock, a transaction that took its seq first could commit last, and a reader
// that has read past the later frame would never see it (or delete it undelivered). With it, a
// frame's seq is taken after the transaction before it committed. A transaction that appends to
// several endpoints locks them in order (OutboxAppendAll sorts its frames), so two cannot wait
// for each other. SQLite needs nothing: a transaction holds the write lock from its start.
func lockOutboxEndpoint(ctx context.Context, db *DB, endpoint string) error {
	if !isPostgres(db) {
		return nil
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(endpoint))
	_, err := db.util.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, outboxLockClass, int32(h.Sum32()))
	return err
}

// appendOutbox stores f and trims its endpoint's outbox; it returns f's seq and how many frames
// the trim dropped.
func appendOutbox(ctx context.Context, db *DB, f OutboxFrame, at time.Time, lim OutboxLimits) (seq, dropped int64, err error) {
	endpoint := f.Endpoint
	if err := lockOutboxEndpoint(ctx, db, endpoint); err != nil {
		return 0, 0, err
	}
	if err := db.util.QueryRow(ctx, insertOutbox, endpoint, at.UnixMilli(), f.Payload, f.Encrypted).Scan(&seq); err != nil {
		return 0, 0, err
	}
	if lim.MaxEvents > 0 {
		if dropped, err = execCount(ctx, db, trimOutboxCount, endpoint, endpoint, lim.MaxEvents); err != nil {
			return 0, 0, err
		}
	}
	if lim.MaxAge > 0 {
		n, err := execCount(ctx, db, trimOutboxAge, endpoint, at.Add(-lim.MaxAge).UnixMilli())
		if err != nil {
			return 0, 0, err
		}
		dropped += n
	}
	return seq, dropped, nil
}

// OutboxFrame is one frame for one endpoint's outbox.
type OutboxFrame struct {
	Endpoint string
	Payload  []byte
	// Encrypted marks the frame of an event of an end-to-end encrypted room (model.Event
	// Decrypted): its payload is decrypted plaintext, kept only as the retention of encrypted
	// bodies allows (see OutboxDelivered and PruneMessages).
	Encrypted bool
}

// OutboxAppended is what OutboxAppendAll stored: each frame's seq, in the order of the frames
// given, and how many old frames each endpoint dropped to keep within the limits.
type OutboxAppended struct {
	Seqs    []int64
	Dropped map[string]int64
}

// OutboxAppendAll adds each frame at the end of its endpoint's outbox in one transaction: either
// every frame is stored or none is (an event reaches all its pushing endpoints durably, or the
// caller retries it). Then it drops what exceeds the limits, the oldest first.
func (s OutboxStore) OutboxAppendAll(ctx context.Context, frames []OutboxFrame, at time.Time, lim OutboxLimits) (OutboxAppended, error) {
	out := OutboxAppended{Seqs: make([]int64, len(frames)), Dropped: map[string]int64{}}
	// By endpoint, so that concurrent transactions lock endpoints in one order
	// (lockOutboxEndpoint); an endpoint's frames keep their order.
	order := make([]int, len(frames))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(frames[a].Endpoint, frames[b].Endpoint) })
	err := inTx(ctx, s.db, func(ctx context.Context) error {
		for _, i := range order {
			seq, n, err := appendOutbox(ctx, s.db, frames[i], at, lim)
			if err != nil {
				return err
			}
			out.Seqs[i] = seq
			if n > 0 {
				out.Dropped[frames[i].Endpoint] += n
			}
		}
		return nil
	})
	if err != nil {
		return OutboxAppended{}, fmt.Errorf("failed to append to outbox: %w", err)
	}
	return out, nil
}

// OutboxPeek returns up to limit of endpoint's oldest frames, oldest first. Encrypted frames
// past Retention.EncryptedBodyAge are left out (PruneMessages deletes them).
func (s OutboxStore) OutboxPeek(ctx context.Context, endpoint string, limit int) ([]OutboxEntry, error) {
	return s.outboxRows(ctx, selectOutbox, endpoint, s.encryptedCutoff(), limit)
}

// OutboxAfter returns up to limit of endpoint's frames with a seq above after, oldest first: the
// read of an outbox whose frames are kept after delivery (a stream several clients resume from).
// Encrypted frames past Retention.EncryptedBodyAge are left out, as by OutboxPeek.
func (s OutboxStore) OutboxAfter(ctx context.Context, endpoint string, after int64, limit int) ([]OutboxEntry, error) {
	return s.outboxRows(ctx, selectAfter, endpoint, s.encryptedCutoff(), after, limit)
}

// encryptedCutoff is the queued_at (Unix ms) before which the reads leave encrypted frames out:
// now minus Retention.EncryptedBodyAge, or 0 without an age bound. NoEncryptedBodies hides
// nothing on reads: a frame waiting for its endpoint is kept until it is delivered (the outbox
// exists to deliver it), and a delivered one is deleted then (OutboxDelivered).
func (s OutboxStore) encryptedCutoff() int64 {
	if r := s.db.Retention(); r.EncryptedBodyAge > 0 {
		return s.db.now().Add(-r.EncryptedBodyAge).UnixMilli()
	}
	return 0
}

// OutboxDelivered tells that endpoint's frames up to and including seq were delivered in an
// outbox whose frames are kept after delivery (OutboxAfter's). With Retention.NoEncryptedBodies
// (GATEWAY_ENCRYPTED_BODY_RETENTION=0) the encrypted ones among them are deleted at once: the
// decrypted content is not kept for resuming clients. Otherwise it does nothing (the age bound
// applies on reads and in PruneMessages). It returns how many frames were deleted.
func (s OutboxStore) OutboxDelivered(ctx context.Context, endpoint string, seq int64) (int64, error) {
	if !s.db.Retention().NoEncryptedBodies {
		return 0, nil
	}
	n, err := execCount(ctx, s.db, deliveredEncryptedOutbox, endpoint, seq)
	if err != nil {
		return 0, fmt.Errorf("failed to delete delivered encrypted frames from the outbox: %w", err)
	}
	s.db.droppedAtDelivery.Add(n)
	return n, nil
}

// OutboxNewest returns the seq of endpoint's newest frame, 0 when it holds none.
func (s OutboxStore) OutboxNewest(ctx context.Context, endpoint string) (int64, error) {
	var seq int64
	if err := s.db.util.QueryRow(ctx, newestOutbox, endpoint).Scan(&seq); err != nil {
		return 0, fmt.Errorf("failed to read outbox: %w", err)
	}
	return seq, nil
}

func (s OutboxStore) outboxRows(ctx context.Context, query string, args ...any) ([]OutboxEntry, error) {
	rows, err := s.db.util.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("failed to read outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxEntry
	for rows.Next() {
		var e OutboxEntry
		var ms int64
		if err := rows.Scan(&e.Seq, &ms, &e.Payload, &e.Encrypted); err != nil {
			return nil, fmt.Errorf("failed to read outbox: %w", err)
		}
		e.QueuedAt = time.UnixMilli(ms)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("failed to read outbox: %w", err)
	}
	return out, nil
}

// OutboxDelete removes endpoint's frames up to and including seq (they were delivered).
func (s OutboxStore) OutboxDelete(ctx context.Context, endpoint string, seq int64) error {
	if _, err := s.db.util.Exec(ctx, deleteOutbox, endpoint, seq); err != nil {
		return fmt.Errorf("failed to delete from outbox: %w", err)
	}
	return nil
}

// OutboxCount returns how many frames wait for endpoint.
func (s OutboxStore) OutboxCount(ctx context.Context, endpoint string) (int, error) {
	var n int
	if err := s.db.util.QueryRow(ctx, countOutbox, endpoint).Scan(&n); err != nil {
		return 0, fmt.Errorf("failed to count outbox: %w", err)
	}
	return n, nil
}

// OutboxPurge drops every frame, of any endpoint, queued before cutoff (also those of
// endpoints that are no longer configured). It returns how many were dropped.
func (s OutboxStore) OutboxPurge(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := execCount(ctx, s.db, purgeOutboxAge, cutoff.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("failed to purge outbox: %w", err)
	}
	return n, nil
}

// OutboxStat is one endpoint's outbox: how many frames wait and since when.
type OutboxStat struct {
	Depth  int64
	Oldest time.Time // zero when empty
}

// OutboxStatAfter returns how many of endpoint's frames have a seq above after, and the oldest
// of them: what waits in an outbox whose frames are kept after delivery (OutboxAfter's), whose
// reader has handed over the frames up to after.
func (s OutboxStore) OutboxStatAfter(ctx context.Context, endpoint string, after int64) (OutboxStat, error) {
	var n, ms int64
	if err := s.db.util.QueryRow(ctx, statOutboxAfter, endpoint, after).Scan(&n, &ms); err != nil {
		return OutboxStat{}, fmt.Errorf("failed to read outbox: %w", err)
	}
	st := OutboxStat{Depth: n}
	if n > 0 {
		st.Oldest = time.UnixMilli(ms)
	}
	return st, nil
}

// OutboxStats returns the depth and oldest frame of every endpoint's outbox that holds frames
// (/metrics reads it at each scrape).
func (s OutboxStore) OutboxStats(ctx context.Context) (map[string]OutboxStat, error) {
	rows, err := s.db.util.Query(ctx, `SELECT endpoint, COUNT(*), MIN(queued_at) FROM gateway_outbox GROUP BY endpoint`)
	if err != nil {
		return nil, fmt.Errorf("failed to read outbox: %w", err)
	}
	defer rows.Close()
	out := map[string]OutboxStat{}
	for rows.Next() {
		var ep string
		var n, ms int64
		if err := rows.Scan(&ep, &n, &ms); err != nil {
			return nil, fmt.Errorf("failed to read outbox: %w", err)
		}
		out[ep] = OutboxStat{Depth: n, Oldest: time.UnixMilli(ms)}
	}
	return out, rows.Err()
}
