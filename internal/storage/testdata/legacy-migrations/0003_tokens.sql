-- 0003: each bot's Matrix session (tokens, device, how it was obtained) and the OAuth 2.0
-- clients registered with each authorization server.

-- One row per bot, keyed by homeserver and the key the bot is known by before it has
-- logged in (its user_id, else its login_user, else "#<index>"). user_id is the account
-- the tokens belong to once known. session_type is "static", "legacy_login" or "oauth2",
-- as in nonebot-adapter-matrix's token store.
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

-- OAuth 2.0 clients from dynamic registration, so the gateway registers once per
-- authorization server and redirect URI instead of on every login.
CREATE TABLE gateway_oauth_client (
	issuer       TEXT NOT NULL,
	redirect_uri TEXT NOT NULL,
	client_id    TEXT NOT NULL,
	PRIMARY KEY (issuer, redirect_uri)
);
