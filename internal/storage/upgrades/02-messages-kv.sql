-- v2: message index and key/value table
-- Runs only on a SQLite file that an older build left at the version before (a new database, and
-- every PostgreSQL one, starts from 00-latest.sql). The SQL is that build's 0002_messages_kv.sql:
--
-- 0002: the message index (get_msg, replies, recall) and a small key/value table.

CREATE TABLE gateway_message (
	bot_user_id TEXT    NOT NULL,
	event_id    TEXT    NOT NULL,
	room_id     TEXT    NOT NULL,
	sender      TEXT    NOT NULL,
	ts          INTEGER NOT NULL, -- origin_server_ts, Unix milliseconds
	content     TEXT    NOT NULL, -- the (decrypted) event content, JSON
	redacted    INTEGER NOT NULL DEFAULT 0 CHECK (redacted IN (0, 1)),
	PRIMARY KEY (bot_user_id, event_id)
);

CREATE INDEX gateway_message_ts_idx ON gateway_message (ts);

CREATE TABLE gateway_kv (
	key   TEXT PRIMARY KEY NOT NULL,
	value TEXT NOT NULL
);
