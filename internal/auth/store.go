package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// SessionType says how a bot's tokens were obtained, and so how they are refreshed. The values
// are those of nonebot-adapter-matrix's token store.
type SessionType string

const (
	SessionStatic SessionType = "static"       // access_token from the configuration
	SessionLegacy SessionType = "legacy_login" // /login with a password; refreshed at /v3/refresh
	SessionOAuth  SessionType = "oauth2"       // OAuth 2.0; refreshed at the token endpoint
)

// Tokens is one bot's Matrix session. It holds secrets: LogValue leaves them out.
type Tokens struct {
	UserID       id.UserID
	DeviceID     id.DeviceID
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time // zero when the access token does not expire (or it is unknown)
	Lifetime     time.Duration
	Type         SessionType

	OAuthTokenEndpoint string
	OAuthClientID      string
}

// LogValue implements slog.LogValuer without any secret.
func (t Tokens) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("user_id", string(t.UserID)), slog.String("device_id", string(t.DeviceID)),
		slog.String("session_type", string(t.Type)), slog.Bool("refreshable", t.RefreshToken != ""),
	}
	if !t.ExpiresAt.IsZero() {
		attrs = append(attrs, slog.Time("expires_at", t.ExpiresAt))
	}
	return slog.GroupValue(attrs...)
}

// String describes the session without any secret.
func (t Tokens) String() string { return t.LogValue().String() }

func (t Tokens) expiresAtMS() int64 {
	if t.ExpiresAt.IsZero() {
		return 0
	}
	return t.ExpiresAt.UnixMilli()
}

func expiresAtFromMS(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Key names a bot in a token store. A bot is found without knowing its user ID: by its
// configured user_id, else its login_user, else its position in MATRIX_BOTS.
type Key struct {
	Homeserver string    // base URL without trailing slash
	UserID     id.UserID // configured user_id, "" if none
	LoginUser  string    // configured login_user, "" if none
	Index      int       // position in MATRIX_BOTS
}

// KeyOf returns the store key of a configured bot.
func KeyOf(b config.Bot) Key {
	return Key{Homeserver: strings.TrimRight(b.Homeserver, "/"), UserID: b.UserID, LoginUser: b.LoginUser, Index: b.Index}
}

// botKey is the key of the SQLite store's row.
func (k Key) botKey() string {
	switch {
	case k.UserID != "":
		return string(k.UserID)
	case k.LoginUser != "":
		return k.LoginUser
	}
	return fmt.Sprintf("#%d", k.Index)
}

// matchesUser reports whether a stored account can be this bot's: its user_id, or its
// login_user as a full user ID or a localpart.
func (k Key) matchesUser(u id.UserID) bool {
	switch {
	case k.UserID != "":
		return u == k.UserID
	case k.LoginUser != "":
		if strings.HasPrefix(k.LoginUser, "@") {
			return string(u) == k.LoginUser
		}
		return u.Localpart() == k.LoginUser
	}
	return false
}

// Store keeps bots' sessions across restarts.
type Store interface {
	// Load returns the bot's stored session; ok is false when there is none.
	Load(ctx context.Context, k Key) (t Tokens, ok bool, err error)
	// Save stores the bot's session, replacing the previous one.
	Save(ctx context.Context, k Key, t Tokens) error
	// Delete forgets the bot's session.
	Delete(ctx context.Context, k Key) error
}

// sessions is one bot's place in the Store: its key, and a failed write logged, not returned (the
// session in memory goes on working; a restart may need a new login).
type sessions struct {
	store Store
	key   Key
	log   *slog.Logger
}

func (s sessions) load(ctx context.Context) (Tokens, bool, error) { return s.store.Load(ctx, s.key) }
func (s sessions) delete(ctx context.Context) error               { return s.store.Delete(ctx, s.key) }

// save stores t, unless it has no access token yet.
func (s sessions) save(ctx context.Context, t Tokens) {
	if t.AccessToken == "" {
		return
	}
	if err := s.store.Save(ctx, s.key, t); err != nil {
		s.log.Error("failed to store the session; a restart may need a new login", "error", err)
	}
}

// ClientRegistry remembers OAuth 2.0 clients registered dynamically, per authorization server
// and redirect URI.
type ClientRegistry interface {
	OAuthClient(ctx context.Context, issuer, redirectURI string) (string, error)
	PutOAuthClient(ctx context.Context, issuer, redirectURI, clientID string) error
	DeleteOAuthClient(ctx context.Context, issuer, redirectURI string) error
}

// DBStore keeps sessions in the gateway's SQLite database (the default).
type DBStore struct{ DB *storage.DB }

var _ Store = DBStore{}

// Load implements Store.
func (s DBStore) Load(ctx context.Context, k Key) (Tokens, bool, error) {
	rec, err := s.DB.Tokens().Token(ctx, k.Homeserver, k.botKey(), string(k.UserID))
	if errors.Is(err, storage.ErrNotFound) {
		return Tokens{}, false, nil
	} else if err != nil {
		return Tokens{}, false, err
	}
	return Tokens{
		UserID: id.UserID(rec.UserID), DeviceID: id.DeviceID(rec.DeviceID), AccessToken: rec.AccessToken,
		RefreshToken: rec.RefreshToken, ExpiresAt: expiresAtFromMS(rec.AccessTokenExpiresAtMS),
		Type: SessionType(rec.SessionType), OAuthTokenEndpoint: rec.OAuthTokenEndpoint, OAuthClientID: rec.OAuthClientID,
	}, true, nil
}

// Save implements Store.
func (s DBStore) Save(ctx context.Context, k Key, t Tokens) error {
	return s.DB.Tokens().PutToken(ctx, storage.TokenRecord{
		Homeserver: k.Homeserver, BotKey: k.botKey(), UserID: string(t.UserID), DeviceID: string(t.DeviceID),
		AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, AccessTokenExpiresAtMS: t.expiresAtMS(),
		SessionType: string(t.Type), OAuthTokenEndpoint: t.OAuthTokenEndpoint, OAuthClientID: t.OAuthClientID,
	})
}

// Delete implements Store.
func (s DBStore) Delete(ctx context.Context, k Key) error {
	return s.DB.Tokens().DeleteToken(ctx, k.Homeserver, k.botKey())
}
