-- v8: file records of encrypted attachments
-- Runs on every database at version 7, SQLite and PostgreSQL (a new one starts from
-- 00-latest.sql).
--
-- encrypted marks the record of an end-to-end encrypted attachment: it holds the key that
-- decrypts the file, and a local copy kept for it is the decrypted file, so
-- GATEWAY_ENCRYPTED_BODY_RETENTION bounds how long it is kept, besides GATEWAY_FILE_RETENTION.
-- Records older builds wrote are not known to be of unencrypted files, so they count as
-- encrypted; the gateway writes the flag with every record.
-- only: sqlite
ALTER TABLE gateway_file ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 1 CHECK (encrypted IN (0, 1));
-- only: postgres
ALTER TABLE gateway_file ADD COLUMN encrypted BOOLEAN NOT NULL DEFAULT TRUE;
