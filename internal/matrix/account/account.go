// Package account is one bot's account on its homeserver: the Matrix client whose transport
// (the auth manager) authenticates every call, who the bot is (user ID, display name), where its
// connection stands (the status that /readyz, get_status and the hub see), and the login that
// checks it. Every other part of a bot's session works through an Account.
package account

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/matrix-onebot/gateway/internal/auth"
	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Options configure an Account.
type Options struct {
	Bot           config.Bot
	Metrics       *metrics.Metrics // homeserver requests, token refreshes, sync state (nil = none)
	APITimeout    time.Duration
	SyncTimeout   time.Duration
	RetryInterval time.Duration // first backoff after a transient failure
	Proxy         *url.URL
	DB            *storage.DB
	StateStore    *sqlstatestore.SQLStateStore
	Sink          model.Sink // told of status changes
	Logger        *slog.Logger
	// TokenStore keeps the bot's session (default: the database, auth.DBStore).
	TokenStore auth.Store
	// OAuthCallbacks receives OAuth redirects on the gateway's own HTTP server (may be nil).
	OAuthCallbacks *auth.CallbackMux
	// OAuthPrompt shows the operator an OAuth login to approve (default: the log).
	OAuthPrompt auth.Prompter
	// Transport carries the bot's homeserver requests; bots of one homeserver share one
	// (fleet.Transports). nil = a transport of the bot's own (through Proxy).
	Transport *http.Transport
}

// ErrFatal marks failures that retrying cannot fix: the operator must change the config.
var ErrFatal = errors.New("fatal")

// Account is one bot's account on its homeserver. Config, DB, StateStore, Metrics and
// RetryInterval are set by New and never change.
type Account struct {
	Config        config.Bot
	DB            *storage.DB
	StateStore    *sqlstatestore.SQLStateStore // nil = none
	Metrics       *metrics.Metrics
	RetryInterval time.Duration

	sink     model.Sink
	log      atomic.Pointer[slog.Logger]
	client   *mautrix.Client
	auth     *auth.Manager // holds the tokens and authenticates every homeserver call
	syncHTTP *http.Client

	userID      atomic.Pointer[id.UserID]
	displayName atomic.Pointer[string]
	status      atomic.Pointer[model.BotStatus]
	loggedIn    atomic.Bool

	watchMu  sync.Mutex
	watchers []func() // called after each status change

	encryption encryptionCache // StoredEncryption (statestore.go)
}

// New prepares an account; it does no network I/O.
func New(opts Options) (*Account, error) {
	b := opts.Bot
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = time.Second
	}
	// The access token lives in the auth manager, which is the transport of every homeserver
	// call: the client itself has none.
	client, err := mautrix.NewClient(b.Homeserver, b.UserID, "")
	if err != nil {
		return nil, fmt.Errorf("failed to create Matrix client for %s: %w", b.Name(), err)
	}
	transport := opts.Transport
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
		if opts.Proxy != nil {
			transport.Proxy = http.ProxyURL(opts.Proxy)
		}
	}
	store := opts.TokenStore
	if store == nil {
		store = auth.DBStore{DB: opts.DB}
	}
	a := &Account{
		Config: b, DB: opts.DB, StateStore: opts.StateStore, Metrics: opts.Metrics, RetryInterval: opts.RetryInterval,
		sink: opts.Sink, client: client,
	}
	log := opts.Logger.With("bot", b.Name())
	a.log.Store(log)
	// Every homeserver request (login, refresh and OAuth ones too) is counted by endpoint template.
	var counted http.RoundTripper = transport
	if opts.Metrics != nil {
		counted = &metrics.Transport{M: opts.Metrics, Bot: a.MetricsLabel, Next: transport}
	}
	mgr, err := auth.New(auth.Options{
		Bot: b, Store: store, Clients: opts.DB.Tokens(), HTTP: &http.Client{Transport: counted, Timeout: opts.APITimeout},
		Base: counted, OnRefresh: func(err error) { opts.Metrics.TokenRefresh(a.MetricsLabel(), err) }, RetryInterval: opts.RetryInterval, Logger: log, Prompt: opts.OAuthPrompt,
		Callbacks: opts.OAuthCallbacks,
		OnOffline: func(reason string) { a.SetStatus(model.StateOffline, reason) },
	})
	if err != nil {
		return nil, fmt.Errorf("failed to set up authentication for %s: %w", b.Name(), err)
	}
	a.auth = mgr
	client.Client = &http.Client{Transport: mgr, Timeout: opts.APITimeout}
	client.DeviceID = b.DeviceID
	client.Log = zerolog.Nop()
	if opts.StateStore != nil { // a nil *SQLStateStore in the interface would be called
		client.StateStore = opts.StateStore
	}
	client.DefaultHTTPRetries = 0 // retries are ours: the sync loop and the send path decide
	a.syncHTTP = &http.Client{Transport: mgr, Timeout: opts.SyncTimeout + opts.APITimeout}
	u := b.UserID
	a.userID.Store(&u)
	empty := ""
	a.displayName.Store(&empty)
	a.status.Store(&model.BotStatus{State: model.StateStarting, Since: time.Now()})
	opts.Metrics.SyncState(a.MetricsLabel(), string(model.StateStarting))
	return a, nil
}

// UserID is the bot's user ID; it is "" until the first whoami when user_id is not configured.
func (a *Account) UserID() id.UserID { return *a.userID.Load() }

// DisplayName is the bot's global display name, as loaded at the start of each run.
func (a *Account) DisplayName() string { return *a.displayName.Load() }

// SetDisplayName records the bot's global display name.
func (a *Account) SetDisplayName(name string) { a.displayName.Store(&name) }

// Log is the bot's logger (it names the user ID once a login has told it).
func (a *Account) Log() *slog.Logger { return a.log.Load() }

// Client returns the mautrix client. Its AccessToken is empty: the auth manager, its transport,
// adds the current token to every call.
func (a *Account) Client() *mautrix.Client { return a.client }

// SyncHTTP is the HTTP client for /sync: its timeout leaves room for the long poll.
func (a *Account) SyncHTTP() *http.Client { return a.syncHTTP }

// Auth returns the bot's token manager.
func (a *Account) Auth() *auth.Manager { return a.auth }

// LoggedIn tells whether a login has confirmed the bot's session in this process.
func (a *Account) LoggedIn() bool { return a.loggedIn.Load() }

// Status is where the bot's connection stands.
func (a *Account) Status() model.BotStatus { return *a.status.Load() }

// SetStatus records a state and its reason.
func (a *Account) SetStatus(state model.BotState, reason string) {
	a.StoreStatus(model.BotStatus{State: state, Reason: reason})
}

// StoreStatus records st (Since is set here) and tells the sink and the watchers when it changed.
func (a *Account) StoreStatus(st model.BotStatus) {
	old := a.status.Load()
	if old.State == st.State && old.Reason == st.Reason && old.SessionRetried == st.SessionRetried {
		return
	}
	st.Since = time.Now()
	a.status.Store(&st)
	a.Metrics.SyncState(a.MetricsLabel(), string(st.State))
	a.watchMu.Lock()
	watchers := a.watchers
	a.watchMu.Unlock()
	for _, w := range watchers {
		w()
	}
	if u := a.UserID(); u != "" && a.sink != nil {
		a.sink.BotStatusChanged(u, *a.status.Load())
	}
}

// WatchStatus calls f after each change of the status (it must not block).
func (a *Account) WatchStatus(f func()) {
	a.watchMu.Lock()
	a.watchers = append(a.watchers, f)
	a.watchMu.Unlock()
}

// Online fails when the bot has no working session (an action would fail anyway).
func (a *Account) Online() error {
	if st := a.Status(); !st.Online() && st.State != model.StateStarting {
		return &model.ActionError{Kind: model.ErrBotOffline, Message: "bot is offline: " + st.Reason}
	}
	return nil
}

// MetricsLabel names the bot in metrics: its user ID, else its name in the configuration
// (before a login has told the user ID).
func (a *Account) MetricsLabel() string {
	if a == nil {
		return ""
	}
	if u := a.UserID(); u != "" {
		return string(u)
	}
	return a.Config.Name()
}
