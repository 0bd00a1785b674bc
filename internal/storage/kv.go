package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

const (
	selectValue = `SELECT value FROM gateway_kv WHERE key = $1`
	upsertValue = `INSERT INTO gateway_kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`
	insertValue = `INSERT INTO gateway_kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`
)

// GetValue returns the value stored under key, or ErrNotFound.
func (s KVStore) GetValue(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.util.QueryRow(ctx, selectValue, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("failed to get value %q: %w", key, ErrNotFound)
	} else if err != nil {
		return "", fmt.Errorf("failed to get value %q: %w", key, err)
	}
	return v, nil
}

// SetValue stores value under key, replacing any previous value.
func (s KVStore) SetValue(ctx context.Context, key, value string) error {
	if _, err := s.db.util.Exec(ctx, upsertValue, key, value); err != nil {
		return fmt.Errorf("failed to set value %q: %w", key, err)
	}
	return nil
}

// GetOrSetValue stores value under key unless the key already has one, and
// returns the value that is stored. Use it for generated secrets: of two
// concurrent callers, both get the first one's value.
func (s KVStore) GetOrSetValue(ctx context.Context, key, value string) (string, error) {
	var stored string
	err := inTx(ctx, s.db, func(ctx context.Context) error {
		if _, err := s.db.util.Exec(ctx, insertValue, key, value); err != nil {
			return err
		}
		return s.db.util.QueryRow(ctx, selectValue, key).Scan(&stored)
	})
	if err != nil {
		return "", fmt.Errorf("failed to get or set value %q: %w", key, err)
	}
	return stored, nil
}
