package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/matrix-onebot/gateway/internal/admin"
	"github.com/matrix-onebot/gateway/internal/auth"
	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/matrix"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// botControl runs each bot's login and sync and lets the admin page restart them (Reconnect)
// and log a bot in (Login): it implements admin.Backend.
type botControl struct {
	cfg       *config.Config
	sessions  []*matrix.Session
	tokens    auth.Store
	db        *storage.DB
	callbacks *auth.CallbackMux
	log       *slog.Logger

	mu      sync.Mutex
	cancel  []context.CancelFunc // of each bot's current run; nil between runs
	restart []chan struct{}      // cap 1: run the bot again
}

func newBotControl(cfg *config.Config, sessions []*matrix.Session, tokens auth.Store, db *storage.DB, callbacks *auth.CallbackMux, log *slog.Logger) *botControl {
	c := &botControl{cfg: cfg, sessions: sessions, tokens: tokens, db: db, callbacks: callbacks, log: log,
		cancel: make([]context.CancelFunc, len(sessions)), restart: make([]chan struct{}, len(sessions))}
	for i := range c.restart {
		c.restart[i] = make(chan struct{}, 1)
	}
	return c
}

// loop runs bot i with run until ctx ends, again each time Reconnect asks: run's context ends
// at a reconnect.
func (c *botControl) loop(ctx context.Context, i int, run func(ctx context.Context)) {
	for {
		runCtx, cancel := context.WithCancel(ctx)
		c.mu.Lock()
		c.cancel[i] = cancel
		c.mu.Unlock()
		run(runCtx)
		c.mu.Lock()
		c.cancel[i] = nil
		c.mu.Unlock()
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-c.restart[i]:
			c.log.Info("bot restarted from the admin page", "bot", c.cfg.Bots[i].Name())
		}
	}
}

// Reconnect implements admin.Backend.
func (c *botControl) Reconnect(i int) error {
	if i < 0 || i >= len(c.sessions) {
		return fmt.Errorf("there is no bot %d", i)
	}
	select {
	case c.restart[i] <- struct{}{}:
	default: // a restart is already asked for
	}
	c.mu.Lock()
	if cancel := c.cancel[i]; cancel != nil {
		cancel()
	}
	c.mu.Unlock()
	return nil
}

// Bots implements admin.Backend.
func (c *botControl) Bots(ctx context.Context) []admin.Bot {
	out := make([]admin.Bot, len(c.sessions))
	for i, s := range c.sessions {
		st := s.Status()
		b := admin.Bot{
			Index: i, Name: c.cfg.Bots[i].Name(), UserID: string(s.UserID()), State: string(st.State), Reason: st.Reason,
			Since: st.Since, Methods: []string{"password", "oauth"},
		}
		if a := s.Auth(); a != nil {
			b.DeviceID = string(a.Tokens().DeviceID)
		}
		if es, ok := s.E2EEStatus(ctx); ok {
			b.E2EE = admin.E2EE{Enabled: true, CrossSigned: es.CrossSigned, BackupVersion: es.BackupVersion, Held: es.Held}
		}
		out[i] = b
	}
	return out
}

// pagePrompt is the Prompter of a login from the admin page: it shows URLs and codes on the
// page; nobody can paste a redirect there.
type pagePrompt struct{ admin.Prompt }

func (pagePrompt) ReadRedirect(context.Context) (string, error) {
	return "", errors.New("the admin page cannot take a pasted redirect: set oauth_redirect_uri to GATEWAY_PUBLIC_URL + " + auth.CallbackPath + ", or leave it unset")
}

// Login implements admin.Backend: it logs the bot in as `gateway login` does, stores the
// session in the token store, then restarts the bot, which takes the stored session.
func (c *botControl) Login(ctx context.Context, i int, method, user, password string, p admin.Prompt) error {
	if i < 0 || i >= len(c.sessions) {
		return fmt.Errorf("there is no bot %d", i)
	}
	b := c.cfg.Bots[i]
	switch method {
	case "password":
		b.OAuthEnabled = false
		b.LoginUser = firstNonEmpty(user, b.LoginUser, string(b.UserID))
		if b.LoginUser == "" {
			return errors.New("enter the bot's user (its user ID or login name)")
		}
		b.LoginPassword = password
	case "oauth-device":
		b.LoginUser, b.LoginPassword, b.OAuthEnabled = "", "", true
		b.OAuthRedirectURI = "" // the device grant is used when there is no redirect URI
	case "oauth-code":
		b.LoginUser, b.LoginPassword, b.OAuthEnabled = "", "", true
		if b.OAuthRedirectURI == "" {
			b.OAuthRedirectURI = strings.TrimRight(c.cfg.Gateway.PublicURL, "/") + auth.CallbackPath
		}
	default:
		return fmt.Errorf("unknown login method %q", method)
	}
	cfgBot := c.cfg.Bots[i]
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if c.cfg.Proxy != nil {
		transport.Proxy = http.ProxyURL(c.cfg.Proxy)
	}
	mgr, err := auth.New(auth.Options{
		Bot: b, Store: keyedStore{Store: c.tokens, key: auth.KeyOf(cfgBot)}, Clients: c.db, Logger: c.log.With("bot", b.Name()),
		RetryInterval: c.cfg.RetryInterval, HTTP: &http.Client{Transport: transport, Timeout: c.cfg.APITimeout},
		Prompt: pagePrompt{p}, Callbacks: c.callbacks,
	})
	if err != nil {
		return err
	}
	if _, err := mgr.Login(ctx); err != nil {
		return err
	}
	return c.Reconnect(i)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// keyedStore keeps a session under the configured bot's key, whatever user the page logged in
// with, so that the bot's own session finds it.
type keyedStore struct {
	auth.Store
	key auth.Key
}

func (s keyedStore) Load(ctx context.Context, _ auth.Key) (auth.Tokens, bool, error) {
	return s.Store.Load(ctx, s.key)
}

func (s keyedStore) Save(ctx context.Context, _ auth.Key, t auth.Tokens) error {
	return s.Store.Save(ctx, s.key, t)
}

func (s keyedStore) Delete(ctx context.Context, _ auth.Key) error { return s.Store.Delete(ctx, s.key) }

var _ admin.Backend = (*botControl)(nil)

// adminTTL is how long an admin page session lasts.
const adminTTL = 8 * time.Hour
