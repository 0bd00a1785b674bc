package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SendTxnWindow is how long a client's idempotency key is kept: as long as Synapse keeps the
// transaction IDs it has seen (24 hours), so that within it a retried send is posted once.
const SendTxnWindow = 24 * time.Hour

// ErrTxnKeyReused is returned (wrapped) by ClaimSendTxn when the key was used for another
// message within SendTxnWindow.
var ErrTxnKeyReused = errors.New("idempotency key already used for a different message")

// SendTxn is what the gateway keeps for one client idempotency key.
type SendTxn struct {
	TxnID   string // the Matrix transaction ID every attempt with this key sends with
	RoomID  string // set once the send succeeded
	EventID string // set once the send succeeded: a retry answers it without sending
	SentAt  time.Time
}

// Done tells whether the send of this key succeeded before.
func (t SendTxn) Done() bool { return t.EventID != "" }

const (
	pruneSendTxn  = `DELETE FROM gateway_send_txn WHERE created_ms < $1`
	insertSendTxn = `INSERT INTO gateway_send_txn (bot_user_id, client_key, txn_id, request_hash, created_ms)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (bot_user_id, client_key) DO NOTHING`
	selectSendTxn = `SELECT txn_id, request_hash, room_id, event_id, sent_ms FROM gateway_send_txn
		WHERE bot_user_id = $1 AND client_key = $2`
	finishSendTxn = `UPDATE gateway_send_txn SET room_id = $1, event_id = $2, sent_ms = $3
		WHERE bot_user_id = $4 AND client_key = $5 AND event_id = ''`
)

// ClaimSendTxn returns the record of bot's key, creating it with txnID and requestHash when the
// key is new (or older than SendTxnWindow). A key recorded with another request hash is
// ErrTxnKeyReused.
func (s SendTxnStore) ClaimSendTxn(ctx context.Context, bot, key, requestHash, txnID string) (SendTxn, error) {
	var rec SendTxn
	err := inTx(ctx, s.db, func(ctx context.Context) error {
		now := s.db.now()
		if _, err := s.db.util.Exec(ctx, pruneSendTxn, now.Add(-SendTxnWindow).UnixMilli()); err != nil {
			return err
		}
		if _, err := s.db.util.Exec(ctx, insertSendTxn, bot, key, txnID, requestHash, now.UnixMilli()); err != nil {
			return err
		}
		var hash string
		var sentMS int64
		if err := s.db.util.QueryRow(ctx, selectSendTxn, bot, key).Scan(&rec.TxnID, &hash, &rec.RoomID, &rec.EventID, &sentMS); err != nil {
			return err
		}
		if hash != requestHash {
			return ErrTxnKeyReused
		}
		if sentMS != 0 {
			rec.SentAt = time.UnixMilli(sentMS)
		}
		return nil
	})
	if err != nil {
		return SendTxn{}, fmt.Errorf("failed to claim idempotency key %q: %w", key, err)
	}
	return rec, nil
}

// FinishSendTxn records the result of the send of bot's key; a key already finished keeps its
// first result.
func (s SendTxnStore) FinishSendTxn(ctx context.Context, bot, key, roomID, eventID string, at time.Time) error {
	if _, err := s.db.util.Exec(ctx, finishSendTxn, roomID, eventID, at.UnixMilli(), bot, key); err != nil {
		return fmt.Errorf("failed to record the send of idempotency key %q: %w", key, err)
	}
	return nil
}
