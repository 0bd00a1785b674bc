package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

const (
	selectNextBatch = `SELECT next_batch FROM gateway_sync WHERE bot_user_id = $1`
	upsertNextBatch = `INSERT INTO gateway_sync (bot_user_id, next_batch) VALUES ($1, $2)
ON CONFLICT (bot_user_id) DO UPDATE SET next_batch = excluded.next_batch`
	selectFilterID = `SELECT filter_id FROM gateway_sync WHERE bot_user_id = $1`
	upsertFilterID = `INSERT INTO gateway_sync (bot_user_id, filter_id) VALUES ($1, $2)
ON CONFLICT (bot_user_id) DO UPDATE SET filter_id = excluded.filter_id`
)

const deleteValue = `DELETE FROM gateway_kv WHERE key = $1`

// SaveSyncPosition saves the bot's /sync next_batch token and, in the same transaction, deletes
// the gateway_kv rows under clearKeys (the record of the batch it ends).
func (s SyncPositions) SaveSyncPosition(ctx context.Context, botUserID, token string, clearKeys ...string) error {
	if botUserID == "" {
		return errors.New("failed to save sync state: bot user id is empty")
	}
	err := inTx(ctx, s.db, func(ctx context.Context) error {
		if _, err := s.db.util.Exec(ctx, upsertNextBatch, botUserID, token); err != nil {
			return err
		}
		for _, k := range clearKeys {
			if _, err := s.db.util.Exec(ctx, deleteValue, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("failed to save sync state of %s: %w", botUserID, err)
	}
	return nil
}

// SyncToken returns the bot's saved /sync next_batch token, or "" if none.
func (s SyncPositions) SyncToken(ctx context.Context, botUserID string) (string, error) {
	return s.syncField(ctx, selectNextBatch, botUserID)
}

// SetSyncToken saves the bot's /sync next_batch token.
func (s SyncPositions) SetSyncToken(ctx context.Context, botUserID, token string) error {
	return s.setSyncField(ctx, upsertNextBatch, botUserID, token)
}

func (s SyncPositions) syncField(ctx context.Context, query, botUserID string) (string, error) {
	var v string
	err := s.db.util.QueryRow(ctx, query, botUserID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("failed to load sync state of %s: %w", botUserID, err)
	}
	return v, nil
}

func (s SyncPositions) setSyncField(ctx context.Context, query, botUserID, value string) error {
	if botUserID == "" {
		return errors.New("failed to save sync state: bot user id is empty")
	}
	if _, err := s.db.util.Exec(ctx, query, botUserID, value); err != nil {
		return fmt.Errorf("failed to save sync state of %s: %w", botUserID, err)
	}
	return nil
}

// SyncStore returns a mautrix.SyncStore (set it as Client.Store) that keeps
// next_batch and the filter id in gateway_sync, next to SyncToken.
func (s SyncPositions) SyncStore() mautrix.SyncStore { return syncStore{s} }

type syncStore struct{ p SyncPositions }

var _ mautrix.SyncStore = syncStore{}

func (s syncStore) SaveFilterID(ctx context.Context, userID id.UserID, filterID string) error {
	return s.p.setSyncField(ctx, upsertFilterID, string(userID), filterID)
}

func (s syncStore) LoadFilterID(ctx context.Context, userID id.UserID) (string, error) {
	return s.p.syncField(ctx, selectFilterID, string(userID))
}

func (s syncStore) SaveNextBatch(ctx context.Context, userID id.UserID, nextBatchToken string) error {
	return s.p.SetSyncToken(ctx, string(userID), nextBatchToken)
}

func (s syncStore) LoadNextBatch(ctx context.Context, userID id.UserID) (string, error) {
	return s.p.SyncToken(ctx, string(userID))
}
