package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/matrix-onebot/gateway/internal/admin"
	"github.com/matrix-onebot/gateway/internal/auth"
)

// run returns the bot at index i of the admin page (its place in the bot list).
func (bs *botSet) run(i int) (*botRun, error) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if i < 0 || i >= len(bs.bots) {
		return nil, fmt.Errorf("there is no bot %d", i)
	}
	return bs.bots[i], nil
}

// Reconnect implements admin.Backend.
func (bs *botSet) Reconnect(i int) error {
	r, err := bs.run(i)
	if err != nil {
		return err
	}
	select {
	case r.restart <- struct{}{}:
	default: // a restart is already asked for
	}
	bs.mu.Lock()
	if cancel := r.runCancel; cancel != nil {
		cancel()
	}
	bs.mu.Unlock()
	return nil
}

// Bots implements admin.Backend.
func (bs *botSet) Bots(ctx context.Context) []admin.Bot {
	bs.mu.Lock()
	runs := append([]*botRun(nil), bs.bots...)
	bs.mu.Unlock()
	out := make([]admin.Bot, len(runs))
	for i, r := range runs {
		s := r.s
		st := s.Status()
		b := admin.Bot{
			Index: i, Name: r.bot.Name(), UserID: string(s.UserID()), State: string(st.State), Reason: st.Reason,
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
func (bs *botSet) Login(ctx context.Context, i int, method, user, password string, p admin.Prompt) error {
	r, err := bs.run(i)
	if err != nil {
		return err
	}
	c := bs
	b := r.bot
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
	cfgBot := r.bot
	mgr, err := auth.New(auth.Options{
		Bot: b, Store: keyedStore{Store: c.tokens, key: auth.KeyOf(cfgBot)}, Clients: c.db.Tokens(), Logger: c.log.With("bot", b.Name()),
		RetryInterval: c.cfg.RetryInterval, HTTP: &http.Client{Transport: c.transports.For(b.Homeserver), Timeout: c.cfg.APITimeout},
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

var _ admin.Backend = (*botSet)(nil)

// adminTTL is how long an admin page session lasts.
const adminTTL = 8 * time.Hour

var _ admin.BotEditor = (*botSet)(nil)
