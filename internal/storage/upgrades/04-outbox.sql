-- v4: outbox of pushing endpoints
-- Runs only on a SQLite file that an older build left at the version before (a new database, and
-- every PostgreSQL one, starts from 00-latest.sql). The SQL is that build's 0004_outbox.sql:
--
-- 0004: the persistent outbox of pushing OneBot endpoints (reverse WebSocket, HTTP POST,
-- webhook). While an endpoint is down its events wait here, in order, and are replayed
-- when it is back. endpoint is a key the gateway derives from the endpoint's kind, URL and
-- bot; payload is the exact frame that will be sent.

CREATE TABLE gateway_outbox (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so order holds across deletes
	endpoint  TEXT    NOT NULL,
	queued_at INTEGER NOT NULL, -- Unix milliseconds
	payload   BLOB    NOT NULL
);

CREATE INDEX gateway_outbox_endpoint_idx ON gateway_outbox (endpoint, seq);
CREATE INDEX gateway_outbox_queued_idx ON gateway_outbox (queued_at);
