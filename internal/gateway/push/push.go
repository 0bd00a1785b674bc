// Package push delivers the hub's events: the per-connection queue (Sink), the forward and
// reverse WebSocket connections (ServeConn, RunReverseWS), webhooks and v11 HTTP POST
// (RunWebhook), the outbox that keeps their events while they are down (Feed) and the
// get_latest_events buffers. It knows the hub only through Host, and bots only as core.Entry.
package push

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/metrics"
)

// Host is what the hub gives the pushing endpoints and connections.
type Host interface {
	// Settings are read at each use: the hub's options may change until it serves.
	Settings() Settings

	// Subscribe makes s receive the events of its bot (Sink.Bot) in its face (Sink.Face: the
	// OneBot face of Sink.Version when nil); Unsubscribe ends that. WakePublishers lets events
	// held because a consumer's queue was full be tried again: it has made room.
	Subscribe(s *Sink)
	Unsubscribe(s *Sink)
	WakePublishers()

	// FaceOf is the OneBot face of a protocol version (11 or 12); FaceBots the bots a
	// connection limited to only sees (every bot when nil).
	FaceOf(version int) face.Face
	FaceBots(only *core.Entry) []face.Bot
	BotBySelfID(n int64) *core.Entry
	BotByUser(u id.UserID) *core.Entry

	// ConnContext is the context of a new connection's requests (per-client quotas count
	// per connection); ReadRequest reads one request message within the process's budget of
	// bytes in flight (a *core.RequestTooLarge or web.ErrBusy when it cannot), release gives
	// the bytes back. WhenTokensNeeded closes s, a connection let in without a token, once
	// requests need one; it returns when s is closed.
	ConnContext(ctx context.Context) context.Context
	ReadRequest(ctx context.Context, r io.Reader, version int) (data []byte, release func(), err error)
	WhenTokensNeeded(s *Sink)

	// RunFrame runs one action request frame of a connection for bot (nil: every bot) and
	// returns the response frame. RunReply runs what an endpoint's JSON answer to event asks
	// for (v12 a list of actions, v11 a quick operation), logging failures.
	RunFrame(ctx context.Context, version int, bot *core.Entry, frame []byte) []byte
	RunReply(ctx context.Context, version int, bot *core.Entry, event, reply []byte, log *slog.Logger)
}

// Settings are the hub's options that deliveries use.
type Settings struct {
	Log               *slog.Logger
	Stats             *core.Stats
	Metrics           *metrics.Metrics
	Version           string        // the gateway's, in User-Agent
	HeartbeatInterval time.Duration // OneBot heartbeat meta events
	MaxUploadSize     int64         // the largest request message a connection may send
	ReadTimeout       time.Duration // a request message must arrive whole within this
	*Transports
}

// Pushers delivers events to the hub's pushing endpoints and connections.
type Pushers struct {
	host Host

	outboxOnce sync.Once // purges expired outbox frames once per process
	retained   sync.Map  // key → *Feed: the retained streams (RetainedPositions)

	latest     *latestBuffer // get_latest_events of every bot
	latestMu   sync.Mutex
	latestBots map[id.UserID]*latestBuffer // get_latest_events of clients limited to one bot
}

// New returns the deliveries of the hub host.
func New(host Host) *Pushers {
	return &Pushers{host: host, latest: &latestBuffer{}, latestBots: map[id.UserID]*latestBuffer{}}
}

func (p *Pushers) settings() Settings { return p.host.Settings() }
