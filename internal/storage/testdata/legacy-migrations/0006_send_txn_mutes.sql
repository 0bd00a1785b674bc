-- 0006: idempotent sends and timed mutes.
--
-- gateway_send_txn maps a client's idempotency key (v12 matrix.txn_id, v11 matrix_txn_id) to
-- the Matrix transaction ID the gateway sends with, so a retried send reuses it and the
-- homeserver posts the message once, also after a restart. request_hash is a digest of the
-- target and the message, so a key reused for another message is refused. event_id, room_id
-- and sent_ms are set once the send succeeded: a retry answers them without sending again.
-- Rows live 24 hours (the homeserver's own transaction window, Synapse's included).
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
