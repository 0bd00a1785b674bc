// Package matrix runs one session per bot: login check, the /sync loop, Matrix events turned into
// neutral model events, and OneBot actions turned into Matrix API calls.
//
// A Session is made of collaborators, each with its own responsibility: the account (client,
// identity, status, login: package account), the /sync requests (syncapi), the encryption
// device and policy (crypt), the room knowledge (rooms: direct chats, state, invites, message
// index), the send path (send), media (media), moderation, and the room actions (actions). This
// package holds what joins them: the sync loop (sync.go, batch.go), the events it hands over
// (events.go, e2ee.go, partial.go), outgoing messages (send.go), the Matrix ⇄ segment
// conversion (convert*.go), and Bot, what the hub sees.
package matrix

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/matrix-onebot/gateway/internal/auth"
	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/e2ee"
	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/actions"
	"github.com/matrix-onebot/gateway/internal/matrix/crypt"
	"github.com/matrix-onebot/gateway/internal/matrix/media"
	"github.com/matrix-onebot/gateway/internal/matrix/moderation"
	"github.com/matrix-onebot/gateway/internal/matrix/rooms"
	"github.com/matrix-onebot/gateway/internal/matrix/send"
	"github.com/matrix-onebot/gateway/internal/matrix/syncapi"
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
	Media             *media.Store // the shared file store; nil = no media
	// PickleKey encrypts the crypto store (GATEWAY_PICKLE_KEY or the generated key file); nil
	// turns end-to-end encryption off.
	PickleKey []byte
	// UndecryptableWait is how long an encrypted event waits for its key (GATEWAY_UNDECRYPTABLE_WAIT).
	UndecryptableWait time.Duration
	// EncryptReactions sends reactions encrypted in encrypted rooms (GATEWAY_ENCRYPT_REACTIONS);
	// off, they go unencrypted, as Element sends them. matrix.react's encrypted overrides it.
	EncryptReactions bool
	// PlaintextInEncryptedRooms delivers unencrypted messages that arrive in an encrypted room to
	// a bot with E2EE on (GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS); off, they are dropped (plaintext.go).
	PlaintextInEncryptedRooms bool
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
var ErrFatal = account.ErrFatal

// Session is one bot's connection to its homeserver, as the gateway runs it: login, the sync
// loop (Serve), its health. What OneBot clients ask of the bot goes through Bot.
type Session struct {
	acct   *account.Account
	device *crypt.Device
	sync   *syncer
	bot    *Bot
}

// New prepares a session; it does no network I/O.
func New(opts Options) (*Session, error) {
	acct, err := account.New(account.Options{
		Bot: opts.Bot, Metrics: opts.Metrics, APITimeout: opts.APITimeout, SyncTimeout: opts.SyncTimeout,
		RetryInterval: opts.RetryInterval, Proxy: opts.Proxy, DB: opts.DB, StateStore: opts.StateStore, Sink: opts.Sink,
		Logger: opts.Logger, TokenStore: opts.TokenStore, OAuthCallbacks: opts.OAuthCallbacks, OAuthPrompt: opts.OAuthPrompt,
		Transport: opts.Transport,
	})
	if err != nil {
		return nil, err
	}
	device := crypt.NewDevice(acct, opts.PickleKey, opts.UndecryptableWait)
	policy := crypt.NewPolicy(acct, device, opts.EncryptReactions)
	direct, state, invites := rooms.NewDirect(acct), rooms.NewState(acct), rooms.NewInvites()
	index := rooms.NewIndex(acct, state)
	plain := &plaintextGuard{acct: acct, device: device, state: state, allow: opts.PlaintextInEncryptedRooms}
	index.Refuse = plain.refuses
	sender, keys := send.NewSender(acct, policy.Transmit), send.NewKeys(acct)
	mod := moderation.New(acct)
	out := &messenger{
		acct: acct, direct: direct, state: state, index: index, files: media.NewFiles(acct, opts.Media),
		device: device, policy: policy, sender: sender, keys: keys, plain: plain,
	}
	pub := &publisher{acct: acct, sink: opts.Sink}
	flags := eventFlags{handleSelf: opts.HandleSelfMessage, handleOld: opts.HandleOldEvents, typing: opts.TypingEvents,
		receipts: opts.ReceiptEvents, started: time.Now()}
	events := &eventHandler{acct: acct, direct: direct, state: state, index: index, out: out, pub: pub, flags: flags}
	api := syncapi.New(acct)
	reader := &batchReader{acct: acct, api: api, device: device, policy: policy, direct: direct, state: state, invites: invites, index: index, pub: pub, events: events,
		decrypt: &decryptor{acct: acct, device: device, direct: direct, state: state, pub: pub, events: events, flags: flags},
		plain:   plain}
	msgs := actions.NewMessages(acct, sender, keys, device, opts.EncryptReactions)
	s := &Session{
		acct: acct, device: device,
		sync: &syncer{acct: acct, api: api, device: device, direct: direct, mod: mod, pub: pub, reader: reader, syncTimeout: opts.SyncTimeout, startGate: opts.StartGate},
		bot: &Bot{
			acct: acct, out: out,
			rooms:  actions.NewRooms(acct, direct, state, invites, device, policy),
			msgs:   msgs,
			facets: []any{out, keys, mod, actions.NewRaw(acct, policy), msgs},
		},
	}
	return s, nil
}

// UserID is the bot's user ID; it is "" until the first whoami when user_id is not configured.
func (s *Session) UserID() id.UserID { return s.acct.UserID() }

// Name names the bot as the configuration does (its user ID, else its login_user or index).
func (s *Session) Name() string { return s.acct.Config.Name() }

// Status is where the bot's connection stands.
func (s *Session) Status() model.BotStatus { return s.acct.Status() }

// Bot is what OneBot clients see of the bot (model.Bot, and its optional interfaces as facets).
func (s *Session) Bot() *Bot { return s.bot }

// Auth returns the bot's token manager.
func (s *Session) Auth() *auth.Manager { return s.acct.Auth() }

// Login obtains the bot's session and checks it (account.Account.Login).
func (s *Session) Login(ctx context.Context) error { return s.acct.Login(ctx) }

// Serve runs the bot until ctx ends, started again with backoff after any failure that is not
// ErrFatal (syncer.Serve).
func (s *Session) Serve(ctx context.Context) error { return s.sync.Serve(ctx) }

// Run syncs until ctx ends (syncer.Run).
func (s *Session) Run(ctx context.Context) error { return s.sync.Run(ctx) }

// Failed shows that the bot could not start or stopped on err and is retried in retryIn: its
// status (readyz, get_status) gives the reason, and the log says it with what to do.
func (s *Session) Failed(err error, retryIn time.Duration) { s.sync.Failed(err, retryIn) }

// E2EEStatus is the bot's encryption status for the admin page; ok is false while the bot has
// no encryption machine. Any goroutine may call it.
func (s *Session) E2EEStatus(ctx context.Context) (e2ee.Status, bool) { return s.device.Status(ctx) }

// fileRecord is what the file store keeps about a file (convert_media.go builds content from it).
type fileRecord = media.Record

// Close forgets a bot that was removed while the gateway runs, once its Serve has returned:
// its series leave /metrics and the file store no longer fetches media through it.
func (s *Session) Close() {
	s.device.Close()
	s.acct.Metrics.ForgetBot(s.acct.MetricsLabel())
	s.bot.out.files.Close()
}
