package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// TokenRecord is one bot's Matrix session as stored: the tokens, the device they belong to
// and how they were obtained. It holds secrets: never log it.
type TokenRecord struct {
	Homeserver             string
	BotKey                 string // how the bot is known before login: user_id, else login_user, else "#<index>"
	UserID                 string // the account the tokens belong to; "" until known
	DeviceID               string
	AccessToken            string
	RefreshToken           string
	AccessTokenExpiresAtMS int64  // Unix milliseconds; 0 = unknown
	SessionType            string // "static", "legacy_login" or "oauth2"
	OAuthTokenEndpoint     string
	OAuthClientID          string
	UpdatedAt              time.Time
}

const (
	tokenColumns = `homeserver, bot_key, user_id, device_id, access_token, refresh_token,
access_token_expires_at_ms, session_type, oauth_token_endpoint, oauth_client_id, updated_at_ms`
	selectTokenByKey  = `SELECT ` + tokenColumns + ` FROM gateway_token WHERE homeserver = $1 AND bot_key = $2`
	selectTokenByUser = `SELECT ` + tokenColumns + ` FROM gateway_token WHERE homeserver = $1 AND user_id = $2
ORDER BY updated_at_ms DESC LIMIT 1`
	upsertToken = `INSERT INTO gateway_token (` + tokenColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (homeserver, bot_key) DO UPDATE SET user_id = excluded.user_id, device_id = excluded.device_id,
access_token = excluded.access_token, refresh_token = excluded.refresh_token,
access_token_expires_at_ms = excluded.access_token_expires_at_ms, session_type = excluded.session_type,
oauth_token_endpoint = excluded.oauth_token_endpoint, oauth_client_id = excluded.oauth_client_id,
updated_at_ms = excluded.updated_at_ms`
	deleteToken       = `DELETE FROM gateway_token WHERE homeserver = $1 AND bot_key = $2`
	selectOAuthClient = `SELECT client_id FROM gateway_oauth_client WHERE issuer = $1 AND redirect_uri = $2`
	upsertOAuthClient = `INSERT INTO gateway_oauth_client (issuer, redirect_uri, client_id) VALUES ($1, $2, $3)
ON CONFLICT (issuer, redirect_uri) DO UPDATE SET client_id = excluded.client_id`
	deleteOAuthClient = `DELETE FROM gateway_oauth_client WHERE issuer = $1 AND redirect_uri = $2`
)

// Token returns the session stored for the bot known as botKey on homeserver; when there is
// none and userID is not "", the newest session of that account on homeserver. It returns an
// error wrapping ErrNotFound when neither exists.
func (s TokenStore) Token(ctx context.Context, homeserver, botKey, userID string) (TokenRecord, error) {
	rec, err := scanToken(s.db.util.QueryRow(ctx, selectTokenByKey, homeserver, botKey))
	if errors.Is(err, sql.ErrNoRows) && userID != "" {
		rec, err = scanToken(s.db.util.QueryRow(ctx, selectTokenByUser, homeserver, userID))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return TokenRecord{}, fmt.Errorf("failed to load tokens of %s: %w", botKey, ErrNotFound)
	} else if err != nil {
		return TokenRecord{}, fmt.Errorf("failed to load tokens of %s: %w", botKey, err)
	}
	return rec, nil
}

// PutToken stores rec, replacing the bot's previous session. UpdatedAt is set to now.
func (s TokenStore) PutToken(ctx context.Context, rec TokenRecord) error {
	if rec.Homeserver == "" || rec.BotKey == "" {
		return errors.New("failed to store tokens: homeserver and bot key are required")
	}
	_, err := s.db.util.Exec(ctx, upsertToken, rec.Homeserver, rec.BotKey, rec.UserID, rec.DeviceID,
		rec.AccessToken, rec.RefreshToken, rec.AccessTokenExpiresAtMS, rec.SessionType,
		rec.OAuthTokenEndpoint, rec.OAuthClientID, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("failed to store tokens of %s: %w", rec.BotKey, err)
	}
	return nil
}

// DeleteToken forgets the bot's session (after a logout).
func (s TokenStore) DeleteToken(ctx context.Context, homeserver, botKey string) error {
	if _, err := s.db.util.Exec(ctx, deleteToken, homeserver, botKey); err != nil {
		return fmt.Errorf("failed to delete tokens of %s: %w", botKey, err)
	}
	return nil
}

func scanToken(row *sql.Row) (TokenRecord, error) {
	var rec TokenRecord
	var updated int64
	err := row.Scan(&rec.Homeserver, &rec.BotKey, &rec.UserID, &rec.DeviceID, &rec.AccessToken, &rec.RefreshToken,
		&rec.AccessTokenExpiresAtMS, &rec.SessionType, &rec.OAuthTokenEndpoint, &rec.OAuthClientID, &updated)
	rec.UpdatedAt = time.UnixMilli(updated)
	return rec, err
}

// OAuthClient returns the client ID registered with the authorization server issuer for
// redirectURI, or an error wrapping ErrNotFound.
func (s TokenStore) OAuthClient(ctx context.Context, issuer, redirectURI string) (string, error) {
	var clientID string
	err := s.db.util.QueryRow(ctx, selectOAuthClient, issuer, redirectURI).Scan(&clientID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("failed to load OAuth client of %s: %w", issuer, ErrNotFound)
	} else if err != nil {
		return "", fmt.Errorf("failed to load OAuth client of %s: %w", issuer, err)
	}
	return clientID, nil
}

// PutOAuthClient remembers a registered client ID.
func (s TokenStore) PutOAuthClient(ctx context.Context, issuer, redirectURI, clientID string) error {
	if _, err := s.db.util.Exec(ctx, upsertOAuthClient, issuer, redirectURI, clientID); err != nil {
		return fmt.Errorf("failed to store OAuth client of %s: %w", issuer, err)
	}
	return nil
}

// DeleteOAuthClient forgets a registered client ID (the server no longer knows it).
func (s TokenStore) DeleteOAuthClient(ctx context.Context, issuer, redirectURI string) error {
	if _, err := s.db.util.Exec(ctx, deleteOAuthClient, issuer, redirectURI); err != nil {
		return fmt.Errorf("failed to delete OAuth client of %s: %w", issuer, err)
	}
	return nil
}
