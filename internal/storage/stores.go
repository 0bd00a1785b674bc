package storage

// The database's tables are reached through one small store per concern, so that no type carries
// every query (issue 11: at most 25 methods a type). Each store is a view of the same DB: a value
// that holds nothing else, free to copy and to keep.

// SyncPositions keeps each bot's /sync position (next_batch) and filter id.
type SyncPositions struct{ db *DB }

// IDStore maps Matrix IDs to OneBot v11 integers and back.
type IDStore struct{ db *DB }

// MessageStore is the message index (what get_msg and replies look up).
type MessageStore struct{ db *DB }

// FileStore keeps the records behind OneBot file IDs.
type FileStore struct{ db *DB }

// KVStore is a small key/value table.
type KVStore struct{ db *DB }

// MuteStore keeps the timed mutes of the group actions.
type MuteStore struct{ db *DB }

// OutboxStore keeps the frames of pushing endpoints (reverse WebSockets, webhooks) while they
// are down.
type OutboxStore struct{ db *DB }

// SendTxnStore keeps the idempotency records of sends (a request key to its transaction ID and
// event).
type SendTxnStore struct{ db *DB }

// TokenStore keeps the bots' access tokens and the OAuth clients registered with issuers.
type TokenStore struct{ db *DB }

// Sync returns the store of sync positions.
func (db *DB) Sync() SyncPositions { return SyncPositions{db} }

// IDs returns the store of v11 ID maps.
func (db *DB) IDs() IDStore { return IDStore{db} }

// Messages returns the message index.
func (db *DB) Messages() MessageStore { return MessageStore{db} }

// Files returns the store of file records.
func (db *DB) Files() FileStore { return FileStore{db} }

// KV returns the key/value table.
func (db *DB) KV() KVStore { return KVStore{db} }

// Mutes returns the store of timed mutes.
func (db *DB) Mutes() MuteStore { return MuteStore{db} }

// Outbox returns the pushing endpoints' outbox.
func (db *DB) Outbox() OutboxStore { return OutboxStore{db} }

// SendTxns returns the store of send idempotency records.
func (db *DB) SendTxns() SendTxnStore { return SendTxnStore{db} }

// Tokens returns the store of access tokens and OAuth clients.
func (db *DB) Tokens() TokenStore { return TokenStore{db} }
