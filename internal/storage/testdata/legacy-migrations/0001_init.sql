-- 0001: sync positions and the OneBot v11 id maps.
--
-- Every table the gateway owns starts with "gateway_" so it cannot collide with the
-- tables mautrix's crypto and state stores create in the same file (crypto_*, mx_*).

-- One Matrix /sync position per bot. filter_id is the server-side filter mautrix
-- uploads once per bot (see SyncStore).
CREATE TABLE gateway_sync (
	bot_user_id TEXT PRIMARY KEY NOT NULL,
	next_batch  TEXT NOT NULL DEFAULT '',
	filter_id   TEXT NOT NULL DEFAULT ''
);

-- OneBot v11 wants integers where Matrix has strings. Each kind has its own table so
-- the numbers stay small. A plain INTEGER PRIMARY KEY (not AUTOINCREMENT, whose counter
-- also moves when an INSERT ... ON CONFLICT DO NOTHING loses a race) hands out
-- max(id)+1, so rows must never be deleted or a number could come back for another
-- Matrix id: the triggers refuse that.
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
