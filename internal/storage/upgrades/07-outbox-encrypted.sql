-- v7: outbox frames of encrypted rooms
-- Runs on every database at version 6, SQLite and PostgreSQL (a new one starts from
-- 00-latest.sql).
--
-- encrypted marks a frame of an end-to-end encrypted room's event: its payload is the decrypted
-- plaintext, so GATEWAY_ENCRYPTED_BODY_RETENTION bounds how long it is kept, also after
-- delivery in a retained stream (Satori's sn resume). Frames older builds wrote are not known to
-- be of unencrypted rooms, so they count as encrypted; the gateway writes the flag with every
-- frame.
-- only: sqlite
ALTER TABLE gateway_outbox ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 1 CHECK (encrypted IN (0, 1));
-- only: postgres
ALTER TABLE gateway_outbox ADD COLUMN encrypted BOOLEAN NOT NULL DEFAULT TRUE;
