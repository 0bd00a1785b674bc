package account

import (
	"context"
	"sync"
	"sync/atomic"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
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

// storedEncryption is what the state store held of a room's m.room.encryption: its algorithm,
// "" for none, read when EncryptionWrites was writes.
type storedEncryption struct {
	alg    id.Algorithm
	writes uint64
}

// storedCacheRooms bounds the rooms an Account keeps the stored encryption of; past it, it
// starts over.
const storedCacheRooms = 10000

// encryptionCache is what StoredEncryption read, per room.
type encryptionCache struct {
	rooms sync.Map     // id.RoomID → storedEncryption
	n     atomic.Int64 // entries stored since rooms was last cleared (at least its size)
}

// StoredEncryption is the algorithm of room's m.room.encryption in the state store, "" when it
// has none (or the bot has no state store). The sync loop asks it for every batch of messages
// (the index, the plaintext guard) and the send path twice per send, so a read is kept until
// encryption state is written to the store anywhere in the process (EncryptionWrites is read
// before the store, so a write that the read may have missed makes the entry stale).
func (a *Account) StoredEncryption(ctx context.Context, room id.RoomID) (id.Algorithm, error) {
	if a.StateStore == nil {
		return "", nil
	}
	writes := EncryptionWrites()
	if v, ok := a.encryption.rooms.Load(room); ok && v.(storedEncryption).writes == writes {
		return v.(storedEncryption).alg, nil
	}
	content, err := a.StateStore.GetEncryptionEvent(ctx, room)
	if err != nil {
		return "", err
	}
	var alg id.Algorithm
	if content != nil {
		alg = content.Algorithm
	}
	if a.encryption.n.Add(1) > storedCacheRooms {
		a.encryption.rooms.Clear()
		a.encryption.n.Store(1)
	}
	a.encryption.rooms.Store(room, storedEncryption{alg: alg, writes: writes})
	return alg, nil
}
