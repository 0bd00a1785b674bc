// Package config loads the gateway's configuration from environment
// variables.
//
// The MATRIX_* variables and the keys of the MATRIX_BOTS objects keep the
// names and units of nonebot-adapter-matrix, so an existing NoneBot .env file
// works unchanged. The GATEWAY_* variables configure the OneBot side. See
// deploy/gateway.env.example for every variable with its default.
//
// Load never stops at the first mistake: it returns a *Error listing every
// problem, each naming the variable (or the JSON path inside MATRIX_BOTS)
// and saying what to set.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/matrix-onebot/gateway/internal/redact"
)

// Defaults of the variables whose default is not a plain envDefault tag.
const (
	DefaultListen = "127.0.0.1:5700"
)

// Config is the whole gateway configuration.
type Config struct {
	// Bots are the Matrix accounts, in MATRIX_BOTS order (Bot.Index).
	Bots []Bot

	APITimeout        time.Duration // MATRIX_API_TIMEOUT (float seconds)
	SyncTimeout       time.Duration // MATRIX_SYNC_TIMEOUT (integer milliseconds)
	RetryInterval     time.Duration // MATRIX_RETRY_INTERVAL (float seconds); the initial backoff
	HandleSelfMessage bool          // MATRIX_HANDLE_SELF_MESSAGE
	HandleOldEvents   bool          // MATRIX_HANDLE_OLD_EVENTS
	Proxy             *url.URL      // MATRIX_PROXY; nil when unset
	TokenStorePath    string        // MATRIX_TOKEN_STORE_PATH; "" when unset
	// RecoveryCode is MATRIX_RECOVERY_CODE. Load already copies it into every
	// bot that has no recovery_code of its own.
	RecoveryCode string

	Gateway Gateway
}

// Gateway holds the GATEWAY_* options of the OneBot side.
type Gateway struct {
	Listen   string // GATEWAY_LISTEN host:port; "" disables the HTTP server
	Database string // GATEWAY_DATABASE: a SQLite file path or a postgres:// (postgresql://) URL
	// AccessToken is GATEWAY_ACCESS_TOKEN (or the trimmed content of
	// GATEWAY_ACCESS_TOKEN_FILE) that OneBot clients must present; "" means
	// no authentication, which is only allowed on a loopback Listen address.
	AccessToken string
	LogLevel    string // GATEWAY_LOG_LEVEL: debug, info, warn or error
	LogFormat   string // GATEWAY_LOG_FORMAT: text or json
	// AccessLogLevel is GATEWAY_ACCESS_LOG_LEVEL: the level of the HTTP access log (debug,
	// info, warn or off).
	AccessLogLevel string
	// MetricsPublic is GATEWAY_METRICS_PUBLIC: /metrics is served without the access token.
	MetricsPublic bool
	// Pprof is GATEWAY_PPROF: a loopback host:port serving Go's /debug/pprof/ profiles, for
	// the benchmark (make profile); "" = off.
	Pprof string

	HeartbeatInterval time.Duration // GATEWAY_HEARTBEAT_INTERVAL
	ShutdownTimeout   time.Duration // GATEWAY_SHUTDOWN_TIMEOUT
	// StartConcurrency is GATEWAY_START_CONCURRENCY: how many bots log in and run their first
	// /sync at once; StartJitter is GATEWAY_START_JITTER, the random wait before each start.
	StartConcurrency int
	StartJitter      time.Duration
	// Cluster is GATEWAY_CLUSTER: several gateways on one PostgreSQL database share the bots
	// (each bot runs on one of them); ClusterURL is GATEWAY_CLUSTER_URL, where the others reach
	// this one.
	Cluster    bool
	ClusterURL string
	// Admin is GATEWAY_ADMIN: the admin page at /admin (it also needs GATEWAY_ACCESS_TOKEN);
	// AdminSessionTTL is GATEWAY_ADMIN_SESSION_TTL, how long a login to it lasts.
	Admin             bool
	AdminSessionTTL   time.Duration
	ReconnectInterval time.Duration // GATEWAY_RECONNECT_INTERVAL, initial reverse-WS reconnect backoff
	// DropWithoutClient is GATEWAY_DROP_EVENTS_WITHOUT_CLIENT: drop events no OneBot client
	// receives instead of holding the bot's sync until one connects.
	DropWithoutClient bool
	// TypingEvents (GATEWAY_TYPING_EVENTS) and ReceiptEvents (GATEWAY_RECEIPT_EVENTS) turn
	// m.typing and read receipts into matrix.typing / matrix.receipt events (off by default).
	TypingEvents  bool
	ReceiptEvents bool

	// Media (files received from Matrix and files OneBot clients send).
	PublicURL string // GATEWAY_PUBLIC_URL: base of media URLs; default http://<GATEWAY_LISTEN>
	FilesDir  string // GATEWAY_FILES_DIR: uploaded and cached files; default "files" next to the database
	// MediaMaxSize is GATEWAY_MEDIA_MAX_SIZE in bytes: the largest file sent or fetched.
	MediaMaxSize int64
	MediaURLTTL  time.Duration // GATEWAY_MEDIA_URL_TTL: how long a media URL works
	// MediaAllowedNetworks (GATEWAY_MEDIA_ALLOWED_NETWORKS) are private, loopback or link-local
	// networks that media URLs may still be fetched from; all others of those are refused.
	MediaAllowedNetworks []netip.Prefix
	// MediaLocalDir is GATEWAY_MEDIA_LOCAL_DIR: the only folder file:// media may be read
	// from; "" refuses file:// altogether.
	MediaLocalDir string
	// MediaUploadTTL is GATEWAY_MEDIA_UPLOAD_TTL: an unfinished upload_file_fragmented left
	// without a call this long is dropped and its space freed.
	MediaUploadTTL time.Duration

	// V12ReverseWS are ws:// or wss:// URLs; each gets ONE OneBot v12
	// reverse WebSocket connection that carries all bots.
	V12ReverseWS []string
	// V11ReverseWS are ws:// or wss:// URLs; each gets one OneBot v11
	// Universal reverse WebSocket connection PER BOT.
	V11ReverseWS []string
	// PushAccessToken is the token the gateway presents to the endpoints it pushes to: reverse
	// WebSocket servers and v12 webhooks (Authorization: Bearer). GATEWAY_PUSH_ACCESS_TOKEN, or its
	// older name GATEWAY_REVERSE_WS_ACCESS_TOKEN; "" = none is sent. It never defaults to
	// AccessToken: a push endpoint must not learn the token that grants the gateway's API.
	PushAccessToken string
	// WebhookReplyScope is GATEWAY_WEBHOOK_REPLY_SCOPE: what the actions in a v12 webhook's reply
	// may act on. ReplyScopeEvent (default): only the event's own bot, room, user and message;
	// ReplyScopeBot: any action as the event's bot.
	WebhookReplyScope string

	// V11ReverseWSAPI and V11ReverseWSEvent are reverse WebSocket URLs that
	// get one connection per bot with X-Client-Role API or Event.
	V11ReverseWSAPI   []string // GATEWAY_V11_REVERSE_WS_API
	V11ReverseWSEvent []string // GATEWAY_V11_REVERSE_WS_EVENT
	// V11HTTPPost are http(s) URLs that each bot's v11 events are POSTed to
	// (GATEWAY_V11_HTTP_POST), with X-Self-ID and X-Signature.
	V11HTTPPost []string
	// V12Webhook are http(s) URLs that the v12 events of all bots are POSTed
	// to (GATEWAY_V12_WEBHOOK).
	V12Webhook []string
	// WebhookSecret signs every HTTP POST / webhook body with HMAC-SHA1
	// (X-Signature: sha1=<hex>) when set (GATEWAY_WEBHOOK_SECRET).
	WebhookSecret  string
	WebhookTimeout time.Duration // GATEWAY_WEBHOOK_TIMEOUT, per request
	WebhookRetries int           // GATEWAY_WEBHOOK_RETRIES, attempts after the first
	// V11PostFormat is GATEWAY_V11_POST_FORMAT: "array" (segments) or "string" (CQ codes).
	V11PostFormat string
	// V12EventBuffer is GATEWAY_V12_EVENT_BUFFER: how many events wait for
	// get_latest_events (0 = the action is off).
	V12EventBuffer int

	// SatoriPath is GATEWAY_SATORI_PATH: the Satori face is served at {SatoriPath}/v1/…
	// ("" = at /v1/…); SatoriOff is set when the variable is "off".
	SatoriPath string
	SatoriOff  bool
	// SatoriBacklog is GATEWAY_SATORI_BACKLOG: how many events are kept for Satori clients
	// that resume their event stream with the last sn they saw.
	SatoriBacklog int

	// OutboxMaxEvents is GATEWAY_OUTBOX_MAX_EVENTS: how many events at most
	// wait, per endpoint, in the persistent outbox of a reverse WebSocket or
	// webhook while it is down; 0 = no outbox.
	OutboxMaxEvents  int
	OutboxMaxAge     time.Duration // GATEWAY_OUTBOX_MAX_AGE: older waiting events are dropped
	OutboxReplayRate float64       // GATEWAY_OUTBOX_REPLAY_RATE: events per second when replaying a backlog
	// OutboxExclude are endpoint URLs that get no outbox (GATEWAY_OUTBOX_EXCLUDE).
	OutboxExclude []string

	// PickleKey encrypts the end-to-end encryption state in the database (GATEWAY_PICKLE_KEY or
	// GATEWAY_PICKLE_KEY_FILE); "" = generated once into GATEWAY_DATABASE + ".pickle-key" (required when that is a PostgreSQL URL).
	PickleKey string
	// PickleKeyShort: the pickle key is shorter than MinPickleKey and GATEWAY_PICKLE_KEY_ALLOW_SHORT
	// keeps it (it already encrypts a crypto store); the gateway warns at every start.
	PickleKeyShort bool
	// UndecryptableWait is GATEWAY_UNDECRYPTABLE_WAIT: how long an encrypted event waits for its
	// key before it is delivered marked undecryptable (matrix.msgtype m.bad.encrypted).
	UndecryptableWait time.Duration

	// Retention of the message index and of the file store (data at rest; see retention.go).
	MessageRetention      time.Duration // GATEWAY_MESSAGE_RETENTION: how long a message stays in the index
	MessageRetentionCount int           // GATEWAY_MESSAGE_RETENTION_COUNT: messages kept per bot and room
	// EncryptedBodyRetention is GATEWAY_ENCRYPTED_BODY_RETENTION: how long the decrypted body of
	// an encrypted room's message is kept; 0 = never stored.
	EncryptedBodyRetention time.Duration
	FileRetention          time.Duration // GATEWAY_FILE_RETENTION: how long file records and cached files stay
	// EncryptReactions is GATEWAY_ENCRYPT_REACTIONS: send reactions encrypted in encrypted rooms
	// (off: unencrypted, as Element sends them; matrix.react's encrypted overrides it per call).
	EncryptReactions bool
	// PlaintextInEncryptedRooms is GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS: deliver unencrypted
	// messages that arrive in an encrypted room to a bot with E2EE on (off: they are dropped, as
	// anyone who can inject an unencrypted event, such as a hostile homeserver, could forge them).
	PlaintextInEncryptedRooms bool

	Web Web // the HTTP listener's browser guard, timeouts and caps
}

// Web holds the options of the HTTP listener that guard it against browsers and against
// clients that hold connections or memory.
type Web struct {
	// AllowedOrigins (GATEWAY_ALLOWED_ORIGINS) are the browser origins, as scheme://host[:port],
	// that may call OneBot endpoints; none by default: bot frameworks send no Origin.
	AllowedOrigins []string
	// Hosts are the host names (no port) a request's Host may carry when no access token is set:
	// the GATEWAY_LISTEN host and the GATEWAY_PUBLIC_URL host. IP literals, localhost and
	// *.localhost are always accepted (no DNS answer can rebind them).
	Hosts []string
	// PublicHTTPS: GATEWAY_PUBLIC_URL is https, so browsers see the gateway's origin as https
	// (the admin page's same-origin check and Secure cookie).
	PublicHTTPS bool

	ReadTimeout  time.Duration // GATEWAY_HTTP_READ_TIMEOUT: headers and body of a non-WebSocket request
	WriteTimeout time.Duration // GATEWAY_HTTP_WRITE_TIMEOUT: handling and writing the response
	IdleTimeout  time.Duration // GATEWAY_HTTP_IDLE_TIMEOUT: a keep-alive connection between requests

	MaxConnections        int // GATEWAY_MAX_CONNECTIONS: open connections, whole process
	MaxConnectionsPerAddr int // GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: open connections of one IP address
	// MaxActionSize is GATEWAY_MAX_ACTION_SIZE: the largest request (WebSocket frame or HTTP
	// body) of an action that carries no file.
	MaxActionSize int64
	// MaxUploadSize is the largest request of an action that may carry a file in base64:
	// derived from GATEWAY_MEDIA_MAX_SIZE (4/3 of it for base64, plus MaxActionSize).
	MaxUploadSize int64
	// MaxBytesInFlight is GATEWAY_MAX_BYTES_IN_FLIGHT: request bytes held in memory at once by
	// the whole process, while they are read, decoded and acted on.
	MaxBytesInFlight int64
}

// envVars is the table of flat variables, parsed by caarlos0/env. The hint
// tag says what a valid value looks like, for problem messages.
type envVars struct {
	Bots     string `env:"MATRIX_BOTS" hint:"a JSON list of bot objects"`
	BotsFile string `env:"MATRIX_BOTS_FILE" hint:"the path of a JSON file holding the MATRIX_BOTS list"`
	EnvFile  string `env:"GATEWAY_ENV_FILE" hint:"the path of a file of NAME=value lines"`

	APITimeout        seconds `env:"MATRIX_API_TIMEOUT" envDefault:"30.0" hint:"a number of seconds greater than 0, e.g. 30.0"`
	SyncTimeoutMS     int64   `env:"MATRIX_SYNC_TIMEOUT" envDefault:"30000" hint:"whole milliseconds, e.g. 30000"`
	RetryInterval     seconds `env:"MATRIX_RETRY_INTERVAL" envDefault:"3.0" hint:"a number of seconds greater than 0, e.g. 3.0"`
	HandleSelfMessage flag    `env:"MATRIX_HANDLE_SELF_MESSAGE" envDefault:"false" hint:"true or false"`
	HandleOldEvents   flag    `env:"MATRIX_HANDLE_OLD_EVENTS" envDefault:"false" hint:"true or false"`
	Proxy             string  `env:"MATRIX_PROXY" hint:"an http://, https:// or socks5:// proxy URL"`
	TokenStorePath    string  `env:"MATRIX_TOKEN_STORE_PATH" hint:"a file path"`
	RecoveryCode      string  `env:"MATRIX_RECOVERY_CODE" hint:"the recovery key"`
	RecoveryCodeFile  string  `env:"MATRIX_RECOVERY_CODE_FILE" hint:"a file holding the recovery key"`

	// Listen has no envDefault: caarlos0/env would apply it to an empty value
	// too, and GATEWAY_LISTEN="" means "no HTTP server".
	Listen                   string        `env:"GATEWAY_LISTEN" hint:"host:port, e.g. 127.0.0.1:5700"`
	Database                 string        `env:"GATEWAY_DATABASE" envDefault:"./data/gateway.db" hint:"a SQLite file path or a postgres:// URL"`
	AccessToken              string        `env:"GATEWAY_ACCESS_TOKEN" hint:"a token"`
	AccessTokenFile          string        `env:"GATEWAY_ACCESS_TOKEN_FILE" hint:"a file holding the token"`
	LogLevel                 string        `env:"GATEWAY_LOG_LEVEL" envDefault:"info" hint:"debug, info, warn or error"`
	LogFormat                string        `env:"GATEWAY_LOG_FORMAT" envDefault:"text" hint:"text or json"`
	AccessLogLevel           string        `env:"GATEWAY_ACCESS_LOG_LEVEL" envDefault:"debug" hint:"debug, info, warn or off"`
	MetricsPublic            flag          `env:"GATEWAY_METRICS_PUBLIC" envDefault:"false" hint:"true or false"`
	Pprof                    string        `env:"GATEWAY_PPROF" hint:"a loopback host:port such as 127.0.0.1:6060"`
	HeartbeatInterval        time.Duration `env:"GATEWAY_HEARTBEAT_INTERVAL" envDefault:"5s" hint:"a duration of at least 1s, e.g. 5s"`
	ShutdownTimeout          time.Duration `env:"GATEWAY_SHUTDOWN_TIMEOUT" envDefault:"10s" hint:"a duration greater than 0, e.g. 10s"`
	StartConcurrency         int           `env:"GATEWAY_START_CONCURRENCY" envDefault:"8" hint:"a whole number from 1 to 1000, e.g. 8"`
	Cluster                  flag          `env:"GATEWAY_CLUSTER" envDefault:"false" hint:"true or false"`
	ClusterURL               string        `env:"GATEWAY_CLUSTER_URL" hint:"an http:// or https:// URL"`
	StartJitter              time.Duration `env:"GATEWAY_START_JITTER" envDefault:"200ms" hint:"a duration from 0s to 5m, e.g. 200ms"`
	Admin                    flag          `env:"GATEWAY_ADMIN" envDefault:"true" hint:"true or false"`
	AdminSessionTTL          time.Duration `env:"GATEWAY_ADMIN_SESSION_TTL" envDefault:"8h" hint:"a duration from 1m to 720h, e.g. 8h"`
	V12ReverseWS             string        `env:"GATEWAY_V12_REVERSE_WS" hint:"comma-separated ws:// or wss:// URLs"`
	V11ReverseWS             string        `env:"GATEWAY_V11_REVERSE_WS" hint:"comma-separated ws:// or wss:// URLs"`
	PushAccessToken          string        `env:"GATEWAY_PUSH_ACCESS_TOKEN" hint:"a token"`
	PushAccessTokenFile      string        `env:"GATEWAY_PUSH_ACCESS_TOKEN_FILE" hint:"a file holding the token"`
	ReverseWSAccessToken     string        `env:"GATEWAY_REVERSE_WS_ACCESS_TOKEN" hint:"a token"`
	ReverseWSAccessTokenFile string        `env:"GATEWAY_REVERSE_WS_ACCESS_TOKEN_FILE" hint:"a file holding the token"`
	WebhookReplyScope        string        `env:"GATEWAY_WEBHOOK_REPLY_SCOPE" envDefault:"event" hint:"event or bot"`
	ReconnectInterval        time.Duration `env:"GATEWAY_RECONNECT_INTERVAL" envDefault:"3s" hint:"a duration greater than 0, e.g. 3s"`
	DropWithoutClient        flag          `env:"GATEWAY_DROP_EVENTS_WITHOUT_CLIENT" envDefault:"false" hint:"true or false"`
	TypingEvents             flag          `env:"GATEWAY_TYPING_EVENTS" envDefault:"false" hint:"true or false"`
	ReceiptEvents            flag          `env:"GATEWAY_RECEIPT_EVENTS" envDefault:"false" hint:"true or false"`
	PublicURL                string        `env:"GATEWAY_PUBLIC_URL" hint:"an http(s) URL such as https://bots.example.org"`
	FilesDir                 string        `env:"GATEWAY_FILES_DIR" hint:"a directory path"`
	MediaMaxSize             int64         `env:"GATEWAY_MEDIA_MAX_SIZE" envDefault:"52428800" hint:"a number of bytes greater than 0, e.g. 52428800"`
	MediaURLTTL              time.Duration `env:"GATEWAY_MEDIA_URL_TTL" envDefault:"24h" hint:"a duration greater than 0, e.g. 24h"`
	MediaAllowedNetworks     string        `env:"GATEWAY_MEDIA_ALLOWED_NETWORKS" hint:"comma-separated CIDR networks such as 10.0.0.0/8"`
	MediaLocalDir            string        `env:"GATEWAY_MEDIA_LOCAL_DIR" hint:"a directory path"`
	MediaUploadTTL           time.Duration `env:"GATEWAY_MEDIA_UPLOAD_TTL" envDefault:"5m" hint:"a duration greater than 0, e.g. 5m"`
	V11ReverseWSAPI          string        `env:"GATEWAY_V11_REVERSE_WS_API" hint:"comma-separated ws:// or wss:// URLs"`
	V11ReverseWSEvent        string        `env:"GATEWAY_V11_REVERSE_WS_EVENT" hint:"comma-separated ws:// or wss:// URLs"`
	V11HTTPPost              string        `env:"GATEWAY_V11_HTTP_POST" hint:"comma-separated http:// or https:// URLs"`
	V12Webhook               string        `env:"GATEWAY_V12_WEBHOOK" hint:"comma-separated http:// or https:// URLs"`
	WebhookSecret            string        `env:"GATEWAY_WEBHOOK_SECRET" hint:"a secret"`
	WebhookSecretFile        string        `env:"GATEWAY_WEBHOOK_SECRET_FILE" hint:"a file holding the secret"`
	WebhookTimeout           time.Duration `env:"GATEWAY_WEBHOOK_TIMEOUT" envDefault:"5s" hint:"a duration greater than 0, e.g. 5s"`
	WebhookRetries           int           `env:"GATEWAY_WEBHOOK_RETRIES" envDefault:"2" hint:"a whole number from 0 to 100, e.g. 2"`
	V11PostFormat            string        `env:"GATEWAY_V11_POST_FORMAT" envDefault:"array" hint:"array or string"`
	V12EventBuffer           int           `env:"GATEWAY_V12_EVENT_BUFFER" envDefault:"1000" hint:"a whole number from 0 to 1000000, e.g. 1000"`
	SatoriPath               string        `env:"GATEWAY_SATORI_PATH" envDefault:"/satori" hint:"a URL path such as /satori, or off"`
	SatoriBacklog            int           `env:"GATEWAY_SATORI_BACKLOG" envDefault:"1000" hint:"a whole number from 1 to 1000000, e.g. 1000"`
	OutboxMaxEvents          int           `env:"GATEWAY_OUTBOX_MAX_EVENTS" envDefault:"10000" hint:"a whole number from 0 to 10000000, e.g. 10000"`
	OutboxMaxAge             time.Duration `env:"GATEWAY_OUTBOX_MAX_AGE" envDefault:"24h" hint:"a duration greater than 0, e.g. 24h"`
	OutboxReplayRate         float64       `env:"GATEWAY_OUTBOX_REPLAY_RATE" envDefault:"20" hint:"events per second greater than 0, e.g. 20"`
	OutboxExclude            string        `env:"GATEWAY_OUTBOX_EXCLUDE" hint:"comma-separated endpoint URLs"`
	PickleKey                string        `env:"GATEWAY_PICKLE_KEY" hint:"a long random string"`
	PickleKeyFile            string        `env:"GATEWAY_PICKLE_KEY_FILE" hint:"a file holding the pickle key"`
	PickleKeyAllowShort      flag          `env:"GATEWAY_PICKLE_KEY_ALLOW_SHORT" envDefault:"false" hint:"true or false"`
	UndecryptableWait        time.Duration `env:"GATEWAY_UNDECRYPTABLE_WAIT" envDefault:"60s" hint:"a duration greater than 0, e.g. 60s"`
	MessageRetention         longDuration  `env:"GATEWAY_MESSAGE_RETENTION" envDefault:"7d" hint:"a duration greater than 0 such as 7d or 36h"`
	MessageRetentionCount    int           `env:"GATEWAY_MESSAGE_RETENTION_COUNT" envDefault:"10000" hint:"a whole number from 1 to 100000000, e.g. 10000"`
	EncryptedBodyRetention   longDuration  `env:"GATEWAY_ENCRYPTED_BODY_RETENTION" envDefault:"24h" hint:"a duration such as 24h, or 0 to store no decrypted body"`
	FileRetention            longDuration  `env:"GATEWAY_FILE_RETENTION" envDefault:"24h" hint:"a duration greater than 0 such as 24h or 7d"`
	EncryptReactions         flag          `env:"GATEWAY_ENCRYPT_REACTIONS" envDefault:"false" hint:"true or false"`
	PlaintextInEncrypted     flag          `env:"GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS" envDefault:"false" hint:"true or false"`
	AllowedOrigins           string        `env:"GATEWAY_ALLOWED_ORIGINS" hint:"comma-separated origins such as https://dashboard.example.org"`
	HTTPReadTimeout          time.Duration `env:"GATEWAY_HTTP_READ_TIMEOUT" envDefault:"60s" hint:"a duration greater than 0, e.g. 60s"`
	HTTPWriteTimeout         time.Duration `env:"GATEWAY_HTTP_WRITE_TIMEOUT" envDefault:"5m" hint:"a duration greater than 0, e.g. 5m"`
	HTTPIdleTimeout          time.Duration `env:"GATEWAY_HTTP_IDLE_TIMEOUT" envDefault:"60s" hint:"a duration greater than 0, e.g. 60s"`
	MaxConnections           int           `env:"GATEWAY_MAX_CONNECTIONS" envDefault:"512" hint:"a whole number from 1 to 1000000, e.g. 512"`
	MaxConnectionsPerAddr    int           `env:"GATEWAY_MAX_CONNECTIONS_PER_ADDRESS" envDefault:"64" hint:"a whole number from 1 to GATEWAY_MAX_CONNECTIONS, e.g. 64"`
	MaxActionSize            int64         `env:"GATEWAY_MAX_ACTION_SIZE" envDefault:"1048576" hint:"a number of bytes from 4096 up, e.g. 1048576"`
	MaxBytesInFlight         int64         `env:"GATEWAY_MAX_BYTES_IN_FLIGHT" envDefault:"268435456" hint:"a number of bytes, e.g. 268435456"`
}

// envField describes one envVars field, for turning env's errors (which name
// Go fields) into problems that name variables.
type envField struct {
	name, hint string
}

func envFields() map[string]envField {
	t := reflect.TypeFor[envVars]()
	fields := make(map[string]envField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		fields[f.Name] = envField{name: f.Tag.Get("env"), hint: f.Tag.Get("hint")}
	}
	return fields
}

// Variables returns the names of all environment variables Load reads, in
// the order of the table.
func Variables() []string {
	t := reflect.TypeFor[envVars]()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		names = append(names, t.Field(i).Tag.Get("env"))
	}
	return names
}

// environMap turns os.Environ()-style KEY=VALUE entries into a map. Entries
// without "=" are ignored; a later duplicate wins, as with exec.Cmd.Env.
func environMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return m
}

// Load builds the configuration from environ, a list of KEY=VALUE entries
// like os.Environ(). It reads files named by the *_FILE variables but never
// the process environment. On failure it returns a *Error listing every
// problem.
func Load(environ []string) (*Config, error) {
	l := loader{env: environMap(environ), bad: make(map[string]bool)}
	l.envFile()
	cfg := l.load()
	if len(l.problems) > 0 {
		return nil, &Error{Problems: l.problems}
	}
	return cfg, nil
}

type loader struct {
	env      map[string]string
	problems problems
	// bad holds the variables that failed to parse, so later checks do not
	// report a second problem for the zero value left behind.
	bad map[string]bool
}

func (l *loader) load() *Config {
	var v envVars
	if err := env.ParseWithOptions(&v, env.Options{Environment: l.env}); err != nil {
		l.envErrors(err)
	}

	cfg := &Config{
		APITimeout:        time.Duration(v.APITimeout),
		SyncTimeout:       time.Duration(v.SyncTimeoutMS) * time.Millisecond,
		RetryInterval:     time.Duration(v.RetryInterval),
		HandleSelfMessage: bool(v.HandleSelfMessage),
		HandleOldEvents:   bool(v.HandleOldEvents),
		TokenStorePath:    v.TokenStorePath,
		RecoveryCode:      l.secret("MATRIX_RECOVERY_CODE", v.RecoveryCode, v.RecoveryCodeFile),
	}
	l.notURL("MATRIX_TOKEN_STORE_PATH", cfg.TokenStorePath, "./data/tokens.json")
	l.matrix(cfg, &v)
	l.gateway(&cfg.Gateway, &v)

	bl := botsLoader{problems: &l.problems}
	if data, key, ok := bl.botsSource(&v); ok {
		cfg.Bots = bl.bots(data, key, cfg)
	}
	l.crossChecks(cfg)
	l.cluster(cfg, &v)
	return cfg
}

// envErrors turns caarlos0/env's errors into problems.
func (l *loader) envErrors(err error) {
	fields := envFields()
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		l.problems.wrap("environment", err, "failed to parse: %v", err)
		return
	}
	for _, e := range agg.Errors {
		var perr env.ParseError
		if errors.As(e, &perr) {
			f, ok := fields[perr.Name]
			if !ok {
				f = envField{name: perr.Name}
			}
			cause := perr.Err
			var nerr *strconv.NumError
			if errors.As(cause, &nerr) {
				cause = nerr.Err
			}
			l.bad[f.name] = true
			l.problems.wrap(f.name, e, "invalid value %q (%v); set %s", l.env[f.name], cause, f.hint)
			continue
		}
		l.problems.wrap("environment", e, "failed to parse: %v", e)
	}
}

// secret returns a secret given directly in NAME or in the file NAME_FILE.
// The file content is trimmed of surrounding whitespace.
func (l *loader) secret(name, value, file string) string {
	fileVar := name + "_FILE"
	switch {
	case file == "":
		return value
	case value != "":
		l.problems.add(fileVar, "both %s and %s are set; set only one of them", name, fileVar)
		return value
	}
	b, err := os.ReadFile(file)
	if err != nil {
		l.bad[fileVar] = true
		l.problems.wrap(fileVar, err, "failed to read %q: %v; set it to a readable file, or set %s instead",
			file, errors.Unwrap(err), name)
		return ""
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		l.bad[fileVar] = true
		l.problems.add(fileVar, "file %q is empty; put the value in it, or unset %s", file, fileVar)
	}
	return s
}

// token reads a token variable (or its _FILE): a token that is set must be usable, so one that
// is empty or only whitespace, or that has whitespace around it (which no client sends), is a
// problem naming the variable, never a silent "no token".
func (l *loader) token(name, value, file string) string {
	tok := l.secret(name, value, file)
	if raw, set := l.env[name]; set && file == "" {
		switch {
		case strings.TrimSpace(raw) == "":
			l.bad[name] = true
			l.problems.add(name, "is set but empty; set a token (e.g. the output of `openssl rand -hex 32`), or unset it")
			return ""
		case strings.TrimSpace(raw) != raw:
			l.bad[name] = true
			l.problems.add(name, "has spaces or line breaks around it, which clients do not send; remove them")
			return ""
		}
	}
	return tok
}

// pushToken reads GATEWAY_PUSH_ACCESS_TOKEN or its older name GATEWAY_REVERSE_WS_ACCESS_TOKEN.
func (l *loader) pushToken(g *Gateway, v *envVars) {
	push := l.token("GATEWAY_PUSH_ACCESS_TOKEN", v.PushAccessToken, v.PushAccessTokenFile)
	old := l.token("GATEWAY_REVERSE_WS_ACCESS_TOKEN", v.ReverseWSAccessToken, v.ReverseWSAccessTokenFile)
	if push != "" && old != "" && push != old {
		l.problems.add("GATEWAY_REVERSE_WS_ACCESS_TOKEN", "differs from GATEWAY_PUSH_ACCESS_TOKEN, its new name; unset GATEWAY_REVERSE_WS_ACCESS_TOKEN")
	}
	g.PushAccessToken = push
	if push == "" {
		g.PushAccessToken = old
	}
	g.WebhookReplyScope = strings.ToLower(strings.TrimSpace(v.WebhookReplyScope))
	if g.WebhookReplyScope != ReplyScopeEvent && g.WebhookReplyScope != ReplyScopeBot {
		l.problems.add("GATEWAY_WEBHOOK_REPLY_SCOPE", "invalid value %q; set event (a webhook reply acts only on the event's room, user and message) or bot (any action as the event's bot)", v.WebhookReplyScope)
	}
}

// ReplyScopeEvent and ReplyScopeBot are the values of GATEWAY_WEBHOOK_REPLY_SCOPE.
const (
	ReplyScopeEvent = "event"
	ReplyScopeBot   = "bot"
)

// matrix checks the MATRIX_* variables other than MATRIX_BOTS.
func (l *loader) matrix(cfg *Config, v *envVars) {
	if !l.bad["MATRIX_API_TIMEOUT"] && cfg.APITimeout <= 0 {
		l.problems.add("MATRIX_API_TIMEOUT", "must be greater than 0; set a number of seconds, e.g. 30.0")
	}
	switch {
	case l.bad["MATRIX_SYNC_TIMEOUT"]:
	case v.SyncTimeoutMS < 0:
		l.problems.add("MATRIX_SYNC_TIMEOUT", "must not be negative; set whole milliseconds, e.g. 30000")
	case v.SyncTimeoutMS > int64(24*time.Hour/time.Millisecond):
		l.problems.add("MATRIX_SYNC_TIMEOUT", "%d ms is more than a day; set whole milliseconds, e.g. 30000", v.SyncTimeoutMS)
	}
	if !l.bad["MATRIX_RETRY_INTERVAL"] && cfg.RetryInterval <= 0 {
		l.problems.add("MATRIX_RETRY_INTERVAL", "must be greater than 0; set a number of seconds, e.g. 3.0")
	}
	if v.Proxy != "" {
		u, err := checkURL(v.Proxy, "http", "https", "socks5", "socks5h")
		if err != nil {
			l.problems.wrap("MATRIX_PROXY", err, "%v; set a proxy URL such as http://127.0.0.1:7890 or socks5://127.0.0.1:1080, or unset it", err)
		}
		cfg.Proxy = u
	}
}

// gateway checks the GATEWAY_* variables.
func (l *loader) gateway(g *Gateway, v *envVars) {
	g.Listen = v.Listen
	if _, set := l.env["GATEWAY_LISTEN"]; !set {
		g.Listen = DefaultListen
	}
	l.database(g, v)
	g.AccessToken = l.token("GATEWAY_ACCESS_TOKEN", v.AccessToken, v.AccessTokenFile)
	l.pushToken(g, v)
	g.HeartbeatInterval = v.HeartbeatInterval
	g.ShutdownTimeout = v.ShutdownTimeout
	g.StartConcurrency, g.StartJitter = v.StartConcurrency, v.StartJitter
	l.within("GATEWAY_START_CONCURRENCY", g.StartConcurrency, 1, 1000, "8")
	if !l.bad["GATEWAY_START_JITTER"] && (g.StartJitter < 0 || g.StartJitter > 5*time.Minute) {
		l.problems.add("GATEWAY_START_JITTER", "%v is outside 0s to 5m; set a duration such as 200ms (0s: no jitter)", g.StartJitter)
	}
	g.Admin, g.AdminSessionTTL = bool(v.Admin), v.AdminSessionTTL
	g.ReconnectInterval = v.ReconnectInterval
	g.DropWithoutClient = bool(v.DropWithoutClient)
	g.TypingEvents, g.ReceiptEvents = bool(v.TypingEvents), bool(v.ReceiptEvents)
	l.media(g, v)
	l.pprof(g, v)

	if g.Listen != "" {
		loopback, err := parseListen(g.Listen)
		switch {
		case err != nil:
			l.problems.wrap("GATEWAY_LISTEN", err, "%q is %v; set host:port such as 127.0.0.1:5700, or set it empty to disable the HTTP server", g.Listen, err)
		case !loopback && g.AccessToken == "" && !l.bad["GATEWAY_ACCESS_TOKEN_FILE"] && !l.bad["GATEWAY_ACCESS_TOKEN"]:
			l.problems.add("GATEWAY_ACCESS_TOKEN", "required when GATEWAY_LISTEN (%q) is not a loopback address; set a token, or listen on 127.0.0.1", g.Listen)
		}
	}

	g.LogLevel = strings.ToLower(strings.TrimSpace(v.LogLevel))
	switch g.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		l.problems.add("GATEWAY_LOG_LEVEL", "invalid value %q; set debug, info, warn or error", v.LogLevel)
	}
	g.AccessLogLevel = strings.ToLower(strings.TrimSpace(v.AccessLogLevel))
	switch g.AccessLogLevel {
	case "debug", "info", "warn", "off":
	default:
		l.problems.add("GATEWAY_ACCESS_LOG_LEVEL", "invalid value %q; set debug, info, warn or off", v.AccessLogLevel)
	}
	g.MetricsPublic = bool(v.MetricsPublic)
	g.LogFormat = strings.ToLower(strings.TrimSpace(v.LogFormat))
	switch g.LogFormat {
	case "text", "json":
	default:
		l.problems.add("GATEWAY_LOG_FORMAT", "invalid value %q; set text or json", v.LogFormat)
	}

	if !l.bad["GATEWAY_HEARTBEAT_INTERVAL"] && g.HeartbeatInterval < time.Second {
		l.problems.add("GATEWAY_HEARTBEAT_INTERVAL", "%v is shorter than 1s; set a duration of at least 1s, e.g. 5s", g.HeartbeatInterval)
	}
	l.positive("GATEWAY_SHUTDOWN_TIMEOUT", g.ShutdownTimeout, "10s")
	l.positive("GATEWAY_RECONNECT_INTERVAL", g.ReconnectInterval, "3s")
	if !l.bad["GATEWAY_ADMIN_SESSION_TTL"] && (g.AdminSessionTTL < time.Minute || g.AdminSessionTTL > 720*time.Hour) {
		l.problems.add("GATEWAY_ADMIN_SESSION_TTL", "%v is outside 1m to 720h; set a duration such as 8h", g.AdminSessionTTL)
	}

	g.V12ReverseWS = l.problems.wsList("GATEWAY_V12_REVERSE_WS", splitList(v.V12ReverseWS))
	g.V11ReverseWS = l.problems.wsList("GATEWAY_V11_REVERSE_WS", splitList(v.V11ReverseWS))
	l.transports(g, v)
	l.web(g, v)
}

// web checks the variables of the HTTP listener's guard, timeouts and caps.
func (l *loader) web(g *Gateway, v *envVars) {
	w := &g.Web
	for i, raw := range splitList(v.AllowedOrigins) {
		o, err := parseOrigin(raw)
		if err != nil {
			l.problems.wrap("GATEWAY_ALLOWED_ORIGINS", err, "entry %d (%q) %v; set origins as the browser sends them, scheme://host[:port] such as https://dashboard.example.org", i+1, raw, err)
			continue
		}
		w.AllowedOrigins = append(w.AllowedOrigins, o)
	}
	if host, _, err := net.SplitHostPort(g.Listen); err == nil && host != "" {
		w.Hosts = append(w.Hosts, strings.ToLower(host))
	}
	if u, err := url.Parse(g.PublicURL); err == nil && u.Hostname() != "" && !slices.Contains(w.Hosts, strings.ToLower(u.Hostname())) {
		w.Hosts = append(w.Hosts, strings.ToLower(u.Hostname()))
	}
	w.PublicHTTPS = strings.HasPrefix(strings.ToLower(g.PublicURL), "https://")
	w.ReadTimeout, w.WriteTimeout, w.IdleTimeout = v.HTTPReadTimeout, v.HTTPWriteTimeout, v.HTTPIdleTimeout
	l.positive("GATEWAY_HTTP_READ_TIMEOUT", w.ReadTimeout, "60s")
	l.positive("GATEWAY_HTTP_WRITE_TIMEOUT", w.WriteTimeout, "5m")
	l.positive("GATEWAY_HTTP_IDLE_TIMEOUT", w.IdleTimeout, "60s")
	w.MaxConnections, w.MaxConnectionsPerAddr = v.MaxConnections, v.MaxConnectionsPerAddr
	l.within("GATEWAY_MAX_CONNECTIONS", w.MaxConnections, 1, 1_000_000, "512")
	if !l.bad["GATEWAY_MAX_CONNECTIONS"] {
		l.within("GATEWAY_MAX_CONNECTIONS_PER_ADDRESS", w.MaxConnectionsPerAddr, 1, max(w.MaxConnections, 1), "64")
	}
	w.MaxActionSize = v.MaxActionSize
	if !l.bad["GATEWAY_MAX_ACTION_SIZE"] && (w.MaxActionSize < 4096 || w.MaxActionSize > 1<<30) {
		l.problems.add("GATEWAY_MAX_ACTION_SIZE", "%d is out of range; set a number of bytes from 4096 to 1073741824, e.g. 1048576", w.MaxActionSize)
	}
	if g.MediaMaxSize > 0 && g.MediaMaxSize < 1<<40 {
		w.MaxUploadSize = g.MediaMaxSize/3*4 + 4 + w.MaxActionSize // base64 of the largest file, plus the rest of the request
	}
	w.MaxBytesInFlight = v.MaxBytesInFlight
	if !l.bad["GATEWAY_MAX_BYTES_IN_FLIGHT"] && !l.bad["GATEWAY_MEDIA_MAX_SIZE"] && !l.bad["GATEWAY_MAX_ACTION_SIZE"] &&
		w.MaxBytesInFlight < w.MaxUploadSize {
		l.problems.add("GATEWAY_MAX_BYTES_IN_FLIGHT", "%d bytes cannot hold one upload of GATEWAY_MEDIA_MAX_SIZE (%d bytes as base64 in a request: %d bytes); set at least %d, or lower GATEWAY_MEDIA_MAX_SIZE",
			w.MaxBytesInFlight, g.MediaMaxSize, w.MaxUploadSize, w.MaxUploadSize)
	}
}

// transports checks the variables of the pushing transports (reverse WebSocket roles,
// HTTP POST, webhook) and of the outbox.
func (l *loader) transports(g *Gateway, v *envVars) {
	g.V11ReverseWSAPI = l.problems.wsList("GATEWAY_V11_REVERSE_WS_API", splitList(v.V11ReverseWSAPI))
	g.V11ReverseWSEvent = l.problems.wsList("GATEWAY_V11_REVERSE_WS_EVENT", splitList(v.V11ReverseWSEvent))
	g.V11HTTPPost = l.problems.httpList("GATEWAY_V11_HTTP_POST", splitList(v.V11HTTPPost))
	g.V12Webhook = l.problems.httpList("GATEWAY_V12_WEBHOOK", splitList(v.V12Webhook))
	g.WebhookSecret = l.secret("GATEWAY_WEBHOOK_SECRET", v.WebhookSecret, v.WebhookSecretFile)
	g.WebhookTimeout = v.WebhookTimeout
	l.positive("GATEWAY_WEBHOOK_TIMEOUT", g.WebhookTimeout, "5s")
	g.WebhookRetries = v.WebhookRetries
	l.within("GATEWAY_WEBHOOK_RETRIES", g.WebhookRetries, 0, 100, "2")
	g.V11PostFormat = strings.ToLower(strings.TrimSpace(v.V11PostFormat))
	if g.V11PostFormat != "array" && g.V11PostFormat != "string" {
		l.problems.add("GATEWAY_V11_POST_FORMAT", "invalid value %q; set array (message as segments) or string (CQ codes)", v.V11PostFormat)
	}
	g.V12EventBuffer = v.V12EventBuffer
	l.within("GATEWAY_V12_EVENT_BUFFER", g.V12EventBuffer, 0, 1_000_000, "1000")
	g.SatoriPath, g.SatoriOff = strings.TrimRight(strings.TrimSpace(v.SatoriPath), "/"), strings.EqualFold(strings.TrimSpace(v.SatoriPath), "off")
	if p := strings.TrimSpace(v.SatoriPath); !g.SatoriOff && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#%{}*\\ \t") || strings.Contains(p, "//")) {
		l.problems.add("GATEWAY_SATORI_PATH", "invalid value %q; set a URL path such as /satori (the API is then /satori/v1/…), / for /v1/…, or off", v.SatoriPath)
	} else if r := gatewayRouteOf(g.SatoriPath); !g.SatoriOff && r != "" {
		l.problems.add("GATEWAY_SATORI_PATH", "%q is under %s, which the gateway serves itself (media links there may be called from any page); set another path such as /satori", v.SatoriPath, r)
	}
	if g.SatoriOff {
		g.SatoriPath = ""
	}
	g.SatoriBacklog = v.SatoriBacklog
	l.within("GATEWAY_SATORI_BACKLOG", g.SatoriBacklog, 1, 1_000_000, "1000")
	g.OutboxMaxEvents = v.OutboxMaxEvents
	l.within("GATEWAY_OUTBOX_MAX_EVENTS", g.OutboxMaxEvents, 0, 10_000_000, "10000")
	g.OutboxMaxAge = v.OutboxMaxAge
	l.positive("GATEWAY_OUTBOX_MAX_AGE", g.OutboxMaxAge, "24h")
	g.OutboxReplayRate = v.OutboxReplayRate
	if !l.bad["GATEWAY_OUTBOX_REPLAY_RATE"] && !(g.OutboxReplayRate > 0 && g.OutboxReplayRate <= 1e6) {
		l.problems.add("GATEWAY_OUTBOX_REPLAY_RATE", "%v is out of range; set events per second greater than 0, e.g. 20", v.OutboxReplayRate)
	}
	g.OutboxExclude = splitList(v.OutboxExclude)
	g.PickleKey = l.secret("GATEWAY_PICKLE_KEY", v.PickleKey, v.PickleKeyFile)
	l.pickleKeyStrength(g, v)
	l.postgresNeeds(g)
	g.UndecryptableWait = v.UndecryptableWait
	g.EncryptReactions = bool(v.EncryptReactions)
	g.PlaintextInEncryptedRooms = bool(v.PlaintextInEncrypted)
	l.positive("GATEWAY_UNDECRYPTABLE_WAIT", g.UndecryptableWait, "60s")
	l.retention(g, v)
}

// within checks that a whole number lies in [lo, hi].
func (l *loader) within(key string, n, lo, hi int, example string) {
	if !l.bad[key] && (n < lo || n > hi) {
		l.problems.add(key, "%d is out of range; set a whole number from %d to %d, e.g. %s", n, lo, hi, example)
	}
}

// httpList checks a list of http:// or https:// URLs that events are POSTed to.
func (ps *problems) httpList(key string, urls []string) []string {
	return ps.urlList(key, urls, "http:// or https:// URLs such as http://127.0.0.1:8080/onebot/v11/http", "http", "https")
}

// media checks the GATEWAY_MEDIA_* and file variables.
func (l *loader) media(g *Gateway, v *envVars) {
	g.PublicURL = strings.TrimRight(v.PublicURL, "/")
	if g.PublicURL == "" && g.Listen != "" {
		g.PublicURL = "http://" + g.Listen
	} else if g.PublicURL != "" {
		if _, err := checkURL(g.PublicURL, "http", "https"); err != nil {
			l.problems.wrap("GATEWAY_PUBLIC_URL", err, "%v; set the URL OneBot clients reach the gateway at, e.g. https://bots.example.org", err)
		}
	}
	g.FilesDir = v.FilesDir
	l.notURL("GATEWAY_FILES_DIR", g.FilesDir, "./data/files")
	if g.FilesDir == "" {
		g.FilesDir = defaultFilesDir(v.Database)
	}
	g.MediaMaxSize = v.MediaMaxSize
	if !l.bad["GATEWAY_MEDIA_MAX_SIZE"] && g.MediaMaxSize <= 0 {
		l.problems.add("GATEWAY_MEDIA_MAX_SIZE", "must be greater than 0; set a number of bytes, e.g. 52428800 (50 MiB)")
	}
	g.MediaURLTTL = v.MediaURLTTL
	l.positive("GATEWAY_MEDIA_URL_TTL", g.MediaURLTTL, "24h")
	g.MediaUploadTTL = v.MediaUploadTTL
	l.positive("GATEWAY_MEDIA_UPLOAD_TTL", g.MediaUploadTTL, "5m")
	for i, n := range splitList(v.MediaAllowedNetworks) {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			if a, aerr := netip.ParseAddr(n); aerr == nil {
				p, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			l.problems.wrap("GATEWAY_MEDIA_ALLOWED_NETWORKS", err, "entry %d (%q) is not a network; set CIDR networks such as 10.0.0.0/8 or 127.0.0.1/32", i+1, n)
			continue
		}
		g.MediaAllowedNetworks = append(g.MediaAllowedNetworks, p.Masked())
	}
	g.MediaLocalDir = v.MediaLocalDir
	if g.MediaLocalDir != "" {
		if st, err := os.Stat(g.MediaLocalDir); err != nil || !st.IsDir() {
			l.problems.add("GATEWAY_MEDIA_LOCAL_DIR", "%q is not a directory; set an existing folder, or unset it to refuse file:// media", g.MediaLocalDir)
		}
	}
}

func (l *loader) positive(key string, d time.Duration, example string) {
	if !l.bad[key] && d <= 0 {
		l.problems.add(key, "must be greater than 0; set a duration such as %s", example)
	}
}

// wsList checks a list of reverse WebSocket URLs; key names the variable (or
// the JSON path) for problems.
func (ps *problems) wsList(key string, urls []string) []string {
	return ps.urlList(key, urls, "ws:// or wss:// URLs such as ws://127.0.0.1:8080/onebot/v11/ws", "ws", "wss")
}

// urlList checks and normalises a list of URLs with one of schemes, each listed once; want says
// what to set in a problem.
func (ps *problems) urlList(key string, urls []string, want string, schemes ...string) []string {
	seen := make(map[string]bool, len(urls))
	for i, raw := range urls {
		u, err := checkURL(raw, schemes...)
		if err != nil {
			ps.wrap(key, err, "entry %d (%s) %v; set %s", i+1, redact.URL(raw), err, want)
			continue
		}
		urls[i] = u.String()
		if seen[urls[i]] {
			ps.add(key, "entry %d (%s) is listed twice; remove the duplicate", i+1, redact.URL(raw))
		}
		seen[urls[i]] = true
	}
	return urls
}

// crossChecks finds problems that involve several variables.
func (l *loader) crossChecks(cfg *Config) {
	g := &cfg.Gateway
	if g.Listen != "" || len(g.V11ReverseWS) > 0 || len(g.V12ReverseWS) > 0 || len(cfg.Bots) == 0 ||
		len(g.V11ReverseWSAPI) > 0 || len(g.V11ReverseWSEvent) > 0 || len(g.V11HTTPPost) > 0 || len(g.V12Webhook) > 0 {
		return
	}
	for _, b := range cfg.Bots {
		if len(b.OneBotV11ReverseWS) > 0 || len(b.OneBotV12ReverseWS) > 0 {
			return
		}
	}
	l.problems.add("GATEWAY_LISTEN", "is empty, which disables the HTTP server, and no reverse WebSocket is configured, "+
		"so OneBot clients could not reach the bots; set GATEWAY_LISTEN (e.g. 127.0.0.1:5700) or GATEWAY_V11_REVERSE_WS / GATEWAY_V12_REVERSE_WS")
}

// String describes the configuration without any secret.
func (c Config) String() string {
	proxy := "none"
	if c.Proxy != nil {
		proxy = redact.URL(c.Proxy.String())
	}
	names := make([]string, len(c.Bots))
	for i, b := range c.Bots {
		names[i] = b.Name()
	}
	return fmt.Sprintf("config{bots=[%s] api_timeout=%v sync_timeout=%v retry_interval=%v handle_self_message=%t "+
		"handle_old_events=%t proxy=%s token_store=%q recovery_code=%s gateway=%v}",
		strings.Join(names, ", "), c.APITimeout, c.SyncTimeout, c.RetryInterval, c.HandleSelfMessage,
		c.HandleOldEvents, proxy, c.TokenStorePath, isSet(c.RecoveryCode), c.Gateway)
}

// Format makes every fmt verb, including %#v and %+v, print String, so a
// secret cannot leak through reflection.
func (c Config) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue implements slog.LogValuer without any secret.
func (c Config) LogValue() slog.Value {
	bots := make([]any, len(c.Bots))
	for i, b := range c.Bots {
		bots[i] = b.Name()
	}
	attrs := []slog.Attr{
		slog.Any("bots", bots),
		slog.Duration("api_timeout", c.APITimeout),
		slog.Duration("sync_timeout", c.SyncTimeout),
		slog.Duration("retry_interval", c.RetryInterval),
		slog.Bool("handle_self_message", c.HandleSelfMessage),
		slog.Bool("handle_old_events", c.HandleOldEvents),
		slog.String("token_store", c.TokenStorePath),
		slog.Bool("recovery_code_set", c.RecoveryCode != ""),
		slog.Any("gateway", c.Gateway),
	}
	if c.Proxy != nil {
		attrs = append(attrs, slog.String("proxy", redact.URL(c.Proxy.String())))
	}
	return slog.GroupValue(attrs...)
}

// AccessLog returns the level of the HTTP access log, and false when it is off.
func (g Gateway) AccessLog() (slog.Level, bool) {
	switch g.AccessLogLevel {
	case "off":
		return 0, false
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	}
	return slog.LevelDebug, true
}

// Level returns LogLevel as a slog.Level (info if unrecognised).
func (g Gateway) Level() slog.Level {
	switch g.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// String describes the gateway options without any token.
func (g Gateway) String() string {
	return fmt.Sprintf("gateway{listen=%q database=%q access_token=%s log=%s/%s heartbeat=%v shutdown_timeout=%v "+
		"reconnect_interval=%v v12_reverse_ws=%v v11_reverse_ws=%v push_access_token=%s webhook_reply_scope=%s "+
		"v11_reverse_ws_api=%v v11_reverse_ws_event=%v v11_http_post=%v v12_webhook=%v webhook_secret=%s "+
		"webhook_timeout=%v webhook_retries=%d v11_post_format=%s v12_event_buffer=%d satori_path=%s satori_backlog=%d "+
		"outbox_max_events=%d outbox_max_age=%v outbox_replay_rate=%v outbox_exclude=%v "+
		"message_retention=%v message_retention_count=%d encrypted_body_retention=%v file_retention=%v "+
		"allowed_origins=%v http_timeouts=%v/%v/%v max_connections=%d/%d max_action_size=%d max_bytes_in_flight=%d}",
		g.Listen, safeDatabase(g.Database), isSet(g.AccessToken), g.LogLevel, g.LogFormat, g.HeartbeatInterval, g.ShutdownTimeout,
		g.ReconnectInterval, safeURLs(g.V12ReverseWS), safeURLs(g.V11ReverseWS), isSet(g.PushAccessToken), g.WebhookReplyScope,
		safeURLs(g.V11ReverseWSAPI), safeURLs(g.V11ReverseWSEvent), safeURLs(g.V11HTTPPost), safeURLs(g.V12Webhook),
		isSet(g.WebhookSecret), g.WebhookTimeout, g.WebhookRetries, g.V11PostFormat, g.V12EventBuffer,
		satoriPathLabel(g), g.SatoriBacklog, g.OutboxMaxEvents, g.OutboxMaxAge, g.OutboxReplayRate, safeURLs(g.OutboxExclude),
		g.MessageRetention, g.MessageRetentionCount, g.EncryptedBodyRetention, g.FileRetention, g.Web.AllowedOrigins,
		g.Web.ReadTimeout, g.Web.WriteTimeout, g.Web.IdleTimeout, g.Web.MaxConnections, g.Web.MaxConnectionsPerAddr,
		g.Web.MaxActionSize, g.Web.MaxBytesInFlight)
}

// satoriPathLabel is where the Satori face is served, for logs: off, or its path.
func satoriPathLabel(g Gateway) string {
	if g.SatoriOff {
		return "off"
	}
	return g.SatoriPath + "/v1"
}

// Format makes every fmt verb print String.
func (g Gateway) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(g.String())) }

// LogValue implements slog.LogValuer without any token.
func (g Gateway) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("listen", g.Listen),
		slog.String("database", safeDatabase(g.Database)),
		slog.Bool("access_token_set", g.AccessToken != ""),
		slog.String("log_level", g.LogLevel),
		slog.String("log_format", g.LogFormat),
		slog.Duration("heartbeat_interval", g.HeartbeatInterval),
		slog.Duration("shutdown_timeout", g.ShutdownTimeout),
		slog.Duration("reconnect_interval", g.ReconnectInterval),
		slog.Any("v12_reverse_ws", safeURLs(g.V12ReverseWS)),
		slog.Any("v11_reverse_ws", safeURLs(g.V11ReverseWS)),
		slog.Bool("push_access_token_set", g.PushAccessToken != ""),
		slog.String("webhook_reply_scope", g.WebhookReplyScope),
		slog.Any("v11_reverse_ws_api", safeURLs(g.V11ReverseWSAPI)),
		slog.Any("v11_reverse_ws_event", safeURLs(g.V11ReverseWSEvent)),
		slog.Any("v11_http_post", safeURLs(g.V11HTTPPost)),
		slog.Any("v12_webhook", safeURLs(g.V12Webhook)),
		slog.Bool("webhook_secret_set", g.WebhookSecret != ""),
		slog.Duration("webhook_timeout", g.WebhookTimeout),
		slog.Int("webhook_retries", g.WebhookRetries),
		slog.String("v11_post_format", g.V11PostFormat),
		slog.Int("v12_event_buffer", g.V12EventBuffer),
		slog.String("satori_path", satoriPathLabel(g)),
		slog.Int("satori_backlog", g.SatoriBacklog),
		slog.Int("outbox_max_events", g.OutboxMaxEvents),
		slog.Duration("outbox_max_age", g.OutboxMaxAge),
		slog.Float64("outbox_replay_rate", g.OutboxReplayRate),
		slog.Duration("message_retention", g.MessageRetention),
		slog.Int("message_retention_count", g.MessageRetentionCount),
		slog.Duration("encrypted_body_retention", g.EncryptedBodyRetention),
		slog.Duration("file_retention", g.FileRetention),
		slog.Any("allowed_origins", g.Web.AllowedOrigins),
		slog.Int("max_connections", g.Web.MaxConnections),
		slog.Int("max_connections_per_address", g.Web.MaxConnectionsPerAddr),
		slog.Int64("max_action_size", g.Web.MaxActionSize),
		slog.Int64("max_bytes_in_flight", g.Web.MaxBytesInFlight),
	)
}

func isSet(secret string) string {
	if secret == "" {
		return "unset"
	}
	return "set"
}

func safeURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = redact.URL(u)
	}
	return out
}

// gatewayRoutes are the paths the gateway serves itself; the Satori face may not be mounted
// under them (the cross-site guard treats /media/ as embeddable by any page).
var gatewayRoutes = []string{"/media", "/admin", "/onebot", "/healthz", "/readyz", "/metrics", "/openapi.yaml"}

// gatewayRouteOf returns the route of the gateway that path equals or lies under, or "".
func gatewayRouteOf(path string) string {
	for _, r := range gatewayRoutes {
		if path == r || strings.HasPrefix(path, r+"/") {
			return r
		}
	}
	return ""
}
