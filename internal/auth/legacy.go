package auth

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/config"
)

// loginRequest is POST /_matrix/client/v3/login with a password, asking for a refresh token.
type loginRequest struct {
	Type       string `json:"type"`
	Identifier struct {
		Type string `json:"type"`
		User string `json:"user"`
	} `json:"identifier"`
	Password                 string      `json:"password"`
	DeviceID                 id.DeviceID `json:"device_id,omitempty"`
	InitialDeviceDisplayName string      `json:"initial_device_display_name,omitempty"`
	RefreshToken             bool        `json:"refresh_token"`
}

type loginResponse struct {
	UserID       id.UserID   `json:"user_id"`
	AccessToken  string      `json:"access_token"`
	DeviceID     id.DeviceID `json:"device_id"`
	RefreshToken string      `json:"refresh_token"`
	ExpiresInMS  int64       `json:"expires_in_ms"`
}

type refreshResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresInMS  int64  `json:"expires_in_ms"`
}

// legacyAuth is the homeserver's own login (spec "legacy" authentication): login_user and
// login_password at /v3/login, the refresh token at /v3/refresh, and /v3/logout.
type legacyAuth struct {
	bot config.Bot
	api authAPI
}

// login logs in with login_user and login_password on device (the bot's device, so its
// end-to-end encryption keys stay valid; "" lets the server pick one).
func (l legacyAuth) login(ctx context.Context, device id.DeviceID) (Tokens, error) {
	req := loginRequest{
		Type: "m.login.password", Password: l.bot.LoginPassword, DeviceID: device,
		InitialDeviceDisplayName: l.bot.LoginInitialDeviceDisplayName, RefreshToken: true,
	}
	req.Identifier.Type, req.Identifier.User = "m.id.user", l.bot.LoginUser
	start := time.Now()
	var resp loginResponse
	if err := l.api.postJSON(ctx, "log in with login_user and login_password", l.api.clientURL("v3", "login"), req, &resp); err != nil {
		return Tokens{}, err
	}
	if resp.AccessToken == "" || resp.UserID == "" {
		return Tokens{}, fmt.Errorf("failed to log in: the homeserver's answer has no access_token or user_id")
	}
	t := Tokens{
		UserID: resp.UserID, DeviceID: resp.DeviceID, AccessToken: resp.AccessToken, RefreshToken: resp.RefreshToken,
		Type: SessionLegacy,
	}
	if t.DeviceID == "" {
		t.DeviceID = device
	}
	t.setExpiry(start, time.Duration(resp.ExpiresInMS)*time.Millisecond)
	return t, nil
}

// refresh exchanges the refresh token at /v3/refresh.
func (l legacyAuth) refresh(ctx context.Context, cur Tokens) (Tokens, error) {
	start := time.Now()
	var resp refreshResponse
	err := l.api.postJSON(ctx, "refresh the access token", l.api.clientURL("v3", "refresh"), map[string]string{"refresh_token": cur.RefreshToken}, &resp)
	if err != nil {
		return Tokens{}, err
	}
	return cur.refreshed("the homeserver", start, resp.AccessToken, resp.RefreshToken, time.Duration(resp.ExpiresInMS)*time.Millisecond)
}

// refreshed is t after a refresh answered at start: the new access token, the new refresh token
// when one was issued (else the old one stays), and the new expiry. from names who answered.
func (t Tokens) refreshed(from string, start time.Time, access, refresh string, lifetime time.Duration) (Tokens, error) {
	if access == "" {
		return Tokens{}, fmt.Errorf("failed to refresh the access token: %s's answer has no access_token", from)
	}
	t.AccessToken = access
	if refresh != "" {
		t.RefreshToken = refresh
	}
	t.setExpiry(start, lifetime)
	return t, nil
}

// logout ends the session at /v3/logout.
func (l legacyAuth) logout(ctx context.Context, t Tokens) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.api.clientURL("v3", "logout"), bytes.NewReader([]byte("{}")))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+t.AccessToken)
	return l.api.do(req, "log out", nil)
}

func (t *Tokens) setExpiry(start time.Time, lifetime time.Duration) {
	if lifetime > 0 {
		t.ExpiresAt, t.Lifetime = start.Add(lifetime), lifetime
	} else {
		t.ExpiresAt, t.Lifetime = time.Time{}, 0
	}
}
