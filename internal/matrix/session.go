// Package matrix runs one session per bot: login check, the /sync loop, Matrix events turned into
// neutral model events, and OneBot actions turned into Matrix API calls.
package matrix

import (
	"context"
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
	"github.com/matrix-onebot/gateway/internal/backoff"
	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/e2ee"
	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Options configure a Session.
type Options struct {
	Bot config.Bot
	// Metrics count the bot's homeserver requests, token refreshes, sync state and E2EE
	// (nil = none).
	Metrics           *metrics.Metrics
	APITimeout        time.Duration
	SyncTimeout       time.Duration
	RetryInterval     time.Duration // first backoff after a transient failure
	HandleSelfMessage bool
	HandleOldEvents   bool
	TypingEvents      bool // m.typing → matrix.typing events (opt-in)
	ReceiptEvents     bool // m.receipt → matrix.receipt events (opt-in)
	Proxy             *url.URL
	DB                *storage.DB
	StateStore        *sqlstatestore.SQLStateStore
	Sink              model.Sink
	Logger            *slog.Logger
	Media             *Media // the shared file store; nil = no media
	// PickleKey encrypts the crypto store (GATEWAY_PICKLE_KEY or the generated key file); nil
	// turns end-to-end encryption off.
	PickleKey []byte
	// UndecryptableWait is how long an encrypted event waits for its key (GATEWAY_UNDECRYPTABLE_WAIT).
	UndecryptableWait time.Duration
	// EncryptReactions sends reactions encrypted in encrypted rooms (GATEWAY_ENCRYPT_REACTIONS);
	// off, they go unencrypted, as Element sends them. matrix.react's encrypted overrides it.
	EncryptReactions bool
	// TokenStore keeps the bot's session (default: the database, auth.DBStore).
	TokenStore auth.Store
	// OAuthCallbacks receives OAuth redirects on the gateway's own HTTP server (may be nil).
	OAuthCallbacks *auth.CallbackMux
	// OAuthPrompt shows the operator an OAuth login to approve (default: the log).
	OAuthPrompt auth.Prompter
	// Transport carries the bot's homeserver requests; bots of one homeserver share one
	// (fleet.Transports). nil = a transport of the bot's own (through Proxy).
	Transport *http.Transport
	// StartGate bounds how many bots start at once (fleet.Gate); nil = no bound.
	StartGate StartGate
}

// StartGate bounds concurrent starts: a run holds a slot from before its login to the end of
// its first /sync batch (or its first failure).
type StartGate interface {
	Acquire(ctx context.Context) (release func(), err error)
}

// ErrFatal marks failures that retrying cannot fix: the operator must change the config.
var ErrFatal = errors.New("fatal")

// Session is one bot's connection to its homeserver. It implements model.Bot.
type Session struct {
	opts     Options
	log      *slog.Logger
	client   *mautrix.Client
	auth     *auth.Manager // holds the tokens and authenticates every homeserver call
	syncHTTP *http.Client
	started  time.Time

	userID      atomic.Pointer[id.UserID]
	displayName atomic.Pointer[string]
	status      atomic.Pointer[model.BotStatus]
	loggedIn    atomic.Bool

	directMu sync.RWMutex
	direct   directRooms

	invitesMu sync.Mutex
	invites   map[id.RoomID]bool         // invites already handled in this process
	pending   map[id.RoomID]model.Invite // invites left to a OneBot client to answer (events.go)

	crypto *e2ee.Machine // nil when the bot does not encrypt; set in Run before the first sync
	// cryptoStats are crypto's counters, for /metrics (read from other goroutines).
	cryptoStats atomic.Pointer[e2ee.Stats]
	// cryptoShown is crypto for other goroutines (the admin page: E2EEStatus).
	cryptoShown atomic.Pointer[e2ee.Machine]

	queue    *sendQueue // paces the bot's sends (queue.go)
	sendKeys keyLocks   // one send at a time per idempotency key (idempotency.go)
	mutes    muter      // timed mutes (mute.go)

	// encState caches, per room, the m.room.encryption algorithm read from the homeserver ("" =
	// not encrypted) for rooms the state store has no encryption event for (encryption.go). A
	// join forgets the room's entry.
	encState sync.Map
}

const maxBackoff = 60 * time.Second

// offlinePoll is how often the sync loop of a bot that cannot authenticate looks again.
const offlinePoll = 10 * time.Second

// New prepares a session; it does no network I/O.
func New(opts Options) (*Session, error) {
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
	var s *Session
	log := opts.Logger.With("bot", b.Name())
	// Every homeserver request (login, refresh and OAuth ones too) is counted by endpoint template.
	var counted http.RoundTripper = transport
	if opts.Metrics != nil {
		counted = &metrics.Transport{M: opts.Metrics, Bot: func() string { return s.metricsLabel() }, Next: transport}
	}
	mgr, err := auth.New(auth.Options{
		Bot: b, Store: store, Clients: opts.DB, HTTP: &http.Client{Transport: counted, Timeout: opts.APITimeout},
		Base: counted, OnRefresh: func(err error) { opts.Metrics.TokenRefresh(s.metricsLabel(), err) }, RetryInterval: opts.RetryInterval, Logger: log, Prompt: opts.OAuthPrompt,
		Callbacks: opts.OAuthCallbacks,
		OnOffline: func(reason string) { s.setStatus(model.StateOffline, reason) },
	})
	if err != nil {
		return nil, fmt.Errorf("failed to set up authentication for %s: %w", b.Name(), err)
	}
	client.Client = &http.Client{Transport: mgr, Timeout: opts.APITimeout}
	client.DeviceID = b.DeviceID
	client.Log = zerolog.Nop()
	if opts.StateStore != nil { // a nil *SQLStateStore in the interface would be called
		client.StateStore = opts.StateStore
	}
	client.DefaultHTTPRetries = 0 // retries are ours: the sync loop and the send path decide
	s = &Session{
		opts:     opts,
		log:      log,
		client:   client,
		auth:     mgr,
		syncHTTP: &http.Client{Transport: mgr, Timeout: opts.SyncTimeout + opts.APITimeout},
		started:  time.Now(),
		direct:   newDirectRooms(),
		invites:  map[id.RoomID]bool{},
		pending:  map[id.RoomID]model.Invite{},
		mutes:    muter{wake: make(chan struct{}, 1)},
	}
	s.queue = newSendQueue(opts.RetryInterval, func(wait time.Duration) {
		s.log.Info("rate limited by the homeserver; sends wait", "retry_in", wait)
	})
	u := b.UserID
	s.userID.Store(&u)
	empty := ""
	s.displayName.Store(&empty)
	s.status.Store(&model.BotStatus{State: model.StateStarting, Since: time.Now()})
	opts.Metrics.SyncState(s.metricsLabel(), string(model.StateStarting))
	opts.Metrics.AddSource(s.metricSamples)
	if opts.Media != nil {
		opts.Media.register(s)
	}
	return s, nil
}

// UserID implements model.Bot; it is "" until the first whoami when user_id is not configured.
func (s *Session) UserID() id.UserID { return *s.userID.Load() }

// Name names the bot as the configuration does (its user ID, else its login_user or index):
// OneBot answers use it for a bot whose user ID is not known before it logs in.
func (s *Session) Name() string { return s.opts.Bot.Name() }

// DisplayName implements model.Bot.
func (s *Session) DisplayName() string { return *s.displayName.Load() }

// Status implements model.Bot.
func (s *Session) Status() model.BotStatus { return *s.status.Load() }

func (s *Session) setStatus(state model.BotState, reason string) {
	s.storeStatus(model.BotStatus{State: state, Reason: reason})
}

// storeStatus records st (Since is set here) and tells the sink when it changed.
func (s *Session) storeStatus(st model.BotStatus) {
	old := s.status.Load()
	if old.State == st.State && old.Reason == st.Reason && old.SessionRetried == st.SessionRetried {
		return
	}
	st.Since = time.Now()
	s.status.Store(&st)
	s.opts.Metrics.SyncState(s.metricsLabel(), string(st.State))
	s.mutes.poke() // mutes due while the bot was offline are lifted once it is back
	if u := s.UserID(); u != "" && s.opts.Sink != nil {
		s.opts.Sink.BotStatusChanged(u, *s.status.Load())
	}
}

// Client returns the underlying mautrix client (for tests and E2EE). Its AccessToken is empty:
// the auth manager, its transport, adds the current token to every call.
func (s *Session) Client() *mautrix.Client { return s.client }

// Auth returns the bot's token manager.
func (s *Session) Auth() *auth.Manager { return s.auth }

// Login obtains the bot's session (token store, configuration, password or OAuth login; see
// package auth) and checks it with /account/whoami, retrying transient failures, until it
// succeeds or ctx ends. A configured user_id that does not match is fatal, and so is a bot with
// no way to get a token.
func (s *Session) Login(ctx context.Context) error {
	retry := backoff.New(s.opts.RetryInterval, maxBackoff)
	for {
		if err := s.auth.Start(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, auth.ErrNoCredentials) {
				err = fmt.Errorf("%w: %w", ErrFatal, err)
				s.setStatus(model.StateStopped, err.Error())
				return err
			}
			if !sleep(ctx, s.failureWait(err, retry)) {
				return ctx.Err()
			}
			continue
		}
		if d := s.auth.Tokens().DeviceID; d != "" && !s.loggedIn.Load() {
			s.client.DeviceID = d
		}
		resp, err := s.client.Whoami(ctx)
		if err == nil {
			want := s.opts.Bot.UserID
			if want != "" && resp.UserID != want {
				err := fmt.Errorf("%w: the access token belongs to %s, but user_id is %s: fix user_id or the token", ErrFatal, resp.UserID, want)
				s.setStatus(model.StateStopped, err.Error())
				return err
			}
			u := resp.UserID
			s.userID.Store(&u)
			s.client.UserID = u
			if s.client.DeviceID == "" {
				s.client.DeviceID = resp.DeviceID
			}
			s.auth.Confirm(ctx, u, resp.DeviceID)
			if s.opts.Bot.UserID == "" && !s.loggedIn.Load() {
				s.log = s.log.With("user_id", u) // the bot's name in logs was not its user ID
			}
			s.log.Info("logged in", "device_id", resp.DeviceID)
			s.loggedIn.Store(true)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := s.failureWait(err, retry)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// failureWait classifies a failed call, sets the status accordingly and returns how long to wait.
func (s *Session) failureWait(err error, retry *backoff.Backoff) time.Duration {
	var httpErr mautrix.HTTPError
	switch {
	case errors.Is(err, auth.ErrLoggedOut):
		reason := "cannot authenticate: " + err.Error()
		if off, why := s.auth.Offline(); off {
			reason = why
		}
		s.setStatus(model.StateOffline, reason)
		// Calls fail fast without touching the network while offline; polling often only
		// notices sooner a session that `gateway login` stored.
		return min(max(s.opts.RetryInterval, time.Second), offlinePoll)
	case errors.Is(err, auth.ErrRetrying):
		// It says it cannot obtain a token now, and why; after a refusal the session itself is
		// being retried, and the bot is not online meanwhile.
		s.storeStatus(model.BotStatus{State: model.StateBackoff, Reason: err.Error(), SessionRetried: s.auth.SessionRefused()})
	case errors.Is(err, mautrix.MUnknownToken):
		s.setStatus(model.StateOffline, "the homeserver rejected the access token (M_UNKNOWN_TOKEN): set a new access_token, or login_user and login_password")
		s.log.Error("access token rejected; the bot is offline until it is replaced", "error", err)
		return maxBackoff
	case errors.Is(err, mautrix.MLimitExceeded):
		wait := retryAfter(err)
		s.setStatus(model.StateBackoff, "rate limited by the homeserver")
		s.log.Warn("rate limited by the homeserver", "retry_in", wait)
		return wait
	case errors.As(err, &httpErr) && httpErr.RespError != nil && httpErr.Response != nil && httpErr.Response.StatusCode < 500:
		s.setStatus(model.StateBackoff, "homeserver refused: "+httpErr.RespError.ErrCode+" "+httpErr.RespError.Err)
	default:
		s.setStatus(model.StateBackoff, "homeserver unreachable: "+err.Error())
	}
	wait := retry.Next()
	s.log.Warn("homeserver request failed; retrying", "error", err, "retry_in", wait.Round(time.Millisecond))
	return wait
}

// retryAfter reads retry_after_ms from a 429 (or the Retry-After header), defaulting to 5 s.
func retryAfter(err error) time.Duration {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) {
		if httpErr.RespError != nil {
			if ms, ok := httpErr.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
		if httpErr.Response != nil {
			if secs, err := time.ParseDuration(httpErr.Response.Header.Get("Retry-After") + "s"); err == nil && secs > 0 {
				return secs
			}
		}
	}
	return 5 * time.Second
}

// sleep waits d or until ctx ends; it reports whether the full wait happened.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var (
	_ model.Bot    = (*Session)(nil)
	_ model.RawAPI = (*Session)(nil)
)

// metricsLabel names the bot in metrics: its user ID, else its name in the configuration
// (before a login has told the user ID).
func (s *Session) metricsLabel() string {
	if s == nil {
		return ""
	}
	if u := s.UserID(); u != "" {
		return string(u)
	}
	return s.opts.Bot.Name()
}

// metricSamples are the bot's E2EE counters (e2ee.Stats, their one source), read at each scrape.
func (s *Session) metricSamples() []metrics.Sample {
	st := s.cryptoStats.Load()
	if st == nil {
		return nil
	}
	bot := s.metricsLabel()
	ev := func(kind string, v int64) metrics.Sample {
		return metrics.Sample{Name: "e2ee_events_total", Labels: map[string]string{"bot": bot, "kind": kind}, Value: float64(v),
			Help: "Encrypted events: decrypted at once, held (room key missing), recovered (held, then decrypted), undecryptable (delivered as such)."}
	}
	out := []metrics.Sample{
		ev("decrypted", st.Decrypted.Load()), ev("held", st.Held.Load()), ev("recovered", st.Recovered.Load()),
		ev("undecryptable", st.Undecryptable.Load()),
		{Name: "e2ee_backup_sessions_total", Labels: map[string]string{"bot": bot, "direction": "imported"}, Value: float64(st.BackupImported.Load()),
			Help: "Megolm sessions imported from or uploaded to the key backup."},
		{Name: "e2ee_backup_sessions_total", Labels: map[string]string{"bot": bot, "direction": "uploaded"}, Value: float64(st.BackupUploaded.Load()),
			Help: "Megolm sessions imported from or uploaded to the key backup."},
		{Name: "e2ee_keys_refused_total", Labels: map[string]string{"bot": bot}, Value: float64(st.KeysRefused.Load()),
			Help: "Room keys refused as untrusted."},
	}
	if n := st.OTKCount.Load(); n >= 0 {
		out = append(out, metrics.Sample{Name: "e2ee_one_time_keys", Gauge: true, Labels: map[string]string{"bot": bot}, Value: float64(n),
			Help: "The device's signed_curve25519 one-time keys on the homeserver at the last /sync."})
	}
	return out
}
