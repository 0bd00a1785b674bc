package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/redact"
)

// Bot is one Matrix account from MATRIX_BOTS. Field comments give the JSON
// key; the keys and their units are those of nonebot-adapter-matrix.
//
// Bot holds secrets (tokens, password, recovery key, passphrase). String,
// Format and LogValue leave them out, so a Bot can be printed and logged.
type Bot struct {
	// Index is the bot's position in MATRIX_BOTS, starting at 0.
	Index int

	Homeserver             string      // homeserver: http(s) base URL, no trailing slash
	AccessToken            string      // access_token (secret)
	RefreshToken           string      // refresh_token (secret)
	AccessTokenExpiresAtMS int64       // access_token_expires_at_ms: Unix milliseconds, 0 = unknown
	RefreshBeforeExpiryMS  int64       // refresh_before_expiry_ms, default 60000
	UserID                 id.UserID   // user_id, checked against /account/whoami; "" = unknown
	DeviceID               id.DeviceID // device_id
	// SyncFilter is sync_filter as given: a JSON string (a filter ID) or a
	// JSON object (an inline filter); nil when absent or null. Use
	// SyncFilterID and SyncFilterJSON.
	SyncFilter  json.RawMessage
	SetPresence string // set_presence: online, offline or unavailable; default online

	AutoAcceptInvites bool // auto_accept_invites, default false
	// AutoAcceptWhitelist is auto_accept_whitelist: nil (null or absent)
	// allows every inviter, a pointer to an empty list allows no one.
	AutoAcceptWhitelist *[]id.UserID
	// AutoAcceptBlacklist is auto_accept_blacklist (never nil); it wins over
	// the whitelist.
	AutoAcceptBlacklist []id.UserID

	// Password login (package auth: /login, /v3/refresh, re-login after a soft logout).
	LoginUser                     string // login_user
	LoginPassword                 string // login_password (secret)
	LoginInitialDeviceDisplayName string // login_initial_device_display_name

	// OAuth 2.0 login (package auth: discovery, registration, PKCE or device grant).
	OAuthEnabled         bool          // oauth_enabled
	OAuthServerURL       string        // oauth_server_url
	OAuthMetadataURL     string        // oauth_metadata_url
	OAuthClientID        string        // oauth_client_id
	OAuthClientURI       string        // oauth_client_uri
	OAuthRedirectURI     string        // oauth_redirect_uri
	OAuthScope           string        // oauth_scope
	OAuthDeviceID        id.DeviceID   // oauth_device_id
	OAuthOpenBrowser     bool          // oauth_open_browser
	OAuthCallbackTimeout time.Duration // oauth_callback_timeout (seconds in JSON), default 300s

	// End-to-end encryption (accepted; implemented in a later release).
	// RecoveryCode is recovery_code, or its alias recovery_key, or else
	// MATRIX_RECOVERY_CODE (secret). Use RecoveryKey.
	RecoveryCode              string
	SecretStoragePassphrase   string // secret_storage_passphrase (secret)
	E2EEStorePath             string // e2ee_store_path
	E2EE                      bool   // e2ee, default true
	EncryptionSharingStrategy string // encryption_sharing_strategy, default "all_devices"
	BackupDownloadStrategy    string // backup_download_strategy, default ""

	// OneBotSelfID is onebot_self_id, the OneBot v11 self_id; 0 when absent,
	// and the gateway then assigns one.
	OneBotSelfID int64
	// OneBotV11ReverseWS are onebot_v11_reverse_ws: reverse WebSocket URLs
	// for this bot, in addition to GATEWAY_V11_REVERSE_WS.
	OneBotV11ReverseWS []string
	// OneBotV12ReverseWS are onebot_v12_reverse_ws: OneBot v12 reverse
	// WebSocket URLs that carry only this bot, in addition to the
	// GATEWAY_V12_REVERSE_WS connections that carry all bots.
	OneBotV12ReverseWS []string
	// OneBotMsgType is onebot_msgtype, the msgtype of text the bot sends: m.text (default),
	// m.notice (the usual choice for bots) or m.emote; a call can choose another.
	OneBotMsgType string
	// OneBotMarkdown is onebot_markdown: text the bot sends is Markdown, rendered into
	// formatted_body (default false: text is sent as it is).
	OneBotMarkdown bool
	// OneBotAccessToken is onebot_access_token (secret): a token that grants OneBot clients this
	// bot only (HTTP, forward WebSocket, /onebot/v11/{self_id}/…); "" = none. GATEWAY_ACCESS_TOKEN
	// keeps granting every bot.
	OneBotAccessToken string
	// OneBotPushToken is onebot_push_access_token (secret): the token presented to this bot's
	// reverse WebSockets (its onebot_v1x_reverse_ws and its GATEWAY_V11_REVERSE_WS* connections)
	// instead of GATEWAY_PUSH_ACCESS_TOKEN, so that one bot's OneBot client cannot pose as the
	// gateway to another's; "" = GATEWAY_PUSH_ACCESS_TOKEN. Use PushToken.
	OneBotPushToken string
}

// PushToken returns the token for this bot's own reverse WebSocket connections: its
// onebot_push_access_token, else global (GATEWAY_PUSH_ACCESS_TOKEN).
func (b Bot) PushToken(global string) string {
	if b.OneBotPushToken != "" {
		return b.OneBotPushToken
	}
	return global
}

// Name identifies the bot in logs: its user ID, else its login user, else
// "bot #<index>".
func (b Bot) Name() string {
	switch {
	case b.UserID != "":
		return string(b.UserID)
	case b.LoginUser != "":
		return b.LoginUser
	}
	return fmt.Sprintf("bot #%d", b.Index)
}

// SyncFilterID returns the filter ID when sync_filter is a JSON string.
func (b Bot) SyncFilterID() (string, bool) {
	var s string
	if len(b.SyncFilter) == 0 || b.SyncFilter[0] != '"' || json.Unmarshal(b.SyncFilter, &s) != nil {
		return "", false
	}
	return s, true
}

// SyncFilterJSON returns the inline filter when sync_filter is a JSON
// object.
func (b Bot) SyncFilterJSON() (json.RawMessage, bool) {
	if len(b.SyncFilter) == 0 || b.SyncFilter[0] != '{' {
		return nil, false
	}
	return b.SyncFilter, true
}

// RecoveryKey returns the key for restoring from server-side key backup:
// recovery_code, or recovery_key, or MATRIX_RECOVERY_CODE; "" if none.
func (b Bot) RecoveryKey() string { return b.RecoveryCode }

// AccessTokenExpiresAt returns access_token_expires_at_ms as a time, or the
// zero time when it is not known.
func (b Bot) AccessTokenExpiresAt() time.Time {
	if b.AccessTokenExpiresAtMS <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(b.AccessTokenExpiresAtMS)
}

// RefreshBeforeExpiry returns refresh_before_expiry_ms as a duration.
func (b Bot) RefreshBeforeExpiry() time.Duration {
	return time.Duration(b.RefreshBeforeExpiryMS) * time.Millisecond
}

// MayAutoAccept reports whether an invite from inviter should be accepted
// automatically: auto_accept_invites must be on, the inviter must not be
// blacklisted, and must be whitelisted unless the whitelist is null.
func (b Bot) MayAutoAccept(inviter id.UserID) bool {
	if !b.AutoAcceptInvites || slices.Contains(b.AutoAcceptBlacklist, inviter) {
		return false
	}
	return b.AutoAcceptWhitelist == nil || slices.Contains(*b.AutoAcceptWhitelist, inviter)
}

// credentials names the configured ways to obtain a token, for logs.
func (b Bot) credentials() string {
	var ways []string
	if b.AccessToken != "" {
		ways = append(ways, "access_token")
	}
	if b.LoginUser != "" && b.LoginPassword != "" {
		ways = append(ways, "password")
	}
	if b.OAuthEnabled {
		ways = append(ways, "oauth")
	}
	if len(ways) == 0 {
		return "token_store"
	}
	return strings.Join(ways, "+")
}

// String describes the bot without any secret.
func (b Bot) String() string {
	var sb bytes.Buffer
	fmt.Fprintf(&sb, "bot{index=%d name=%q homeserver=%s", b.Index, b.Name(), redact.URL(b.Homeserver))
	if b.DeviceID != "" {
		fmt.Fprintf(&sb, " device_id=%s", b.DeviceID)
	}
	fmt.Fprintf(&sb, " credentials=%s e2ee=%t", b.credentials(), b.E2EE)
	if b.OneBotSelfID != 0 {
		fmt.Fprintf(&sb, " onebot_self_id=%d", b.OneBotSelfID)
	}
	fmt.Fprintf(&sb, " onebot_access_token=%s onebot_push_access_token=%s", isSet(b.OneBotAccessToken), isSet(b.OneBotPushToken))
	sb.WriteString("}")
	return sb.String()
}

// Format makes every fmt verb, including %#v and %+v, print String, so a
// secret cannot leak through reflection.
func (b Bot) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(b.String())) }

// LogValue implements slog.LogValuer without any secret.
func (b Bot) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Int("index", b.Index),
		slog.String("name", b.Name()),
		slog.String("homeserver", redact.URL(b.Homeserver)),
	}
	if b.DeviceID != "" {
		attrs = append(attrs, slog.String("device_id", string(b.DeviceID)))
	}
	attrs = append(attrs, slog.String("credentials", b.credentials()), slog.Bool("e2ee", b.E2EE))
	if b.OneBotSelfID != 0 {
		attrs = append(attrs, slog.Int64("onebot_self_id", b.OneBotSelfID))
	}
	attrs = append(attrs, slog.Bool("onebot_access_token_set", b.OneBotAccessToken != ""),
		slog.Bool("onebot_push_access_token_set", b.OneBotPushToken != ""))
	return slog.GroupValue(attrs...)
}
