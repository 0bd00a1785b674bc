package send

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Idempotent sends. A client that sends with a key (v12 matrix.txn_id, v11 matrix_txn_id) gets
// a Matrix transaction ID made for that key and stored with it (storage.ClaimSendTxn): every
// retry of the send, also after a restart of the gateway, sends with the same transaction ID,
// and the homeserver posts the event once (Synapse remembers a transaction ID per user and
// device for 24 hours, across refreshed access tokens and its own restarts). Once a send
// succeeded, its event ID is stored too, and a retry answers it without sending at all.

// Keys are a bot's idempotency keys: their stored records, and a lock per key that serialises
// the sends of one key within this process, so that two concurrent tries of the same send do
// not both build and upload it.
type Keys struct {
	acct  *account.Account
	mu    sync.Mutex
	locks map[string]*keyLock
}

// NewKeys returns the idempotency keys of acct's bot.
func NewKeys(acct *account.Account) *Keys { return &Keys{acct: acct} }

type keyLock struct {
	mu    sync.Mutex
	users int
}

// Lock waits until no other send of key runs in this process; unlock ends this one.
func (k *Keys) Lock(key string) (unlock func()) {
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

// PartTxnID is the transaction ID of the i-th event of a message sent with an idempotency key.
func PartTxnID(base string, i int) string {
	if i == 0 {
		return base
	}
	return base + "_" + strconv.Itoa(i)
}

// Claim returns the stored record of an idempotency key, creating it when new.
func (k *Keys) Claim(ctx context.Context, idem model.Idempotency) (storage.SendTxn, error) {
	rec, err := k.acct.DB.SendTxns().ClaimSendTxn(ctx, string(k.acct.UserID()), idem.Key, idem.Hash, newKeyTxnID())
	if errors.Is(err, storage.ErrTxnKeyReused) {
		return rec, model.Errorf(model.ErrBadParam, "the idempotency key %q was used for a different message in the last %v: "+
			"use a new key for each message, and the same key only to retry that message", idem.Key, storage.SendTxnWindow)
	}
	return rec, err
}

// SentWithKey implements model.IdempotentSender.
func (k *Keys) SentWithKey(ctx context.Context, idem model.Idempotency) (model.Sent, bool, error) {
	rec, err := k.Claim(ctx, idem)
	if err != nil || !rec.Done() {
		return model.Sent{}, false, err
	}
	return SentOf(rec), true, nil
}

var _ model.IdempotentSender = (*Keys)(nil)

// SentOf is the message a finished send posted.
func SentOf(rec storage.SendTxn) model.Sent {
	return model.Sent{EventID: id.EventID(rec.EventID), RoomID: id.RoomID(rec.RoomID), Time: rec.SentAt}
}

// Finish records the result of a send with an idempotency key.
func (k *Keys) Finish(ctx context.Context, idem model.Idempotency, sent model.Sent) {
	at := sent.Time
	if at.IsZero() {
		at = time.Now()
	}
	// The send is done even when this write fails: a retry then sends once more with the same
	// transaction ID, which the homeserver still answers with this event.
	if err := k.acct.DB.SendTxns().FinishSendTxn(context.WithoutCancel(ctx), string(k.acct.UserID()), idem.Key, string(sent.RoomID), string(sent.EventID), at); err != nil {
		k.acct.Log().Warn("failed to record a send's idempotency key: a retry within 24 hours is still posted once while the homeserver remembers the transaction", "event_id", sent.EventID, "error", err)
	}
}
