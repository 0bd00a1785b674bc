package matrix

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Idempotent sends. A client that sends with a key (v12 matrix.txn_id, v11 matrix_txn_id) gets
// a Matrix transaction ID made for that key and stored with it (storage.ClaimSendTxn): every
// retry of the send, also after a restart of the gateway, sends with the same transaction ID,
// and the homeserver posts the event once (Synapse remembers a transaction ID per user and
// device for 24 hours, across refreshed access tokens and its own restarts). Once a send
// succeeded, its event ID is stored too, and a retry answers it without sending at all.

var _ model.IdempotentSender = (*Session)(nil)

// keyLocks serialises the sends of one idempotency key within this process, so that two
// concurrent tries of the same send do not both build and upload it.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu    sync.Mutex
	users int
}

func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// newKeyTxnID returns a fresh transaction ID for a client key; parts of one message add _N.
func newKeyTxnID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "onebot_" + hex.EncodeToString(b)
}

// partTxnID is the transaction ID of the i-th event of a message sent with an idempotency key.
func partTxnID(base string, i int) string {
	if i == 0 {
		return base
	}
	return base + "_" + strconv.Itoa(i)
}

// claimKey returns the stored record of an idempotency key, creating it when new.
func (s *Session) claimKey(ctx context.Context, idem model.Idempotency) (storage.SendTxn, error) {
	rec, err := s.opts.DB.ClaimSendTxn(ctx, string(s.UserID()), idem.Key, idem.Hash, newKeyTxnID())
	if errors.Is(err, storage.ErrTxnKeyReused) {
		return rec, model.Errorf(model.ErrBadParam, "the idempotency key %q was used for a different message in the last %v: "+
			"use a new key for each message, and the same key only to retry that message", idem.Key, storage.SendTxnWindow)
	}
	return rec, err
}

// SentWithKey implements model.IdempotentSender.
func (s *Session) SentWithKey(ctx context.Context, idem model.Idempotency) (model.Sent, bool, error) {
	rec, err := s.claimKey(ctx, idem)
	if err != nil || !rec.Done() {
		return model.Sent{}, false, err
	}
	return sentOf(rec), true, nil
}

func sentOf(rec storage.SendTxn) model.Sent {
	return model.Sent{EventID: id.EventID(rec.EventID), RoomID: id.RoomID(rec.RoomID), Time: rec.SentAt}
}

// finishKey records the result of a send with an idempotency key.
func (s *Session) finishKey(ctx context.Context, idem model.Idempotency, sent model.Sent) {
	at := sent.Time
	if at.IsZero() {
		at = time.Now()
	}
	// The send is done even when this write fails: a retry then sends once more with the same
	// transaction ID, which the homeserver still answers with this event.
	if err := s.opts.DB.FinishSendTxn(context.WithoutCancel(ctx), string(s.UserID()), idem.Key, string(sent.RoomID), string(sent.EventID), at); err != nil {
		s.log.Warn("failed to record a send's idempotency key: a retry within 24 hours is still posted once while the homeserver remembers the transaction", "event_id", sent.EventID, "error", err)
	}
}
