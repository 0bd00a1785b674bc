// Package face is the seam between the protocol-blind hub (internal/gateway) and the protocols
// the gateway speaks to its clients: OneBot v11 (internal/onebot/v11), OneBot v12
// (internal/onebot/v12) and Satori (internal/satori). A face imports this package and
// internal/model, never the hub or storage; the hub imports the faces only to register them.
//
// The flow: Matrix → session → model.Event → Hub.Publish → [Resolver.Resolve, with the hub's
// context and deadline] → Face.Encode (pure, once per face) → the same bytes to every
// connection of that face, through the hub's transports or the face's own routes (Mounter).
package face

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// Face is one protocol the gateway speaks to its clients.
//
// Registering a face: OneBot v11 and v12 are built in; any other face is one line in the
// program that makes the hub — append it to gateway.Options.Faces (e.g.
// `opts.Faces = append(opts.Faces, satori.New(…))`). The hub then encodes every event once
// for it (Encode), hands the bytes to its subscriptions (Host.Subscribe) and mounts its routes
// (Mounter) behind the access log, the cross-site guard and the access token. Nothing else in
// the hub or its transports needs to change.
type Face interface {
	// Name is the face's short name in logs and metrics: "v11", "v12", "satori".
	Name() string
	// Encode renders one event for every connection of this face; the hub calls it at most
	// once per event and face and shares the bytes. It does no I/O: what it needs beyond the
	// event (v11's numbers) was looked up by Resolve before. nil, nil = the face has no form
	// for this event.
	Encode(ev *model.Event, ids IDs) ([]byte, error)
	// MarkReplayed marks an encoded event as handed over again (after a restart interrupted
	// its batch, or from an outbox backlog), so that a client can tell a backlog from live
	// events; a frame marked already comes back unchanged.
	MarkReplayed(frame []byte) []byte
}

// IDs are the numbers a face's clients know Matrix IDs by (OneBot v11: group_id, user_id,
// message_id), keyed by the Matrix ID (its sigil tells the kind: @user, !room, $event).
type IDs map[string]int64

// Resolver is a face whose events need lookups before they can be encoded (OneBot v11 numbers
// the Matrix IDs, allocating numbers for new ones). The hub calls Resolve on the sync path with a
// context that has a deadline; an error holds the event (the sync loop publishes it again).
type Resolver interface {
	Resolve(ctx context.Context, ev *model.Event) (IDs, error)
}

// Bot is one bot as a face sees it in meta events.
type Bot struct {
	Bot    model.Bot
	SelfID int64 // OneBot v11 self_id
	// Pending: configured but not in the hub yet (still logging in); never online.
	Pending bool
}

// Meta is a face whose connections on the hub's transports (forward and reverse WebSocket,
// webhooks) get meta events. bots are the bots a connection sees: one for a connection limited
// to a bot, else every bot (pending ones first).
type Meta interface {
	// Hello is the first frames of a connection, before any event.
	Hello(bots []Bot) [][]byte
	// Heartbeat is the frame sent every interval.
	Heartbeat(bots []Bot, interval time.Duration) []byte
	// StatusChanged is the frame for a connection that sees bots when changed's status changed
	// (online tells whether it went online or offline, flipped whether that changed); nil = none.
	StatusChanged(bots []Bot, changed Bot, online, flipped bool) []byte
}

// Mounter is a face with HTTP routes of its own (Satori's /v1/…, its event WebSocket). The hub
// calls Mount once, in a router that has the access log, the cross-site guard and the access
// token in front; Host.Grant tells which bots the request's token grants.
type Mounter interface {
	Mount(r chi.Router, host Host)
}

// PublicMounter is a face whose routes check the access token themselves (Host.Authorize):
// Satori's event stream presents it in its first frame, not in the upgrade request. The hub
// calls MountPublic once, in a router that has the access log and the cross-site guard in front
// but not the token check.
type PublicMounter interface {
	MountPublic(r chi.Router, host Host)
}

// Host is what the hub gives a face that serves its own routes.
type Host interface {
	// Bots are the bots in the hub, in configuration order.
	Bots() []model.Bot
	// Bot is the bot with that user ID, or nil.
	Bot(u id.UserID) model.Bot
	// Grant is the bot the request's access token is limited to, or nil when it grants every bot.
	Grant(r *http.Request) model.Bot
	// Subscribe streams the events of one bot ("" = every bot), encoded by f. With a key (and
	// an outbox configured) the stream is durable: frames wait in the outbox under that key
	// until Done, across reconnects and restarts, and Frame.Seq is the outbox row (it grows).
	// Close the subscription when done.
	Subscribe(ctx context.Context, f Face, opts Subscription) Stream
	Logger() *slog.Logger
	// Authorize checks an access token as the hub does for its own routes ("" = none was
	// presented; it passes while the gateway has no token): ok false refuses it; bot, when set,
	// is the only bot the token grants.
	Authorize(token string) (bot model.Bot, ok bool)
	// ResolveMedia takes in the files that media segments from a client name by source
	// (model.Media.Source: an http(s) URL, a data: URL, base64://, a file id), as for OneBot
	// clients, and replaces each source by the stored file's id.
	ResolveMedia(ctx context.Context, segs []model.Segment) error
}

// Subscription says what a Stream carries.
type Subscription struct {
	Bot id.UserID // "" = every bot the hub has
	// Key names a durable stream in the outbox ("" = in memory only).
	Key string
	// Retain keeps a durable stream's frames after Done, until the outbox limits drop them
	// (GATEWAY_OUTBOX_MAX_EVENTS, _MAX_AGE): Next moves a position instead of deleting, and the
	// Stream is also a History, so that several clients can resume from where each left off.
	// Without an outbox the stream is in memory only and not a History.
	Retain bool
	// Transport names the consumer in metrics.
	Transport string
}

// Stream is a subscription's frames, in order. One goroutine calls Next, Done and Fail.
type Stream interface {
	// Next returns the next frame, waiting for one; the same frame again until Done.
	Next(ctx context.Context) (Frame, error)
	// Done records that fr was delivered (a durable stream deletes it from the outbox).
	Done(ctx context.Context, fr Frame)
	// Fail records that the frame could not be delivered: it comes again, marked replayed.
	Fail()
	Close()
}

// History is a retained durable Stream (Subscription.Retain): its frames stay in the outbox
// after Done, and Seq numbers them in order across restarts.
type History interface {
	// After returns up to limit kept frames with a Seq above seq, oldest first.
	After(ctx context.Context, seq int64, limit int) ([]Frame, error)
	// Position is the Seq of the newest frame Next has returned (or, before the first, of the
	// newest frame kept when the stream was subscribed; 0 when none).
	Position() int64
}

// Retainer is a Host that can tell whether a retained stream was used before: frames under
// its key are still kept from an earlier run. A face that subscribes a retained stream only once
// a client has come subscribes it again at start when this says so, so that the events of the
// time before its client comes back are kept too.
type Retainer interface {
	Retained(ctx context.Context, f Face, key string) (bool, error)
}

// TokenWatcher is a face whose own routes let clients in without a token while the gateway
// needs none (Host.Authorize("") passes): when a bot with a token of its own joins such a gateway,
// tokens are required from then on, and the hub calls TokensRequired so that the face ends the
// connections it let in without one (they were granted every bot, the new one included), with
// reason as the close reason, as the hub does with its own forward WebSockets.
type TokenWatcher interface {
	TokensRequired(reason string)
}

// Drainer is a face with streams of its own (Satori's): at a clean stop, once the bots have
// stopped and before the server closes the connections, Drain delivers what is queued (the bots'
// final status), ends its streams and stops its goroutines, within ctx.
type Drainer interface {
	Drain(ctx context.Context)
}

// BodyReader is a Host that counts the request bodies a face reads against the process's budget
// of request bytes (GATEWAY_MAX_BYTES_IN_FLIGHT), as the OneBot transports' bodies are.
type BodyReader interface {
	// ReadBody reads r, at most limit bytes, within the budget; release gives the bytes back
	// once the request is done (call it once). ErrBusy: the budget stayed full for the read
	// timeout; ErrTooLarge: r holds more than limit.
	ReadBody(ctx context.Context, r io.Reader, limit int64) (body []byte, release func(), err error)
}

// AuthLimiter is a Host that bounds failed authentications per client address for every face
// of the process (the limit of web.AuthLimiter): a face asks before it checks a token, and says
// when a token was wrong.
type AuthLimiter interface {
	// AuthAllowed reports whether a client at remoteAddr (http.Request.RemoteAddr) may try a
	// token now; when not, the face refuses it (HTTP 429 with Retry-After of AuthRetryAfter
	// seconds, a WebSocket before its upgrade).
	AuthAllowed(remoteAddr string) bool
	AuthFailed(face, remoteAddr string)
	AuthRetryAfter() int
}

var (
	ErrBusy     = errors.New("the gateway is holding too many request bytes (GATEWAY_MAX_BYTES_IN_FLIGHT); try again later")
	ErrTooLarge = errors.New("the request body is larger than the limit")
)

// Frame is one encoded event of a Stream.
type Frame struct {
	Seq      int64 // the outbox row of a durable stream (grows); 0 otherwise
	QueuedAt time.Time
	Payload  []byte
	Replayed bool
}

// Label names a bot in messages: its user ID, else its name in the configuration.
func Label(b model.Bot) string {
	if u := b.UserID(); u != "" {
		return string(u)
	}
	if n, ok := b.(interface{ Name() string }); ok && n.Name() != "" {
		return n.Name()
	}
	return "the configured bot"
}

// PendingReason is why a bot that has not joined the hub does not serve yet.
func PendingReason(b model.Bot) string {
	if r := b.Status().Reason; r != "" {
		return r
	}
	return "not logged in yet"
}

// Uploader is a Host that stores files a face's client uploads (Satori upload.create) in the
// gateway's file store, as OneBot's upload_file does.
type Uploader interface {
	// Upload stores what f.Body yields as a file named f.Name and returns a link to it that
	// ResolveMedia takes back as a source (the gateway's signed media link). While it stores
	// the file it holds f.Size bytes of f.Client's upload quota, the one OneBot's fragmented
	// uploads count against: a client over it is refused with model.ErrRateLimited.
	Upload(ctx context.Context, f UploadFile) (url string, err error)
}

// MaxUploadFiles is how many files one upload call (Satori upload.create) may carry: the count of
// unfinished uploads the per-client upload quota allows, so that one call stores no more files
// than a client may hold at once. A call with more is refused before any file is stored.
const MaxUploadFiles = 4

// UploadFile is one file a face's client uploads (Uploader).
type UploadFile struct {
	// Client names the client for the per-client upload quota (ClientKey).
	Client string
	// Size is at most how many bytes Body yields (the gateway's file size limit applies too).
	Size           int64
	Name, MIMEType string
	Body           io.Reader
}

// ClientKey names an HTTP client for per-client quotas: its address without the port, and
// the bot its access token is for ("" = a token for every bot). A proxy in front of the gateway
// makes all its clients one. OneBot's HTTP actions and Satori's API name a client alike, so one
// client's quota is the same on both faces.
func ClientKey(remoteAddr string, bot id.UserID) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	scope := "all bots"
	if bot != "" {
		scope = string(bot)
	}
	return "http " + host + " " + scope
}
