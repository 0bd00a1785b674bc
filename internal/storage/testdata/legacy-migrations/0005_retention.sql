-- 0005: retention of the message index and of the file records (GATEWAY_MESSAGE_RETENTION,
-- GATEWAY_MESSAGE_RETENTION_COUNT, GATEWAY_ENCRYPTED_BODY_RETENTION, GATEWAY_FILE_RETENTION).
--
-- stored_ms is when the gateway stored the message (its own clock, Unix milliseconds): the age
-- bounds count from it, not from origin_server_ts, which any homeserver can set to the future.
-- Rows of older builds count from their origin_server_ts (at most now).
--
-- encrypted is 1 when the message came from (or went to) an encrypted room: its decrypted body
-- is dropped earlier (content = ''), while room and sender stay for replies and recalls. Rows of
-- older builds are not known to be unencrypted, so they are treated as encrypted.
ALTER TABLE gateway_message ADD COLUMN stored_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE gateway_message ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 1 CHECK (encrypted IN (0, 1));
UPDATE gateway_message SET stored_ms = MIN(ts, CAST(strftime('%s', 'now') AS INTEGER) * 1000);

DROP INDEX gateway_message_ts_idx;
CREATE INDEX gateway_message_stored_idx ON gateway_message (stored_ms);
CREATE INDEX gateway_message_room_idx ON gateway_message (bot_user_id, room_id, stored_ms);

-- The file store's records (files received from Matrix, with the key of an encrypted
-- attachment, and files OneBot clients uploaded), moved out of gateway_kv so they can expire.
-- record is the JSON the file store keeps; saved_ms is when it was last written.
CREATE TABLE gateway_file (
	file_id  TEXT    PRIMARY KEY NOT NULL,
	record   TEXT    NOT NULL,
	saved_ms INTEGER NOT NULL
);

CREATE INDEX gateway_file_saved_idx ON gateway_file (saved_ms);

INSERT INTO gateway_file (file_id, record, saved_ms)
SELECT substr(key, 6), value, CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM gateway_kv WHERE key LIKE 'file:%';
DELETE FROM gateway_kv WHERE key LIKE 'file:%';
