package auth

import (
	"context"
	"fmt"
)

// LoginNewDevice logs in again on a new device (the server picks its ID), with login_user and
// login_password or else OAuth, and makes that the bot's session (stored). It is for a bot whose
// end-to-end encryption store was lost: the old device's keys cannot be used any more, so the
// bot needs a device whose keys it holds. The old session is left as it is.
func (m *Manager) LoginNewDevice(ctx context.Context) (Tokens, error) {
	var t Tokens
	var err error
	switch {
	case m.bot.LoginUser != "" && m.bot.LoginPassword != "":
		t, err = m.legacy.login(ctx, "")
	case m.bot.OAuthEnabled:
		t, err = m.oauth.login(ctx, newDeviceID())
	default:
		return Tokens{}, fmt.Errorf("%w: a new device needs login_user and login_password, or oauth_enabled", ErrNoCredentials)
	}
	if err != nil {
		return Tokens{}, err
	}
	if t.DeviceID == "" {
		return Tokens{}, fmt.Errorf("logged in, but the homeserver gave no device ID")
	}
	if m.bot.UserID != "" && t.UserID != "" && t.UserID != m.bot.UserID {
		return Tokens{}, fmt.Errorf("logged in as %s, but user_id is %s: log in as the right account or fix user_id", t.UserID, m.bot.UserID)
	}
	m.adopt(ctx, t, true)
	m.markConfirmed()
	m.log.Info("logged in on a new device", "session", t)
	return t, nil
}
