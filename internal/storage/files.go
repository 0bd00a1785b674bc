package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// File records: the file store's JSON record of each file (internal/matrix.Media), keyed by
// file id, with when it was last written. They expire after Retention.FileAge; the records of
// end-to-end encrypted attachments (their keys, and the decrypted copies the file store keeps for
// them) also after Retention.EncryptedBodyAge when that is shorter.

const (
	selectFileRecord = `SELECT record, saved_ms, encrypted FROM gateway_file WHERE file_id = $1`
	upsertFileRecord = `
INSERT INTO gateway_file (file_id, record, saved_ms, encrypted) VALUES ($1, $2, $3, $4)
ON CONFLICT (file_id) DO UPDATE SET record = excluded.record, saved_ms = excluded.saved_ms, encrypted = excluded.encrypted`
	// $1: the cutoff of every record, $2 that of encrypted attachments' (GATEWAY_ENCRYPTED_BODY_RETENTION).
	deleteAgedFileRecords = `DELETE FROM gateway_file WHERE saved_ms < $1 OR (encrypted = TRUE AND saved_ms < $2) RETURNING file_id`
	deleteFileRecord      = `DELETE FROM gateway_file WHERE file_id = $1`
)

// GetFileRecord returns the record stored under fileID, or ErrNotFound (ErrExpired when it is
// past Retention.FileAge, or an encrypted attachment's past Retention.EncryptedBodyAge).
func (s FileStore) GetFileRecord(ctx context.Context, fileID string) (string, error) {
	rec, saved, encrypted, err := getFileRecord(ctx, s.db, fileID)
	if err != nil {
		return "", fmt.Errorf("failed to get file record %s: %w", fileID, err)
	}
	if s.fileExpired(saved, encrypted) {
		return "", fmt.Errorf("failed to get file record %s: %w", fileID, ErrExpired)
	}
	return rec, nil
}

func getFileRecord(ctx context.Context, db *DB, fileID string) (string, int64, bool, error) {
	var (
		rec       string
		saved     int64
		encrypted bool
	)
	err := db.util.QueryRow(ctx, selectFileRecord, fileID).Scan(&rec, &saved, &encrypted)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, false, ErrNotFound
	}
	return rec, saved, encrypted, err
}

func (s FileStore) fileExpired(savedMS int64, encrypted bool) bool {
	r := s.db.Retention()
	saved, now := time.UnixMilli(savedMS), s.db.now()
	return r.FileAge > 0 && saved.Before(now.Add(-r.FileAge)) ||
		encrypted && r.EncryptedBodyAge > 0 && saved.Before(now.Add(-r.EncryptedBodyAge))
}

// PutFileRecord stores record under fileID, replacing any previous one; its retention starts
// again. encrypted tells that the record is of an end-to-end encrypted attachment.
func (s FileStore) PutFileRecord(ctx context.Context, fileID, record string, encrypted bool) error {
	if _, err := s.db.util.Exec(ctx, upsertFileRecord, fileID, record, s.db.now().UnixMilli(), encrypted); err != nil {
		return fmt.Errorf("failed to store file record %s: %w", fileID, err)
	}
	return nil
}

// GetOrPutFileRecord stores record under fileID unless a record that has not expired is there
// already, and returns the record that is stored. encrypted is as for PutFileRecord.
func (s FileStore) GetOrPutFileRecord(ctx context.Context, fileID, record string, encrypted bool) (string, error) {
	stored := record
	err := inTx(ctx, s.db, func(ctx context.Context) error {
		rec, saved, wasEncrypted, err := getFileRecord(ctx, s.db, fileID)
		switch {
		case err == nil && !s.fileExpired(saved, wasEncrypted):
			stored = rec
			return nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return err
		}
		_, err = s.db.util.Exec(ctx, upsertFileRecord, fileID, record, s.db.now().UnixMilli(), encrypted)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("failed to get or store file record %s: %w", fileID, err)
	}
	return stored, nil
}

// DeleteFileRecord deletes the record of fileID, if any.
func (s FileStore) DeleteFileRecord(ctx context.Context, fileID string) error {
	if _, err := s.db.util.Exec(ctx, deleteFileRecord, fileID); err != nil {
		return fmt.Errorf("failed to delete file record %s: %w", fileID, err)
	}
	return nil
}

// PruneFileRecords deletes the records past Retention.FileAge at now, and those of encrypted
// attachments past Retention.EncryptedBodyAge, and returns their ids, so that the file store can
// delete the bytes it keeps for them. Nothing is deleted without either bound.
func (s FileStore) PruneFileRecords(ctx context.Context, now time.Time) ([]string, error) {
	r := s.db.Retention()
	if r.FileAge <= 0 && r.EncryptedBodyAge <= 0 {
		return nil, nil
	}
	cutoff := func(age time.Duration) int64 {
		if age <= 0 {
			return 0 // no bound: saved_ms < 0 holds for no record
		}
		return now.Add(-age).UnixMilli()
	}
	rows, err := s.db.util.Query(ctx, deleteAgedFileRecords, cutoff(r.FileAge), cutoff(r.EncryptedBodyAge))
	if err != nil {
		return nil, fmt.Errorf("failed to prune file records: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return ids, fmt.Errorf("failed to prune file records: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return ids, fmt.Errorf("failed to prune file records: %w", err)
	}
	return ids, nil
}
