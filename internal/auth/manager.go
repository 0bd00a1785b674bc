// Package auth keeps each bot logged in to its homeserver: static tokens, password login with
// /v3/refresh, and OAuth 2.0 (next-gen auth). A Manager is the http.RoundTripper of every
// homeserver call the bot makes: it adds the current access token, refreshes it before it
// expires and, when any call is refused with M_UNKNOWN_TOKEN, obtains a new one (one attempt
// at a time, the other calls wait for it) and repeats the call once. Sessions are kept in a
// Store across restarts; the device ID never changes, so end-to-end encryption keys stay valid.
//
// Failures: a network error or a 5xx keeps the tokens and retries with backoff; a 4xx with
// soft_logout logs in again with the password on the same device; any other 4xx is retried
// once, then the bot is offline (calls fail fast with ErrLoggedOut, OnOffline says why and
// what to do) and the manager tries again slowly, picking up a session that `gateway login`
// stored meanwhile.
package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/await"
	"github.com/matrix-onebot/gateway/internal/config"
)

const (
	// recoverTimeout bounds one attempt to obtain a new token (refresh, then maybe a login).
	recoverTimeout = 2 * time.Minute
	// slowRetryMin and slowRetryMax space the attempts of an offline bot.
	slowRetryMin = time.Minute
	slowRetryMax = 30 * time.Minute
	// maxTransientBackoff caps the wait after a failed refresh that may pass.
	maxTransientBackoff = 60 * time.Second
	// maxErrorBody bounds the 401 body read to look for M_UNKNOWN_TOKEN.
	maxErrorBody = 64 << 10
)

// Options configure a Manager.
type Options struct {
	Bot   config.Bot
	Store Store
	// Clients remembers OAuth clients registered dynamically (nil: register on every login).
	Clients ClientRegistry
	// HTTP is the plain client for login, refresh and OAuth endpoints: it carries the proxy
	// (MATRIX_PROXY) and the timeout (MATRIX_API_TIMEOUT), and no token.
	HTTP *http.Client
	// Base sends the authenticated homeserver calls (default http.DefaultTransport).
	Base http.RoundTripper
	// RetryInterval is the first wait after a failure (MATRIX_RETRY_INTERVAL).
	RetryInterval time.Duration
	Logger        *slog.Logger
	// Prompt shows the operator what to do during an OAuth login (nil: the log).
	Prompt Prompter
	// Callbacks, when set, receives OAuth redirects at a public URL served by the gateway.
	Callbacks *CallbackMux
	// OnOffline is called when the bot goes offline because it cannot authenticate; reason
	// says what the operator must do. OnOnline is called when it has a session again.
	OnOffline func(reason string)
	OnOnline  func()
	// OnRefresh is called after each attempt to refresh the access token, with its failure.
	OnRefresh func(err error)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Manager keeps one bot's session. It is safe for concurrent use.
//
// It decides when a token is needed and which way to get it; its collaborators do the rest:
// sessions (the Store), legacyAuth (password login, /v3/refresh, /v3/logout), oauthFlows (OAuth
// 2.0 logins, refresh and revocation) and health (the failure state and going offline).
type Manager struct {
	opts     Options
	bot      config.Bot
	sessions sessions
	base     http.RoundTripper
	log      *slog.Logger
	hs       *url.URL
	legacy   legacyAuth
	oauth    *oauthFlows
	health   *health

	mu          sync.Mutex
	cur         Tokens
	started     bool
	confirmed   bool // a call succeeded with a token of this process
	triedConfig bool // the configured access_token was tried
	inflight    chan struct{}
	inflightErr error
}

// New returns a Manager; it does no I/O until Start.
func New(opts Options) (*Manager, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Base == nil {
		opts.Base = http.DefaultTransport
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Store == nil {
		return nil, errors.New("auth: a token store is required")
	}
	hs, err := url.Parse(opts.Bot.Homeserver)
	if err != nil || hs.Host == "" {
		return nil, fmt.Errorf("failed to parse homeserver %q: %v", opts.Bot.Homeserver, err)
	}
	key := KeyOf(opts.Bot)
	api := authAPI{http: opts.HTTP, homeserver: key.Homeserver}
	m := &Manager{
		opts: opts, bot: opts.Bot, sessions: sessions{store: opts.Store, key: key, log: opts.Logger}, base: opts.Base,
		log: opts.Logger, hs: hs,
		legacy: legacyAuth{bot: opts.Bot, api: api},
		oauth: &oauthFlows{
			bot: opts.Bot, api: api, log: opts.Logger, clients: opts.Clients, prompter: opts.Prompt, callbacks: opts.Callbacks,
			wait: await.Sleep,
		},
		health: newHealth(opts),
	}
	m.cur = m.configTokens()
	return m, nil
}

// configTokens is the session the configuration describes (possibly without a token).
func (m *Manager) configTokens() Tokens {
	t := Tokens{
		UserID: m.bot.UserID, DeviceID: m.bot.DeviceID, AccessToken: m.bot.AccessToken, RefreshToken: m.bot.RefreshToken,
		ExpiresAt: m.bot.AccessTokenExpiresAt(), Type: SessionStatic,
	}
	if t.RefreshToken != "" {
		t.Type = SessionLegacy
	}
	if m.bot.OAuthEnabled && t.RefreshToken != "" {
		t.Type, t.OAuthClientID = SessionOAuth, m.bot.OAuthClientID
	}
	return t
}

// Tokens returns the current session.
func (m *Manager) Tokens() Tokens {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

// SessionRefused reports whether the server refused to renew the session and the manager is
// trying once more before it declares the bot offline (the bot has no usable token meanwhile).
func (m *Manager) SessionRefused() bool { return m.health.refused() }

// Offline reports whether the bot cannot authenticate, and why.
func (m *Manager) Offline() (bool, string) { return m.health.state() }

// Start loads the bot's session: from the store, else the configuration, else by logging in
// with the password or OAuth. It returns an error wrapping ErrNoCredentials when there is no
// way to get one, ErrRetrying when the attempt may be repeated, and ErrLoggedOut when the
// server refused the credentials.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	started := m.started
	m.mu.Unlock()
	if started {
		return nil
	}
	stored, ok, err := m.sessions.load(ctx)
	if err != nil {
		m.log.Warn("failed to read the token store; using the configured credentials", "error", err)
	}
	var t Tokens
	switch {
	case ok && (stored.AccessToken != "" || stored.RefreshToken != ""):
		if m.bot.DeviceID != "" && stored.DeviceID != "" && stored.DeviceID != m.bot.DeviceID {
			m.log.Warn("the stored session is on another device than device_id; keeping the stored one",
				"stored_device_id", stored.DeviceID, "device_id", m.bot.DeviceID)
		}
		if stored.Type == "" {
			stored.Type = SessionStatic
			if stored.RefreshToken != "" {
				stored.Type = SessionLegacy
			}
		}
		t = stored
		m.log.Info("using the session from the token store", "session", stored)
	case m.bot.AccessToken != "":
		t = m.configTokens()
		m.mu.Lock()
		m.triedConfig = true
		m.mu.Unlock()
	case m.bot.LoginUser != "" && m.bot.LoginPassword != "":
		if t, err = m.legacy.login(ctx, m.deviceFor(stored)); err != nil {
			return startFailure(err)
		}
		m.log.Info("logged in with the password", "session", t)
		m.adopt(ctx, t, true)
	case m.bot.OAuthEnabled:
		if t, err = m.oauthLogin(ctx); err != nil {
			return startFailure(err)
		}
		m.adopt(ctx, t, true)
	default:
		return fmt.Errorf("%w: set access_token, or login_user and login_password, or oauth_enabled, or run `gateway login %d`", ErrNoCredentials, m.bot.Index)
	}
	m.mu.Lock()
	if m.cur.AccessToken != t.AccessToken || m.cur.RefreshToken != t.RefreshToken {
		m.cur = t
	}
	m.started = true
	m.mu.Unlock()
	if t.AccessToken == "" { // only a refresh token was stored
		return m.recover(ctx, "", false)
	}
	return nil
}

// deviceFor returns the device to log in on: the stored one, else device_id.
func (m *Manager) deviceFor(stored Tokens) id.DeviceID {
	if stored.DeviceID != "" {
		return stored.DeviceID
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur.DeviceID != "" {
		return m.cur.DeviceID
	}
	return m.bot.DeviceID
}

func startFailure(err error) error {
	if _, refused := clientError(err); refused {
		return fmt.Errorf("%w: %w", ErrLoggedOut, err)
	}
	return fmt.Errorf("%w: %w", ErrRetrying, err)
}

// Confirm records the identity whoami reported for the current token, filling in what the
// session did not know yet, and stores the session.
func (m *Manager) Confirm(ctx context.Context, user id.UserID, device id.DeviceID) {
	m.mu.Lock()
	changed := !m.confirmed // the first confirmed session is stored, as the seed does
	if m.cur.UserID != user {
		m.cur.UserID, changed = user, true
	}
	if device != "" && m.cur.DeviceID != device {
		m.cur.DeviceID, changed = device, true
	}
	m.confirmed = true
	t := m.cur
	m.mu.Unlock()
	if changed {
		m.sessions.save(ctx, t)
	}
}

// RoundTrip implements http.RoundTripper for calls to the homeserver.
func (m *Manager) RoundTrip(req *http.Request) (*http.Response, error) {
	if !m.isHomeserver(req.URL) {
		return m.base.RoundTrip(req)
	}
	ctx := req.Context()
	tok, err := m.token(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := m.send(req, tok, false)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		if err == nil && resp.StatusCode < 400 {
			m.markConfirmed()
		}
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	se := parseServerError("", resp.StatusCode, body)
	if se.Code != "M_UNKNOWN_TOKEN" {
		return resp, nil
	}
	if err := m.recover(ctx, tok, se.SoftLogout); err != nil {
		return nil, err
	}
	if req.Body != nil && req.GetBody == nil {
		return resp, nil // the body cannot be sent again; the caller retries
	}
	tok, err = m.token(ctx)
	if err != nil {
		return nil, err
	}
	resp, err = m.send(req, tok, true)
	if err == nil && resp.StatusCode < 400 {
		m.markConfirmed()
	}
	return resp, err
}

func (m *Manager) isHomeserver(u *url.URL) bool {
	return u != nil && u.Scheme == m.hs.Scheme && u.Host == m.hs.Host
}

func (m *Manager) send(req *http.Request, tok string, again bool) (*http.Response, error) {
	r := req.Clone(req.Context())
	if again && req.Body != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("failed to repeat the request: %w", err)
		}
		r.Body = body
	}
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return m.base.RoundTrip(r)
}

func (m *Manager) markConfirmed() {
	m.mu.Lock()
	m.confirmed = true
	m.mu.Unlock()
	m.health.confirmed()
}

// token returns the access token to send: refreshed first when it is about to expire; an
// offline bot fails fast (unless its slow retry is due or the store has a new session).
func (m *Manager) token(ctx context.Context) (string, error) {
	if offline, err := m.health.gate(); offline {
		if m.reloadStore(ctx, "") {
			return m.Tokens().AccessToken, nil
		}
		return "", err
	} else if err != nil {
		return "", err
	}
	m.mu.Lock()
	cur, now := m.cur, m.opts.Now()
	due := cur.RefreshToken != "" && !cur.ExpiresAt.IsZero() && !now.Before(cur.ExpiresAt.Add(-m.margin(cur)))
	m.mu.Unlock()
	if due {
		// An access token that has expired is a soft logout: the homeserver would say so.
		expired := !now.Before(cur.ExpiresAt)
		if err := m.recover(ctx, cur.AccessToken, expired); err != nil && errors.Is(err, ErrLoggedOut) {
			return "", err
		}
		// Any other failure: send the old token; the server says whether it still works.
	}
	return m.Tokens().AccessToken, nil
}

// margin is how long before expiry the token is refreshed: refresh_before_expiry_ms, but at
// most half the token's lifetime, so that short-lived tokens are not refreshed on every call.
func (m *Manager) margin(t Tokens) time.Duration {
	margin := m.bot.RefreshBeforeExpiry()
	if t.Lifetime > 0 && margin > t.Lifetime/2 {
		margin = t.Lifetime / 2
	}
	return margin
}

// recover obtains a new access token after usedToken was rejected (or is about to expire).
// Only one attempt runs at a time; concurrent callers wait for it and share its result.
func (m *Manager) recover(ctx context.Context, usedToken string, soft bool) error {
	m.mu.Lock()
	if m.cur.AccessToken != usedToken {
		m.mu.Unlock()
		return nil // another call already replaced it
	}
	if ch := m.inflight; ch != nil {
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.cur.AccessToken != usedToken {
			return nil
		}
		return m.inflightErr
	}
	if err := m.health.waiting(); err != nil {
		m.mu.Unlock()
		if m.reloadStore(ctx, usedToken) {
			return nil
		}
		return err
	}
	ch := make(chan struct{})
	m.inflight = ch
	m.mu.Unlock()

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverTimeout)
	err := m.obtain(rctx, usedToken, soft)
	cancel()

	m.mu.Lock()
	m.inflight, m.inflightErr = nil, err
	close(ch)
	m.mu.Unlock()
	return err
}

// reloadStore adopts a session another process (`gateway login`) stored, if the store holds
// one whose token differs from the current (and the rejected) one.
func (m *Manager) reloadStore(ctx context.Context, rejected string) bool {
	t, ok, err := m.sessions.load(ctx)
	if err != nil || !ok || t.AccessToken == "" {
		return false
	}
	m.mu.Lock()
	if t.AccessToken == m.cur.AccessToken || t.AccessToken == rejected {
		m.mu.Unlock()
		return false
	}
	m.cur = t
	m.mu.Unlock()
	m.health.reloaded()
	m.log.Info("using a new session from the token store", "session", t)
	return true
}

// obtain gets a new access token: a newer session from the store, the configured token while
// starting, the refresh token, or the password. It classifies failures (see the package doc).
func (m *Manager) obtain(ctx context.Context, rejected string, soft bool) error {
	if m.reloadStore(ctx, rejected) {
		return nil
	}
	m.mu.Lock()
	cur, confirmed := m.cur, m.confirmed
	tryConfig := !confirmed && !m.triedConfig && m.bot.AccessToken != "" && m.bot.AccessToken != rejected
	if tryConfig {
		m.triedConfig = true
	}
	m.mu.Unlock()
	if tryConfig {
		m.log.Warn("the stored access token was rejected; trying the configured access_token")
		m.adopt(ctx, m.configTokens(), false)
		return nil
	}

	var refreshErr error
	if cur.RefreshToken != "" {
		t, err := m.refresh(ctx, cur)
		if err == nil {
			m.log.Debug("refreshed the access token", "session", t)
			m.adopt(ctx, t, true)
			return nil
		}
		se, refused := clientError(err)
		if !refused {
			return m.health.transientFailure(err, "failed to refresh the access token; keeping the tokens and retrying")
		}
		refreshErr = err
		soft = soft || se.SoftLogout
	}
	if m.bot.LoginUser != "" && m.bot.LoginPassword != "" && (soft || !confirmed) {
		m.log.Info("logging in again with the password on the same device", "device_id", cur.DeviceID, "soft_logout", soft)
		t, err := m.legacy.login(ctx, m.deviceFor(cur))
		if err == nil {
			m.log.Info("logged in again with the password", "session", t)
			m.adopt(ctx, t, true)
			return nil
		}
		if _, refused := clientError(err); !refused {
			return m.health.transientFailure(err, "failed to log in again with the password; retrying")
		}
		return m.health.refusal(err, "the homeserver refused login_user/login_password: fix them, or run `"+loginCommand(m.bot)+"`")
	}
	if refreshErr == nil {
		refreshErr = errors.New("the homeserver rejected the access token (M_UNKNOWN_TOKEN)")
	}
	return m.health.refusal(refreshErr, advice(m.bot, cur))
}

// refresh exchanges the refresh token, at the token endpoint for OAuth sessions and at
// /v3/refresh otherwise.
func (m *Manager) refresh(ctx context.Context, cur Tokens) (t Tokens, err error) {
	if m.opts.OnRefresh != nil {
		defer func() { m.opts.OnRefresh(err) }()
	}
	if cur.Type == SessionOAuth {
		return m.oauth.refresh(ctx, cur)
	}
	return m.legacy.refresh(ctx, cur)
}

// loginCommand is the command that logs bot in again.
func loginCommand(bot config.Bot) string { return fmt.Sprintf("gateway login %d", bot.Index) }

// advice says what the operator must do when the session is gone for good.
func advice(bot config.Bot, cur Tokens) string {
	switch {
	case cur.Type == SessionOAuth || bot.OAuthEnabled:
		return "the OAuth session ended: run `" + loginCommand(bot) + "` to log in again"
	case bot.LoginPassword != "":
		return "the homeserver ended the session (revoked, not a soft logout), so the bot does not log in again by itself: run `" + loginCommand(bot) + "` to log in with the password"
	}
	return "the homeserver rejected the access token (M_UNKNOWN_TOKEN): set a new access_token (or login_user and login_password), or run `" + loginCommand(bot) + "`"
}

// adopt makes t the current session, stores it when save is set, and clears failure state.
func (m *Manager) adopt(ctx context.Context, t Tokens, save bool) {
	m.mu.Lock()
	if t.UserID == "" {
		t.UserID = m.cur.UserID
	}
	if t.DeviceID == "" {
		t.DeviceID = m.cur.DeviceID
	}
	m.cur = t
	m.mu.Unlock()
	m.health.obtained()
	if save {
		m.sessions.save(ctx, t)
	}
}

// Login obtains a fresh session interactively, once (for `gateway login`): with the password
// when login_user and login_password are set, else with OAuth. The session is stored.
func (m *Manager) Login(ctx context.Context) (Tokens, error) {
	stored, _, err := m.sessions.load(ctx)
	if err != nil {
		m.log.Warn("failed to read the token store", "error", err)
	}
	var t Tokens
	switch {
	case m.bot.LoginUser != "" && m.bot.LoginPassword != "":
		t, err = m.legacy.login(ctx, m.deviceFor(stored))
	case m.bot.OAuthEnabled:
		t, err = m.oauthLogin(ctx)
	default:
		return Tokens{}, fmt.Errorf("%w: MATRIX_BOTS[%d] has neither login_user and login_password nor oauth_enabled", ErrNoCredentials, m.bot.Index)
	}
	if err != nil {
		return Tokens{}, err
	}
	if m.bot.UserID != "" && t.UserID != "" && t.UserID != m.bot.UserID {
		return Tokens{}, fmt.Errorf("logged in as %s, but user_id is %s: log in as the right account or fix user_id", t.UserID, m.bot.UserID)
	}
	m.adopt(ctx, t, true)
	return t, nil
}

// Logout ends the stored session at the server (OAuth: revokes the tokens; password and
// static sessions: /v3/logout) and removes it from the store.
func (m *Manager) Logout(ctx context.Context) error {
	t, ok, err := m.sessions.load(ctx)
	if err != nil {
		return err
	}
	if !ok || t.AccessToken == "" && t.RefreshToken == "" {
		return fmt.Errorf("no stored session for MATRIX_BOTS[%d]", m.bot.Index)
	}
	if t.Type == SessionOAuth {
		err = m.oauth.revoke(ctx, t)
	} else {
		err = m.legacy.logout(ctx, t)
		if se, refused := clientError(err); refused && se.Code == "M_UNKNOWN_TOKEN" {
			err = nil // already logged out
		}
	}
	if err != nil {
		return err
	}
	return m.sessions.delete(ctx)
}

// oauthLogin logs in with OAuth on oauth_device_id, else the bot's device, else a new one.
func (m *Manager) oauthLogin(ctx context.Context) (Tokens, error) {
	device := m.bot.OAuthDeviceID
	if device == "" {
		device = m.deviceFor(Tokens{})
	}
	if device == "" {
		device = newDeviceID()
	}
	return m.oauth.login(ctx, device)
}
