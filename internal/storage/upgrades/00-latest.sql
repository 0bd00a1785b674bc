-- v0 -> v9: latest revision
-- The whole schema of a new database. A SQLite file an older build made is brought up from its
-- version by the numbered files instead (02-… to 09-…); both roads end at the same tables, which
-- TestUpgradedSchemaMatchesNew checks. mautrix's crypto and state stores live in the same
-- database with their own version tables (crypto_version, mx_version).
--
-- Every table the gateway owns starts with "gateway_" so it cannot collide with the tables
-- mautrix's stores create (crypto_*, mx_*).
--
-- The two dialects have the same tables, columns and meaning; PostgreSQL's differ in types only
-- where SQLite's would not fit: BIGINT where SQLite's INTEGER holds 64 bits (ids, milliseconds),
-- BOOLEAN for flags, BYTEA for bytes, an identity column for AUTOINCREMENT (and a rowid column on
-- gateway_message, for the insertion order that SQLite's implicit rowid gives), and a trigger
-- function for the triggers. Queries use what both accept (TRUE, $1, ON CONFLICT, RETURNING).

-- only: sqlite until "end only"

-- One Matrix /sync position per bot. filter_id is the server-side filter mautrix uploads once per
-- bot (see SyncStore).
CREATE TABLE gateway_sync (
	bot_user_id TEXT PRIMARY KEY NOT NULL,
	next_batch  TEXT NOT NULL DEFAULT '',
	filter_id   TEXT NOT NULL DEFAULT ''
);

-- OneBot v11 wants integers where Matrix has strings. Each kind has its own table so the numbers
-- stay small. A plain INTEGER PRIMARY KEY (not AUTOINCREMENT, whose counter also moves when an
-- INSERT ... ON CONFLICT DO NOTHING loses a race) hands out max(id)+1, so rows must never be
-- deleted or a number could come back for another Matrix id: the triggers refuse that.
CREATE TABLE gateway_user_id (
	id        INTEGER PRIMARY KEY,
	matrix_id TEXT NOT NULL UNIQUE
);

CREATE TABLE gateway_room_id (
	id        INTEGER PRIMARY KEY,
	matrix_id TEXT NOT NULL UNIQUE
);

CREATE TABLE gateway_event_id (
	id        INTEGER PRIMARY KEY,
	matrix_id TEXT NOT NULL UNIQUE
);

CREATE TRIGGER gateway_user_id_keep BEFORE DELETE ON gateway_user_id
BEGIN
	SELECT RAISE(ABORT, 'v11 ids are never deleted');
END;

CREATE TRIGGER gateway_room_id_keep BEFORE DELETE ON gateway_room_id
BEGIN
	SELECT RAISE(ABORT, 'v11 ids are never deleted');
END;

CREATE TRIGGER gateway_event_id_keep BEFORE DELETE ON gateway_event_id
BEGIN
	SELECT RAISE(ABORT, 'v11 ids are never deleted');
END;

-- The message index (get_msg, replies, recall). ts is origin_server_ts; stored_ms is when the
-- gateway stored the message (its own clock, Unix milliseconds): the retention counts from it,
-- not from origin_server_ts, which any homeserver can set to the future. content is the
-- (decrypted) event content as JSON; encrypted marks a message of an encrypted room, whose body
-- is dropped earlier (content = '') while room and sender stay for replies and recalls.
CREATE TABLE gateway_message (
	bot_user_id TEXT    NOT NULL,
	event_id    TEXT    NOT NULL,
	room_id     TEXT    NOT NULL,
	sender      TEXT    NOT NULL,
	ts          INTEGER NOT NULL,
	content     TEXT    NOT NULL,
	redacted    INTEGER NOT NULL DEFAULT 0 CHECK (redacted IN (0, 1)),
	stored_ms   INTEGER NOT NULL DEFAULT 0,
	encrypted   INTEGER NOT NULL DEFAULT 1 CHECK (encrypted IN (0, 1)),
	PRIMARY KEY (bot_user_id, event_id)
);

CREATE INDEX gateway_message_stored_idx ON gateway_message (stored_ms);
CREATE INDEX gateway_message_room_idx ON gateway_message (bot_user_id, room_id, stored_ms);

CREATE TABLE gateway_kv (
	key   TEXT PRIMARY KEY NOT NULL,
	value TEXT NOT NULL
);

-- One row per bot, keyed by homeserver and the key the bot is known by before it has logged in
-- (its user_id, else its login_user, else "#<index>"). user_id is the account the tokens belong
-- to once known. session_type is "static", "legacy_login" or "oauth2", as in
-- nonebot-adapter-matrix's token store.
CREATE TABLE gateway_token (
	homeserver                 TEXT    NOT NULL,
	bot_key                    TEXT    NOT NULL,
	user_id                    TEXT    NOT NULL DEFAULT '',
	device_id                  TEXT    NOT NULL DEFAULT '',
	access_token               TEXT    NOT NULL DEFAULT '',
	refresh_token              TEXT    NOT NULL DEFAULT '',
	access_token_expires_at_ms INTEGER NOT NULL DEFAULT 0,
	session_type               TEXT    NOT NULL DEFAULT '',
	oauth_token_endpoint       TEXT    NOT NULL DEFAULT '',
	oauth_client_id            TEXT    NOT NULL DEFAULT '',
	updated_at_ms              INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (homeserver, bot_key)
);

-- OAuth 2.0 clients from dynamic registration, so the gateway registers once per authorization
-- server and redirect URI instead of on every login.
CREATE TABLE gateway_oauth_client (
	issuer       TEXT NOT NULL,
	redirect_uri TEXT NOT NULL,
	client_id    TEXT NOT NULL,
	PRIMARY KEY (issuer, redirect_uri)
);

-- The persistent outbox of pushing OneBot endpoints (reverse WebSocket, HTTP POST, webhook).
-- While an endpoint is down its events wait here, in order, and are replayed when it is back.
-- endpoint is a key the gateway derives from the endpoint's kind, URL and bot; payload is the
-- exact frame that will be sent; seq is never reused, so order holds across deletes. encrypted
-- marks a frame of an end-to-end encrypted room's event, whose payload is decrypted plaintext:
-- GATEWAY_ENCRYPTED_BODY_RETENTION bounds how long it is kept (storage.Retention).
CREATE TABLE gateway_outbox (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	endpoint  TEXT    NOT NULL,
	queued_at INTEGER NOT NULL, -- Unix milliseconds
	payload   BLOB    NOT NULL,
	encrypted INTEGER NOT NULL DEFAULT 1 CHECK (encrypted IN (0, 1))
);

CREATE INDEX gateway_outbox_endpoint_idx ON gateway_outbox (endpoint, seq);
CREATE INDEX gateway_outbox_queued_idx ON gateway_outbox (queued_at);
CREATE INDEX gateway_outbox_endpoint_queued_idx ON gateway_outbox (endpoint, queued_at);

-- The file store's records (files received from Matrix, with the key of an encrypted
-- attachment, and files OneBot clients uploaded). record is the JSON the file store keeps;
-- saved_ms is when it was last written. encrypted marks the record of an end-to-end encrypted
-- attachment (it holds the key that decrypts it; a local copy is the decrypted file): it is kept
-- only as GATEWAY_ENCRYPTED_BODY_RETENTION allows too.
CREATE TABLE gateway_file (
	file_id   TEXT    PRIMARY KEY NOT NULL,
	record    TEXT    NOT NULL,
	saved_ms  INTEGER NOT NULL,
	encrypted INTEGER NOT NULL DEFAULT 1 CHECK (encrypted IN (0, 1))
);

CREATE INDEX gateway_file_saved_idx ON gateway_file (saved_ms);

-- gateway_send_txn maps a client's idempotency key (v12 matrix.txn_id, v11 matrix_txn_id) to the
-- Matrix transaction ID the gateway sends with, so a retried send reuses it and the homeserver
-- posts the message once, also after a restart. request_hash is a digest of the target and the
-- message, so a key reused for another message is refused. event_id, room_id and sent_ms are set
-- once the send succeeded: a retry answers them without sending again. Rows live 24 hours (the
-- homeserver's own transaction window, Synapse's included).
CREATE TABLE gateway_send_txn (
	bot_user_id  TEXT    NOT NULL,
	client_key   TEXT    NOT NULL,
	txn_id       TEXT    NOT NULL,
	request_hash TEXT    NOT NULL,
	created_ms   INTEGER NOT NULL,
	room_id      TEXT    NOT NULL DEFAULT '',
	event_id     TEXT    NOT NULL DEFAULT '',
	sent_ms      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (bot_user_id, client_key)
);

CREATE INDEX gateway_send_txn_created_idx ON gateway_send_txn (created_ms);

-- gateway_mute is a timed mute (v11 set_group_ban): the user's power level in the room was
-- lowered to muted_level, below what sending messages requires, until until_ms (Unix
-- milliseconds). previous_level is the user's own entry in m.room.power_levels before the mute,
-- NULL when the user had none (the room's users_default applied): lifting the mute restores it.
CREATE TABLE gateway_mute (
	bot_user_id    TEXT    NOT NULL,
	room_id        TEXT    NOT NULL,
	user_id        TEXT    NOT NULL,
	muted_level    INTEGER NOT NULL,
	previous_level INTEGER,
	until_ms       INTEGER NOT NULL,
	PRIMARY KEY (bot_user_id, room_id, user_id)
);

CREATE INDEX gateway_mute_until_idx ON gateway_mute (bot_user_id, until_ms);
-- end only sqlite

-- only: postgres until "end only"
CREATE TABLE gateway_sync (
	bot_user_id TEXT PRIMARY KEY NOT NULL,
	next_batch  TEXT NOT NULL DEFAULT '',
	filter_id   TEXT NOT NULL DEFAULT ''
);

CREATE TABLE gateway_user_id (
	id        BIGINT PRIMARY KEY,
	matrix_id TEXT NOT NULL UNIQUE
);

CREATE TABLE gateway_room_id (
	id        BIGINT PRIMARY KEY,
	matrix_id TEXT NOT NULL UNIQUE
);

CREATE TABLE gateway_event_id (
	id        BIGINT PRIMARY KEY,
	matrix_id TEXT NOT NULL UNIQUE
);

CREATE FUNCTION gateway_v11_id_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'v11 ids are never deleted';
END
$$;

CREATE TRIGGER gateway_user_id_keep BEFORE DELETE ON gateway_user_id
	FOR EACH ROW EXECUTE FUNCTION gateway_v11_id_keep();
CREATE TRIGGER gateway_room_id_keep BEFORE DELETE ON gateway_room_id
	FOR EACH ROW EXECUTE FUNCTION gateway_v11_id_keep();
CREATE TRIGGER gateway_event_id_keep BEFORE DELETE ON gateway_event_id
	FOR EACH ROW EXECUTE FUNCTION gateway_v11_id_keep();

CREATE TABLE gateway_message (
	bot_user_id TEXT    NOT NULL,
	event_id    TEXT    NOT NULL,
	room_id     TEXT    NOT NULL,
	sender      TEXT    NOT NULL,
	ts          BIGINT  NOT NULL,
	content     TEXT    NOT NULL,
	redacted    BOOLEAN NOT NULL DEFAULT FALSE,
	stored_ms   BIGINT  NOT NULL DEFAULT 0,
	encrypted   BOOLEAN NOT NULL DEFAULT TRUE,
	rowid       BIGINT  GENERATED ALWAYS AS IDENTITY,
	PRIMARY KEY (bot_user_id, event_id)
);

CREATE INDEX gateway_message_stored_idx ON gateway_message (stored_ms);
CREATE INDEX gateway_message_room_idx ON gateway_message (bot_user_id, room_id, stored_ms);

CREATE TABLE gateway_kv (
	key   TEXT PRIMARY KEY NOT NULL,
	value TEXT NOT NULL
);

CREATE TABLE gateway_token (
	homeserver                 TEXT   NOT NULL,
	bot_key                    TEXT   NOT NULL,
	user_id                    TEXT   NOT NULL DEFAULT '',
	device_id                  TEXT   NOT NULL DEFAULT '',
	access_token               TEXT   NOT NULL DEFAULT '',
	refresh_token              TEXT   NOT NULL DEFAULT '',
	access_token_expires_at_ms BIGINT NOT NULL DEFAULT 0,
	session_type               TEXT   NOT NULL DEFAULT '',
	oauth_token_endpoint       TEXT   NOT NULL DEFAULT '',
	oauth_client_id            TEXT   NOT NULL DEFAULT '',
	updated_at_ms              BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (homeserver, bot_key)
);

CREATE TABLE gateway_oauth_client (
	issuer       TEXT NOT NULL,
	redirect_uri TEXT NOT NULL,
	client_id    TEXT NOT NULL,
	PRIMARY KEY (issuer, redirect_uri)
);

CREATE TABLE gateway_outbox (
	seq       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	endpoint  TEXT    NOT NULL,
	queued_at BIGINT  NOT NULL,
	payload   BYTEA   NOT NULL,
	encrypted BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE INDEX gateway_outbox_endpoint_idx ON gateway_outbox (endpoint, seq);
CREATE INDEX gateway_outbox_queued_idx ON gateway_outbox (queued_at);
CREATE INDEX gateway_outbox_endpoint_queued_idx ON gateway_outbox (endpoint, queued_at);

CREATE TABLE gateway_file (
	file_id   TEXT    PRIMARY KEY NOT NULL,
	record    TEXT    NOT NULL,
	saved_ms  BIGINT  NOT NULL,
	encrypted BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE INDEX gateway_file_saved_idx ON gateway_file (saved_ms);

CREATE TABLE gateway_send_txn (
	bot_user_id  TEXT   NOT NULL,
	client_key   TEXT   NOT NULL,
	txn_id       TEXT   NOT NULL,
	request_hash TEXT   NOT NULL,
	created_ms   BIGINT NOT NULL,
	room_id      TEXT   NOT NULL DEFAULT '',
	event_id     TEXT   NOT NULL DEFAULT '',
	sent_ms      BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (bot_user_id, client_key)
);

CREATE INDEX gateway_send_txn_created_idx ON gateway_send_txn (created_ms);

CREATE TABLE gateway_mute (
	bot_user_id    TEXT   NOT NULL,
	room_id        TEXT   NOT NULL,
	user_id        TEXT   NOT NULL,
	muted_level    BIGINT NOT NULL,
	previous_level BIGINT,
	until_ms       BIGINT NOT NULL,
	PRIMARY KEY (bot_user_id, room_id, user_id)
);

CREATE INDEX gateway_mute_until_idx ON gateway_mute (bot_user_id, until_ms);
-- end only postgres
