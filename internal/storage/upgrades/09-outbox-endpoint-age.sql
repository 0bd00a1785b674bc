-- v9: the outbox's age limit reads an endpoint's frames by age
-- Runs on every database at version 8, SQLite and PostgreSQL (a new one starts from
-- 00-latest.sql).
--
-- Each append to an outbox drops the endpoint's frames older than GATEWAY_OUTBOX_MAX_AGE
-- (endpoint = ? AND queued_at < ?). With only the (endpoint, seq) index that read every frame the
-- endpoint holds: a few ms per event once an outbox holds thousands (a retained Satori stream, an
-- endpoint that is down), on the path of every event to every pushing endpoint (issue 12).
CREATE INDEX gateway_outbox_endpoint_queued_idx ON gateway_outbox (endpoint, queued_at);
