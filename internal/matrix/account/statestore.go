package account

import (
	"context"
	"sync/atomic"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/sqlstatestore"
)

// encryptionWrites counts the writes of a room's m.room.encryption to the state store, in the
// whole process: the bots share one state store, so one bot's sync can tell every bot's send
// path that a room is encrypted.
var encryptionWrites atomic.Uint64

// EncryptionWrites is the number of writes of rooms' encryption state to the state store so far.
// What a caller read of the store's encryption state after seeing n here is still what the store
// holds while this is n: a write counts once it is in the store.
func EncryptionWrites() uint64 { return encryptionWrites.Load() }

// NoteEncryptionWrite counts a write of a room's m.room.encryption to the state store; whatever
// writes one calls it after the write (also after a failed one). The writers are the sync loop
// (UpdateState), crypt.Policy (what it learnt from the homeserver) and a raw state send through
// the mautrix client, which stores what it sent. A room created with encryption needs none: it
// is new, so nothing read its state before.
func NoteEncryptionWrite() { encryptionWrites.Add(1) }

// UpdateState writes a state event to store (mautrix.UpdateStateStore), counting a write of
// encryption state.
func UpdateState(ctx context.Context, store *sqlstatestore.SQLStateStore, evt *event.Event) {
	mautrix.UpdateStateStore(ctx, store, evt)
	if evt.Type == event.StateEncryption {
		NoteEncryptionWrite()
	}
}
