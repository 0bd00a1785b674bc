// Package gateway is the OneBot side: v11 and v12 codecs, transports (HTTP, forward and reverse
// WebSocket) and the action table. It knows Matrix only through model.Bot and model.Event.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/adminview"
	"github.com/matrix-onebot/gateway/internal/gateway/calls"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/gateway/intake"
	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Impl is the OneBot implementation name (v12 `impl`, matches [a-z][-a-z0-9]*).
const Impl = core.Impl

// IDMapper is the persistent two-way map between Matrix IDs and OneBot v11 integers.
type IDMapper interface {
	V11ID(ctx context.Context, kind storage.IDKind, matrixID string) (int64, error)
	MatrixID(ctx context.Context, kind storage.IDKind, v11 int64) (string, error)
}

// Options configure a Hub.
type Options struct {
	Version     string // gateway version reported to clients
	AccessToken string // grants every bot; "" = none (only allowed on loopback; config checks)
	// BotTokens says that some configured bot has a token of its own: requests need a token
	// even when AccessToken is "", also before that bot has joined the hub. A bot added later
	// with a token (AddBotWithToken) requires tokens from then on without it. Either way they
	// stay required until a restart, also once no bot with a token is left.
	BotTokens         bool
	HeartbeatInterval time.Duration // OneBot heartbeat meta events
	IDs               IDMapper
	Logger            *slog.Logger
	ExpectedBots      int // /readyz is not ready until this many bots have joined the hub
	// Elsewhere returns the bots other gateways of a cluster run (get_status's
	// matrix.elsewhere); nil = no cluster.
	Elsewhere func(ctx context.Context) []string
	// DropWithoutClient drops (and counts) events that no connection receives, instead of holding
	// the bot's sync until a client connects.
	DropWithoutClient bool
	// Media takes in files from clients and serves /media links (package intake, files.go); nil = none.
	Media *intake.Media

	// Web guards the HTTP listener: browsers (package web), request sizes and bytes in flight
	// (inflight.go), timeouts and connection caps (listener.go).
	Web web.Options
	// OAuthCallback, when set, is served at its path (OAuth redirects to the gateway's own URL).
	OAuthCallback *OAuthCallback

	// Metrics are the process's Prometheus metrics (served at /metrics); nil = the hub's own.
	Metrics *metrics.Metrics
	// MetricsPublic serves /metrics without the access token (GATEWAY_METRICS_PUBLIC).
	MetricsPublic bool
	// AccessLogLevel is the level of the HTTP access log (default debug); AccessLogOff turns
	// it off (GATEWAY_ACCESS_LOG_LEVEL).
	AccessLogLevel slog.Level
	AccessLogOff   bool

	Transports // webhooks, HTTP POST, outbox, post format, get_latest_events (package push)

	// Faces are the protocols served besides OneBot v11 and v12 (built in): registering one is
	// this one line where the hub is made (see package face).
	Faces []face.Face
}

// Hub connects bots to OneBot transports: it fans events out to every subscribed connection,
// marshalling each event once per protocol version, and dispatches actions back to bots.
type Hub struct {
	opts Options
	log  *slog.Logger

	botsMu sync.RWMutex
	bots   []*botEntry // in configuration order
	byUser map[id.UserID]*botEntry
	bySelf map[int64]*botEntry
	// tokenBots counts the bots in the hub with a token of their own (written under botsMu): any
	// makes requests need a token (auth.go), also for a bot added at runtime.
	tokenBots atomic.Int32
	// tokensLatched is set once a bot with a token of its own joined: requests need a token
	// from then on until a restart, also after that bot is removed (auth.go authRequired).
	tokensLatched atomic.Bool
	// tokensNeeded is closed (and replaced) when requests start to need a token: connections
	// let in without one end then (webFront.whenTokensNeeded).
	openMu       sync.Mutex
	tokensNeeded chan struct{}
	// expected are the bots that have not joined the hub yet (still logging in to learn their
	// user ID): /readyz shows their state and reason.
	expected []model.Bot

	sinksMu   sync.RWMutex
	sinks     map[*sink]struct{}
	sinksGrew chan struct{} // closed and replaced whenever a sink subscribes or makes room
	liveSent  liveSet       // events given to connections without an outbox, their outboxes' commit failed

	inflight  *web.Budget      // request bytes held by the whole process
	authFails *web.AuthLimiter // wrong access tokens per client address, for every face
	guard     *web.Guard

	stats   Stats
	metrics *metrics.Metrics

	// Collaborators: the hub's work by responsibility, so that Hub itself stays small.
	faces       faces          // the protocols served (faces.go)
	calls       *calls.Runner  // actions through the middleware chain (package calls, calls.go)
	web         webFront       // HTTP routes, guards and the access token (server.go, auth.go, …)
	push        *push.Pushers  // WebSocket connections, webhooks, outboxes, get_latest_events
	reg         botRegistry    // the bots by user ID and self_id (hub.go)
	fan         fanout         // the connections' sinks and the fan-out of events (hub.go)
	syncTimeout time.Duration  // bounds each database call of Publish (faces.go)
	transports  transportGroup // the endpoints the hub runs (transports.go)

	recent adminview.Recent // the last events per bot, for the admin page (adminview.go)
	admin  http.Handler     // the admin page at /admin; nil = none

	writers writerYield // how Publish lets the writers it woke run (yield.go)
}

// Stats counts what a slow or broken client cost (package core, shared with the hub's parts).
type Stats = core.Stats

// botEntry is one bot in the hub (package core).
type botEntry = core.Entry

// sink is one connection's outgoing queue (package push).
type sink = push.Sink

// NewHub returns a Hub without bots.
func NewHub(opts Options) *Hub {
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	opts.Transports.SetDefaults()
	opts.Web.SetDefaults()
	h := &Hub{
		opts:         opts,
		log:          opts.Logger,
		byUser:       map[id.UserID]*botEntry{},
		bySelf:       map[int64]*botEntry{},
		sinks:        map[*sink]struct{}{},
		sinksGrew:    make(chan struct{}),
		tokensNeeded: make(chan struct{}),
		inflight:     web.NewBudget(opts.Web.MaxBytesInFlight, opts.Web.ReadTimeout),
		authFails:    web.NewAuthLimiter(opts.Logger),
		metrics:      opts.Metrics,
		writers:      defaultWriterYield(),
	}
	h.faces.h, h.web.h, h.reg.h, h.fan.h = h, h, h, h
	h.push = push.New(pushHost{h})
	h.faces.initFaces()
	h.calls = calls.New(callsHub{h})
	h.metrics.AddSource(h.fan.metricSamples)
	h.guard = &web.Guard{
		Opts: opts.Web, TokenSet: h.web.authRequired,
		Refused: func() { h.stats.BrowserRefused.Add(1) }, LogWarn: h.log.Warn,
	}
	if opts.OAuthCallback != nil {
		h.guard.Callback = opts.OAuthCallback.Path
	}
	return h
}

// OAuthCallback is a handler of OAuth redirects served next to the OneBot endpoints.
type OAuthCallback struct {
	Path    string // e.g. /oauth/callback
	Handler http.Handler
}

// The hub's collaborators (see Hub): each holds the hub.
type (
	webFront    struct{ h *Hub }
	botRegistry struct{ h *Hub }
	fanout      struct{ h *Hub }
)

// Stats returns the hub's counters.
func (h *Hub) Stats() *Stats { return &h.stats }

// Metrics returns the process's metrics (BotCounters gives one bot's).
func (h *Hub) Metrics() *metrics.Metrics { return h.metrics }

// AddBot registers a bot with its OneBot v11 self_id.
func (h *Hub) AddBot(b model.Bot, selfID int64) { h.AddBotWithToken(b, selfID, "") }

// AddBotWithToken registers a bot with its OneBot v11 self_id and its own access token, which
// grants OneBot clients this bot only ("" = none; set Options.BotTokens when any bot has one).
func (h *Hub) AddBotWithToken(b model.Bot, selfID int64, token string) {
	required := h.web.authRequired()
	h.reg.addBot(b, selfID, token)
	if !required && h.web.authRequired() {
		h.web.closeUnauthenticated()
	}
	h.BotStatusChanged(b.UserID(), b.Status()) // v12 connections learn of the new bot
}

// Expect tells the hub of a bot that will join it (AddBot) once it has logged in: until then
// /readyz lists it with its state and the reason (e.g. why its login fails).
func (h *Hub) Expect(b model.Bot) {
	h.botsMu.Lock()
	defer h.botsMu.Unlock()
	h.expected = append(h.expected, b)
}

func (br botRegistry) addBot(b model.Bot, selfID int64, token string) {
	br.h.botsMu.Lock()
	defer br.h.botsMu.Unlock()
	br.h.expected = slices.DeleteFunc(br.h.expected, func(x model.Bot) bool { return x == b })
	e := &botEntry{Bot: b, SelfID: selfID, Token: token}
	if token != "" {
		br.h.tokenBots.Add(1)
	}
	if old := br.h.byUser[b.UserID()]; old != nil {
		if old.Token != "" {
			br.h.tokenBots.Add(-1)
		}
		delete(br.h.bySelf, old.SelfID)
		br.h.bots = slices.DeleteFunc(br.h.bots, func(x *botEntry) bool { return x == old })
	}
	br.h.bots = append(br.h.bots, e)
	br.h.byUser[b.UserID()] = e
	br.h.bySelf[selfID] = e
}

func (br botRegistry) botList() []*botEntry {
	br.h.botsMu.RLock()
	defer br.h.botsMu.RUnlock()
	return append([]*botEntry(nil), br.h.bots...)
}

// expectedBots are the bots that have not joined the hub yet (Expect).
func (br botRegistry) expectedBots() []model.Bot {
	br.h.botsMu.RLock()
	defer br.h.botsMu.RUnlock()
	return append([]model.Bot(nil), br.h.expected...)
}

// pendingBot is the bot that requests naming none are for while it cannot serve them: the only
// bot configured, not in the hub yet (it has not logged in: homeserver unreachable, login
// refused, …); nil otherwise.
func (br botRegistry) pendingBot() model.Bot {
	br.h.botsMu.RLock()
	defer br.h.botsMu.RUnlock()
	if len(br.h.bots) == 0 && len(br.h.expected) == 1 {
		return br.h.expected[0]
	}
	return nil
}

func (br botRegistry) botByUser(u id.UserID) *botEntry {
	br.h.botsMu.RLock()
	defer br.h.botsMu.RUnlock()
	return br.h.byUser[u]
}

func (br botRegistry) botBySelfID(n int64) *botEntry {
	br.h.botsMu.RLock()
	defer br.h.botsMu.RUnlock()
	return br.h.bySelf[n]
}

// defaultBot is the bot used when a request names none: the only one, or nil when there are several.
func (br botRegistry) defaultBot() *botEntry {
	br.h.botsMu.RLock()
	defer br.h.botsMu.RUnlock()
	if len(br.h.bots) == 1 {
		return br.h.bots[0]
	}
	return nil
}

// Publish implements model.Sink: the event is marshalled once per protocol version that has a
// subscriber and the same bytes are queued on every matching connection, never blocking on one.
//
// The connections without an outbox get the event first; then the frames for endpoints with an
// outbox are written to the database, all in one transaction. When that write (or the v11 ID
// map) fails, Publish returns the error and no outbox has the event: the caller retries it
// later, and the connections that took it already are not given it again (liveSet), so the
// event is neither lost nor handed twice to a connection.
func (h *Hub) Publish(ctx context.Context, ev *model.Event) error {
	entry := h.reg.botByUser(ev.Self)
	if entry == nil {
		h.log.Warn("event for an unknown bot", "bot", ev.Self)
		return nil
	}
	var room string
	if ev.Message != nil {
		room = string(ev.Message.RoomID)
	}
	listed := false
	for {
		queued, grew, err := h.fan.fanOut(ctx, entry, ev)
		if err != nil {
			return err // nothing handed over: the sync loop publishes the event again
		}
		if !listed { // once, not on every try of an event whose outbox write failed
			h.recent.Add(ev.Self, adminview.EventOf(string(ev.Kind), ev.ID, room, ev.Time))
			listed = true
		}
		if queued > 0 {
			h.metrics.EventIn(string(ev.Self), string(ev.Kind), ev.Time)
			return nil
		}
		if h.opts.DropWithoutClient {
			h.metrics.EventIn(string(ev.Self), string(ev.Kind), ev.Time)
			h.stats.EventsUnwanted.Add(1)
			return nil
		}
		h.log.Debug("holding event until a OneBot client connects", "bot", ev.Self, "event_id", ev.ID)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-grew:
		}
	}
}

// fanOut queues ev on every connection without an outbox that wants it, then writes it to the
// outboxes that want it, and reports how many took it, and a channel that is closed when a new
// connection subscribes. An error means that no outbox took it (liveSet remembers the
// connections that did).
func (fo fanout) fanOut(ctx context.Context, entry *botEntry, ev *model.Event) (int, <-chan struct{}, error) {
	// Pick the connections under the lock; encode (which reads the v11 ID map) and queue outside
	// it, so that connections can come and go meanwhile.
	fo.h.sinksMu.RLock()
	targets := make([]*sink, 0, len(fo.h.sinks))
	for s := range fo.h.sinks {
		if s.WantsEvents && (s.Bot == "" || s.Bot == ev.Self) {
			targets = append(targets, s)
		}
	}
	grew := fo.h.sinksGrew
	fo.h.sinksMu.RUnlock()

	// Each event is encoded once per face and the bytes shared by that face's connections.
	type encoded struct {
		face    face.Face
		payload []byte
	}
	var done []encoded
	encode := func(f face.Face) ([]byte, error) {
		for _, e := range done {
			if e.face == f {
				return e.payload, nil
			}
		}
		b, err := fo.h.faces.encodeFor(ctx, f, ev)
		if err != nil && (storage.IsDBError(err) || ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded)) {
			return nil, fmt.Errorf("failed to encode event %s: %w", ev.ID, err) // the v11 ID map: retry
		} else if err != nil {
			fo.h.log.Error("failed to encode event", "face", f.Name(), "event_id", ev.ID, "error", err)
		}
		done = append(done, encoded{f, b})
		return b, nil
	}
	var durable []storage.OutboxFrame
	var feeds []*push.Feed
	for _, s := range targets {
		payload, err := encode(s.Face)
		if err != nil {
			return 0, grew, err
		}
		if f := s.Durable(); payload != nil && f != nil {
			durable = append(durable, storage.OutboxFrame{Endpoint: f.Key(), Payload: payload, Encrypted: ev.Decrypted})
			feeds = append(feeds, f)
		}
	}
	// The connections without an outbox first: they get the frame without waiting for the
	// outboxes' commit. If that commit fails, the sync loop publishes the event again, and the
	// connections that took it then are not given it twice (liveSent).
	key := liveKey{ev.Self, ev.ID}
	queued := fo.h.liveSent.take(key) // an earlier try gave it to that many
	if queued == 0 {
		var out transportCounts // counts.go
		for _, s := range targets {
			payload, _ := encode(s.Face) // encoded above
			if payload != nil && s.Durable() == nil && s.Enqueue(payload, &fo.h.stats, fo.h.metrics, ev.Self) {
				out.add(s.Transport)
				queued++
			}
		}
		out.record(fo.h.metrics, ev.Self)
		if queued > 0 {
			// Let the writers just woken run now, before this goroutine goes on to the outboxes
			// and the sync position (at most every writerYieldEvery: yield.go).
			fo.yieldToWriters(entry)
		}
	}
	if len(durable) > 0 {
		wctx, cancel := context.WithTimeout(ctx, fo.h.syncTimeout)
		woken, err := push.AppendAll(wctx, fo.h.opts.Outbox, feeds, durable, fo.h.opts.OutboxLimits)
		cancel()
		if err != nil {
			if queued > 0 {
				fo.h.liveSent.put(key, queued)
			}
			return 0, grew, err
		}
		for _, f := range feeds {
			fo.h.metrics.EventOut(string(ev.Self), f.Transport())
		}
		queued += len(feeds)
		if woken {
			// The deliverers that took the frame in memory write it now (yield.go).
			fo.yieldTo(&entry.LastFeedYield)
		}
	}
	return queued, grew, nil
}

// liveKey is one event of one bot.
type liveKey struct {
	bot   id.UserID
	event string
}

// liveSet holds the events that connections without an outbox were given although the outboxes'
// commit then failed: the sync loop publishes such an event again, and those connections must not
// get it twice. It holds an event only between a failed commit and the next try, with how many
// connections took it: they count for the next try, so that Publish does not hold the event for
// a client when its outboxes are gone by then (an endpoint stopped).
type liveSet struct {
	mu   sync.Mutex
	sent map[liveKey]int
}

func (l *liveSet) put(k liveKey, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent == nil {
		l.sent = map[liveKey]int{}
	}
	l.sent[k] = n
}

// take returns how many connections an earlier try gave k to (0: none or not put), and forgets it.
func (l *liveSet) take(k liveKey) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.sent[k]
	delete(l.sent, k)
	return n
}

// BotStatusChanged implements model.Sink: every connection that sees the bot gets its face's
// frame for the change (face.Meta): v12 a status_update, v11 lifecycle disable when the bot goes
// offline and enable when it is back.
func (h *Hub) BotStatusChanged(self id.UserID, st model.BotStatus) {
	h.log.Info("bot status changed", "bot", self, "state", st.State, "reason", st.Reason)
	online := st.State != model.StateOffline
	var changed face.Bot
	var own []face.Bot // the bots of a connection limited to this bot
	flipped := false
	e := h.reg.botByUser(self)
	if e != nil {
		changed = face.Bot{Bot: e.Bot, SelfID: e.SelfID}
		own = h.faces.faceBots(e)
		flipped = e.Offline.Swap(!online) == online
	}
	all := h.faces.faceBots(nil)
	type frameKey struct {
		face face.Face
		own  bool
	}
	frames := map[frameKey][]byte{}
	h.sinksMu.RLock()
	defer h.sinksMu.RUnlock()
	for s := range h.sinks {
		meta, ok := s.Face.(face.Meta)
		if !ok || !s.WantsEvents || (s.Bot != "" && (s.Bot != self || e == nil)) {
			continue
		}
		k := frameKey{s.Face, s.Bot != ""}
		frame, seen := frames[k]
		if !seen {
			bots := all
			if k.own {
				bots = own
			}
			frame = meta.StatusChanged(bots, changed, online, flipped)
			frames[k] = frame
		}
		if frame != nil {
			_ = s.Enqueue(frame, &h.stats, h.metrics, self)
		}
	}
}

func (fo fanout) subscribe(s *sink) {
	if s.Face == nil {
		s.Face = fo.h.faces.faceOfVersion(s.Version)
	}
	fo.h.stats.ConnectionsTotal.Add(1)
	fo.h.sinksMu.Lock()
	fo.h.sinks[s] = struct{}{}
	close(fo.h.sinksGrew)
	fo.h.sinksGrew = make(chan struct{})
	fo.h.sinksMu.Unlock()
}

// wakePublishers lets held Publish calls try again: a consumer that refused an event because
// its queue was full has made room.
func (fo fanout) wakePublishers() {
	fo.h.sinksMu.Lock()
	close(fo.h.sinksGrew)
	fo.h.sinksGrew = make(chan struct{})
	fo.h.sinksMu.Unlock()
}

func (fo fanout) unsubscribe(s *sink) {
	fo.h.sinksMu.Lock()
	delete(fo.h.sinks, s)
	fo.h.sinksMu.Unlock()
}

// Connections returns how many OneBot connections are live, per protocol version.
func (h *Hub) Connections() (v11, v12 int) {
	h.sinksMu.RLock()
	defer h.sinksMu.RUnlock()
	for s := range h.sinks {
		switch s.Version {
		case 12:
			v12++
		case 11:
			v11++
		}
	}
	return
}

// ReadyReport is the per-bot state shown by /readyz.
type ReadyReport struct {
	Ready bool        `json:"ready"`
	Bots  []BotReport `json:"bots"`
}

// BotReport is one bot's line in a ReadyReport.
type BotReport struct {
	UserID string `json:"user_id,omitempty"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Since  string `json:"since"`
}

// Ready tells whether every bot is syncing.
func (h *Hub) Ready() ReadyReport {
	bots, expected := h.reg.botList(), h.reg.expectedBots()
	rep := ReadyReport{Ready: len(bots) >= h.opts.ExpectedBots && len(expected) == 0, Bots: []BotReport{}}
	for _, b := range expected {
		st := b.Status()
		reason := st.Reason
		if reason == "" {
			reason = "not logged in yet"
		}
		rep.Bots = append(rep.Bots, BotReport{UserID: string(b.UserID()), State: string(st.State), Reason: reason,
			Since: st.Since.UTC().Format(time.RFC3339)})
	}
	for i := len(bots) + len(expected); i < h.opts.ExpectedBots; i++ {
		rep.Bots = append(rep.Bots, BotReport{State: "starting", Reason: "not logged in yet"})
	}
	for _, b := range bots {
		st := b.Bot.Status()
		if !st.Good() {
			rep.Ready = false
		}
		rep.Bots = append(rep.Bots, BotReport{
			UserID: string(b.Bot.UserID()), State: string(st.State), Reason: st.Reason,
			Since: st.Since.UTC().Format(time.RFC3339),
		})
	}
	return rep
}

var _ model.Sink = (*Hub)(nil)

// metricSamples are the hub's process-wide counters (Stats, their one source) and the outbox
// depths, read at each scrape.
func (fo fanout) metricSamples() []metrics.Sample {
	st := &fo.h.stats
	dropped := func(reason string, v int64) metrics.Sample {
		return metrics.Sample{Name: "events_dropped_total", Labels: map[string]string{"reason": reason}, Value: float64(v),
			Help: "Events not delivered: slow_client (a connection's queue was full; it was closed), no_client (no connection wanted it, GATEWAY_DROP_WITHOUT_CLIENT), outbox_limit (an outbox's count or age limit)."}
	}
	pushed := func(result string, v int64) metrics.Sample {
		return metrics.Sample{Name: "push_problems_total", Labels: map[string]string{"result": result}, Value: float64(v),
			Help: "Webhook / HTTP POST deliveries that went wrong: failed (endpoint down, sent again), refused (answered with an error status, not sent again), abandoned (taken but never answered, given up)."}
	}
	refused := func(reason string, v int64) metrics.Sample {
		return metrics.Sample{Name: "http_refused_total", Labels: map[string]string{"reason": reason}, Value: float64(v),
			Help: "OneBot and Satori requests refused: browser (the cross-site guard), too_large (over the size limit), busy (too many bytes in flight), auth_limited (too many wrong access tokens from the address; the admin page's login too)."}
	}
	out := []metrics.Sample{
		dropped("slow_client", st.EventsDropped.Load()), dropped("no_client", st.EventsUnwanted.Load()),
		dropped("outbox_limit", st.OutboxDropped.Load()),
		{Name: "slow_client_disconnects_total", Help: "OneBot connections closed because they could not keep up with the events.", Value: float64(st.SlowDisconnects.Load())},
		{Name: "onebot_connections_total", Help: "OneBot connections and consumers opened since the start.", Value: float64(st.ConnectionsTotal.Load())},
		{Name: "outbox_replayed_total", Help: "Frames delivered from an outbox backlog, marked as replayed.", Value: float64(st.OutboxReplayed.Load())},
		pushed("failed", st.PushFailures.Load()), pushed("refused", st.PushRefused.Load()), pushed("abandoned", st.PushAbandoned.Load()),
		refused("browser", st.BrowserRefused.Load()), refused("too_large", st.TooLarge.Load()), refused("busy", st.Busy.Load()),
		refused("auth_limited", fo.h.authFails.Refused.Load()),
		{Name: "auth_failures_total", Help: "Wrong access tokens presented to the OneBot and Satori faces and the admin page's login.", Value: float64(fo.h.authFails.Failures.Load())},
	}
	v11, v12 := fo.h.Connections()
	for v, n := range map[string]int{"11": v11, "12": v12} {
		out = append(out, metrics.Sample{Name: "onebot_consumers", Gauge: true, Labels: map[string]string{"version": v}, Value: float64(n),
			Help: "Live OneBot consumers (connections, webhooks, outbox feeds, get_latest_events), by protocol version."})
	}
	return append(out, fo.outboxSamples()...)
}

// outboxSamples are the outbox gauges of every endpoint whose outbox holds frames. A retained
// stream (Satori's) keeps its frames after delivery: outbox_depth counts only the frames it has
// not handed over yet, and outbox_kept all it keeps.
func (fo fanout) outboxSamples() []metrics.Sample {
	os, ok := fo.h.opts.Outbox.(interface {
		OutboxStats(context.Context) (map[string]storage.OutboxStat, error)
		OutboxStatAfter(ctx context.Context, endpoint string, after int64) (storage.OutboxStat, error)
	})
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := os.OutboxStats(ctx)
	if err != nil {
		return nil
	}
	var out []metrics.Sample
	for key, pos := range fo.h.push.RetainedPositions() {
		kept := stats[key]
		waiting, err := os.OutboxStatAfter(ctx, key, pos)
		if err != nil {
			delete(stats, key) // not known: not shown as all waiting
			continue
		}
		stats[key] = waiting
		out = append(out, metrics.Sample{Name: "outbox_kept", Gauge: true, Labels: map[string]string{"endpoint": push.MetricKey(key)}, Value: float64(kept.Depth),
			Help: "Frames a retained stream (the Satori event stream) keeps in the outbox, handed over or not, for clients that resume."})
	}
	for key, s := range stats {
		ep := push.MetricKey(key)
		age := 0.0
		if !s.Oldest.IsZero() {
			age = max(0, time.Since(s.Oldest).Seconds())
		}
		out = append(out,
			metrics.Sample{Name: "outbox_depth", Gauge: true, Labels: map[string]string{"endpoint": ep}, Value: float64(s.Depth),
				Help: "Frames waiting in an outbox to be delivered (for a retained stream: not handed over yet; see outbox_kept)."},
			metrics.Sample{Name: "outbox_oldest_age_seconds", Gauge: true, Labels: map[string]string{"endpoint": ep}, Value: age,
				Help: "Age of the oldest frame waiting in an outbox to be delivered; 0 when none waits."})
	}
	return out
}
