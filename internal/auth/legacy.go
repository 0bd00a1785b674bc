package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"maunium.net/go/mautrix/id"
)

// maxAuthResponse bounds the body read from login, refresh and OAuth endpoints.
const maxAuthResponse = 1 << 20

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

// passwordLogin logs in with login_user and login_password on device (the bot's device, so
// its end-to-end encryption keys stay valid; "" lets the server pick one).
func (m *Manager) passwordLogin(ctx context.Context, device id.DeviceID) (Tokens, error) {
	req := loginRequest{
		Type: "m.login.password", Password: m.bot.LoginPassword, DeviceID: device,
		InitialDeviceDisplayName: m.bot.LoginInitialDeviceDisplayName, RefreshToken: true,
	}
	req.Identifier.Type, req.Identifier.User = "m.id.user", m.bot.LoginUser
	start := time.Now()
	var resp loginResponse
	if err := m.postJSON(ctx, "log in with login_user and login_password", m.clientURL("v3", "login"), req, &resp); err != nil {
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

// legacyRefresh exchanges the refresh token at /v3/refresh.
func (m *Manager) legacyRefresh(ctx context.Context, cur Tokens) (Tokens, error) {
	start := time.Now()
	var resp refreshResponse
	err := m.postJSON(ctx, "refresh the access token", m.clientURL("v3", "refresh"), map[string]string{"refresh_token": cur.RefreshToken}, &resp)
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

// legacyLogout ends the session at /v3/logout.
func (m *Manager) legacyLogout(ctx context.Context, t Tokens) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.clientURL("v3", "logout"), bytes.NewReader([]byte("{}")))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+t.AccessToken)
	return m.do(req, "log out", nil)
}

func (t *Tokens) setExpiry(start time.Time, lifetime time.Duration) {
	if lifetime > 0 {
		t.ExpiresAt, t.Lifetime = start.Add(lifetime), lifetime
	} else {
		t.ExpiresAt, t.Lifetime = time.Time{}, 0
	}
}

func (m *Manager) clientURL(parts ...string) string {
	u := m.key.Homeserver + "/_matrix/client"
	for _, p := range parts {
		u += "/" + url.PathEscape(p)
	}
	return u
}

func (m *Manager) postJSON(ctx context.Context, op, u string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("failed to %s: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("failed to %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	return m.do(req, op, out)
}

// do sends an unauthenticated (or explicitly authenticated) request with the plain client and
// decodes a 2xx JSON answer into out. Refusals become *ServerError.
func (m *Manager) do(req *http.Request, op string, out any) error {
	req.Header.Set("Accept", "application/json")
	resp, err := m.http.Do(req)
	if err != nil {
		return fmt.Errorf("failed to %s: %w", op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthResponse))
	if err != nil {
		return fmt.Errorf("failed to %s: reading the answer: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseServerError(op, resp.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("failed to %s: the answer is not the expected JSON: %w", op, err)
	}
	return nil
}

// parseServerError reads a Matrix ({errcode, error, soft_logout}) or OAuth ({error,
// error_description}) error body.
func parseServerError(op string, status int, body []byte) *ServerError {
	var e struct {
		ErrCode     string `json:"errcode"`
		Error       any    `json:"error"`
		Description string `json:"error_description"`
		SoftLogout  bool   `json:"soft_logout"`
	}
	_ = json.Unmarshal(body, &e)
	se := &ServerError{Op: op, Status: status, Code: e.ErrCode, SoftLogout: e.SoftLogout}
	msg, _ := e.Error.(string)
	if se.Code == "" { // OAuth: "error" is the code
		se.Code, msg = msg, e.Description
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	se.Message = msg
	return se
}
