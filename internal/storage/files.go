package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// File records: the file store's JSON record of each file (internal/matrix.Media), keyed by
// file id, with when it was last written. They expire after Retention.FileAge.

const (
	selectFileRecord = `SELECT record, saved_ms FROM gateway_file WHERE file_id = $1`
	upsertFileRecord = `
INSERT INTO gateway_file (file_id, record, saved_ms) VALUES ($1, $2, $3)
ON CONFLICT (file_id) DO UPDATE SET record = excluded.record, saved_ms = excluded.saved_ms`
	deleteAgedFileRecords = `DELETE FROM gateway_file WHERE saved_ms < $1 RETURNING file_id`
	deleteFileRecord      = `DELETE FROM gateway_file WHERE file_id = $1`
)

// GetFileRecord returns the record stored under fileID, or ErrNotFound (ErrExpired when it is
// past Retention.FileAge).
func (s FileStore) GetFileRecord(ctx context.Context, fileID string) (string, error) {
	rec, saved, err := getFileRecord(ctx, s.db, fileID)
	if err != nil {
		return "", fmt.Errorf("failed to get file record %s: %w", fileID, err)
	}
	if s.fileExpired(saved) {
		return "", fmt.Errorf("failed to get file record %s: %w", fileID, ErrExpired)
	}
	return rec, nil
}

func getFileRecord(ctx context.Context, db *DB, fileID string) (string, int64, error) {
	var (
		rec   string
		saved int64
	)
	err := db.util.QueryRow(ctx, selectFileRecord, fileID).Scan(&rec, &saved)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, ErrNotFound
	}
	return rec, saved, err
}

func (s FileStore) fileExpired(savedMS int64) bool {
	age := s.db.Retention().FileAge
	return age > 0 && time.UnixMilli(savedMS).Before(s.db.now().Add(-age))
}

// PutFileRecord stores record under fileID, replacing any previous one; its retention starts
// again.
func (s FileStore) PutFileRecord(ctx context.Context, fileID, record string) error {
	if _, err := s.db.util.Exec(ctx, upsertFileRecord, fileID, record, s.db.now().UnixMilli()); err != nil {
		return fmt.Errorf("failed to store file record %s: %w", fileID, err)
	}
	return nil
}

// GetOrPutFileRecord stores record under fileID unless a record that has not expired is there
// already, and returns the record that is stored.
func (s FileStore) GetOrPutFileRecord(ctx context.Context, fileID, record string) (string, error) {
	stored := record
	err := inTx(ctx, s.db, func(ctx context.Context) error {
		rec, saved, err := getFileRecord(ctx, s.db, fileID)
		switch {
		case err == nil && !s.fileExpired(saved):
			stored = rec
			return nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return err
		}
		_, err = s.db.util.Exec(ctx, upsertFileRecord, fileID, record, s.db.now().UnixMilli())
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

// PruneFileRecords deletes the records past Retention.FileAge at now and returns their ids, so
// that the file store can delete the bytes it keeps for them. Nothing is deleted when
// Retention.FileAge is 0.
func (s FileStore) PruneFileRecords(ctx context.Context, now time.Time) ([]string, error) {
	age := s.db.Retention().FileAge
	if age <= 0 {
		return nil, nil
	}
	rows, err := s.db.util.Query(ctx, deleteAgedFileRecords, now.Add(-age).UnixMilli())
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
