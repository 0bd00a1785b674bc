package push

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/await"
	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/gateway/transport"

	"github.com/matrix-onebot/gateway/internal/backoff"
	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/storage"

	"github.com/matrix-onebot/gateway/internal/redact"
)

// Transports configures the pushing transports (webhook, HTTP POST, reverse WebSocket), the
// outbox, the v11 post format and get_latest_events. Zero values take the defaults.
type Transports struct {
	V11PostFormat string // "array" (default) or "string" (CQ codes)
	EventBuffer   int    // get_latest_events buffer size; 0 = the action is off

	WebhookSecret  string        // signs every HTTP POST / webhook body (X-Signature) when set
	WebhookTimeout time.Duration // one request (default 5 s)
	WebhookRetries int           // attempts after the first while a request gets no answer (see RunWebhook)
	PushToken      string        // Authorization: Bearer on v12 webhooks
	// WebhookReplyScope is what the actions of a v12 webhook's reply may act on: package calls'
	// ReplyScopeEvent (the default, also when "") or ReplyScopeBot (calls.Runner.Reply).
	WebhookReplyScope string
	// ReconnectInterval is the first wait before a down endpoint is tried again (default 3 s).
	ReconnectInterval time.Duration
	HTTPClient        *http.Client

	Outbox OutboxStore // nil = no outbox
	// OutboxShared: other gateways append to the same outboxes (GATEWAY_CLUSTER), so a feed
	// reads every frame from the outbox instead of taking those of its own gateway in memory
	// (handover).
	OutboxShared bool
	OutboxLimits storage.OutboxLimits
	ReplayRate   float64 // events per second while a backlog is replayed (default 20)

	PingInterval time.Duration // WebSocket pings (default 30 s)
	PingTimeout  time.Duration // a pong must come within this (default 20 s)
}

// SetDefaults fills in the zero values.
func (t *Transports) SetDefaults() {
	if t.V11PostFormat == "" {
		t.V11PostFormat = "array"
	}
	if t.WebhookTimeout <= 0 {
		t.WebhookTimeout = 5 * time.Second
	}
	if t.ReconnectInterval <= 0 {
		t.ReconnectInterval = 3 * time.Second
	}
	if t.HTTPClient == nil {
		t.HTTPClient = &http.Client{}
	}
	if t.ReplayRate <= 0 {
		t.ReplayRate = 20
	}
	if t.PingInterval <= 0 {
		t.PingInterval = 30 * time.Second
	}
	if t.PingTimeout <= 0 {
		t.PingTimeout = 20 * time.Second
	}
}

func (t *Transports) replayGap() time.Duration {
	return time.Duration(float64(time.Second) / t.ReplayRate)
}

// Webhook is one endpoint that events are POSTed to: OneBot v11 HTTP POST (one per bot, with
// X-Self-ID) or a OneBot v12 webhook (all bots, or one).
type Webhook struct {
	URL     string
	Version int       // 11 or 12
	SelfID  int64     // v11: the bot
	Bot     id.UserID // v12: carry only this bot ("" = all bots)
	Outbox  bool      // keep events in the persistent outbox while the endpoint is down
}

const (
	pushRetryInitial = 250 * time.Millisecond
	pushRetryMax     = 5 * time.Second
)

// EndpointKey names an endpoint in the outbox and in logs.
func EndpointKey(kind, rawURL string, bot id.UserID) string {
	return kind + " " + rawURL + " " + string(bot)
}

// RedactKey hides the query and password of the URL in an endpoint key, which may carry tokens.
func RedactKey(key string) string {
	kind, rest, _ := strings.Cut(key, " ")
	u, bot, _ := strings.Cut(rest, " ")
	return strings.TrimSpace(kind + " " + redact.URL(u) + " " + bot)
}

// MetricKey names an endpoint key's endpoint in /metrics labels, which whoever may read metrics
// sees: its URL as scheme://host[:port] and a short stable hash of the rest (redact.Origin), as
// a webhook URL may carry a secret in its path as well as in its query. A key that is not an
// endpoint URL's (a face's stream) stays as it is.
func MetricKey(key string) string {
	kind, rest, ok := strings.Cut(key, " ")
	if !ok {
		return key
	}
	u, bot, _ := strings.Cut(rest, " ")
	return strings.TrimSpace(kind + " " + redact.Origin(u) + " " + bot)
}

// RunWebhook delivers events to the endpoint until ctx ends, in order. Any HTTP answer is a
// delivery (a 4xx or 500 is logged, never sent again), except 502, 503 and 504. A request that
// gets no answer is tried WebhookRetries more times; then, when the endpoint could not be reached
// (or answered 502/503/504) it is down and is tried again with backoff (its events wait in the
// outbox, or in memory), and when it took the event without answering, the event is dropped so
// that it does not hold back the ones after it. Meta events (lifecycle / status_update,
// heartbeats) are sent directly and never queued.
func (p *Pushers) RunWebhook(ctx context.Context, ep Webhook) {
	var entry *core.Entry
	kind := "v12-webhook"
	bot := ep.Bot
	if ep.Version == 11 {
		kind = "v11-http-post"
		if entry = p.host.BotBySelfID(ep.SelfID); entry == nil {
			p.settings().Log.Error("HTTP POST for an unknown bot", "self_id", ep.SelfID, "url", redact.URL(ep.URL))
			return
		}
		bot = entry.Bot.UserID()
	}
	f := p.NewFeed(ctx, EndpointKey(kind, ep.URL, bot), ep.Version, bot, ep.Outbox, metrics.TransportWebhook)
	defer f.Close()
	log := f.log
	log.Info("pushing OneBot events", "outbox", f.store != nil)

	go p.pushMeta(ctx, ep, entry)

	set := p.settings()
	down := backoff.New(set.ReconnectInterval, maxReconnectBackoff)
	wasDown := false
	lastStatus := 0 // of the last answer: a change of status is logged as a warning, repeats at debug
	for {
		pd, err := f.next(ctx)
		if err != nil {
			if !wasDown {
				p.drainWebhook(ctx, ep, f)
			}
			return
		}
		set = p.settings()
		ans, err := p.push(ctx, ep, pd.payload, set.WebhookRetries)
		if err != nil {
			if ctx.Err() != nil {
				// The stop cut this push short: the frame (not done) is delivered again by the
				// drain, with what is still queued, the final status_update among it.
				if !wasDown {
					p.drainWebhook(ctx, ep, f)
				}
				return
			}
			if transport.Unanswered(err) {
				// The endpoint took the event and never answered: the event may be what it fails
				// on, and it may have handled it. Sending it for ever would block every later
				// event behind it, so it is given up and the queue goes on.
				set.Stats.PushAbandoned.Add(1)
				log.Warn("event dropped: the endpoint took it but did not answer; if its handler is slow, raise GATEWAY_WEBHOOK_TIMEOUT",
					"error", err, "attempts", set.WebhookRetries+1, "timeout", set.WebhookTimeout)
				f.done(ctx, pd)
				continue
			}
			f.fail()
			wait := down.Next()
			if !wasDown {
				log.Warn("endpoint down: events wait until it is back", "error", err, "retry_in", wait.Round(time.Millisecond))
			} else {
				log.Debug("endpoint still down", "error", err, "retry_in", wait.Round(time.Millisecond))
			}
			wasDown = true
			if await.Sleep(ctx, wait) != nil {
				return
			}
			continue
		}
		f.done(ctx, pd)
		if wasDown {
			log.Info("endpoint is back")
			wasDown = false
			down.Reset()
		}
		if !ans.OK() {
			// An answer is a delivery (as go-cqhttp does): the endpoint has the event, and sending
			// it again would only repeat what it refused (koishi's adapter answers 404 to events).
			set.Stats.PushRefused.Add(1)
			level := slog.LevelDebug
			if ans.Status != lastStatus {
				level = slog.LevelWarn
			}
			log.Log(ctx, level, "the endpoint answered an event with an error status; the event counts as delivered and is not sent again (check the endpoint's URL and its log)",
				"status", ans.Status, "answer", fmt.Sprintf("%.200s", ans.Body))
			lastStatus = ans.Status
			continue
		}
		lastStatus = ans.Status
		p.handleWebhookReply(ctx, ep, entry, pd.payload, ans.Reply(), ans.ContentType, log)
	}
}

// drainWebhook delivers, once the gateway stops (ctx has ended), what is queued for a reachable
// endpoint (the bots' final status_update among it), within stopDrainTimeout; what is not
// delivered stays in the outbox for the next run. Replies are not run.
func (p *Pushers) drainWebhook(stopped context.Context, ep Webhook, f *Feed) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(stopped), stopDrainTimeout)
	defer cancel()
	if f.filled != nil { // frames still queued in memory go to the outbox first (feed.fill)
		select {
		case <-f.filled:
		case <-ctx.Done():
			return
		}
	}
	for {
		pd, ok := f.drainNext(ctx)
		if !ok {
			return
		}
		if _, err := p.push(ctx, ep, pd.payload, 0); err != nil {
			f.log.Debug("not delivered while stopping; kept for the next run when there is an outbox", "error", err)
			return
		}
		f.done(ctx, pd)
	}
}

// pushMeta sends the endpoint a lifecycle (v11) or status_update (v12) event, then heartbeats.
func (p *Pushers) pushMeta(ctx context.Context, ep Webhook, entry *core.Entry) {
	meta, ok := p.host.FaceOf(ep.Version).(face.Meta)
	if !ok {
		return
	}
	only := entry
	if ep.Version != 11 && ep.Bot != "" {
		only = p.host.BotByUser(ep.Bot)
	}
	bots := p.host.FaceBots(only)
	if ep.Version == 11 {
		bots = []face.Bot{{Bot: entry.Bot, SelfID: entry.SelfID}}
	}
	// As if the bot had just come online: v11 lifecycle enable, v12 a status_update.
	var changed face.Bot
	if len(bots) > 0 {
		changed = bots[0]
	}
	if frame := meta.StatusChanged(bots, changed, true, true); frame != nil {
		_, _ = p.push(ctx, ep, frame, 0)
	}
	heartbeat := p.settings().HeartbeatInterval
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = p.push(ctx, ep, meta.Heartbeat(bots, heartbeat), 0)
		}
	}
}

// push POSTs one frame, trying again up to retries times while it gets no answer, and returns
// the answer, whatever its status (only 502, 503 and 504 count as no answer).
func (p *Pushers) push(ctx context.Context, ep Webhook, frame []byte, retries int) (transport.Answer, error) {
	body := jsStringifyCompat(frame)
	retry := backoff.New(pushRetryInitial, pushRetryMax)
	for attempt := 0; ; attempt++ {
		ans, err := p.pushOnce(ctx, ep, body)
		if err == nil {
			return ans, nil
		}
		p.settings().Stats.PushFailures.Add(1)
		if attempt >= retries || ctx.Err() != nil {
			return transport.Answer{}, err
		}
		if err := await.Sleep(ctx, retry.Next()); err != nil {
			return transport.Answer{}, err
		}
	}
}

func (p *Pushers) pushOnce(ctx context.Context, ep Webhook, body []byte) (transport.Answer, error) {
	set := p.settings()
	hdr := http.Header{}
	if ep.Version == 11 {
		hdr.Set("User-Agent", "OneBot/11 "+core.Impl+"/"+set.Version)
		hdr.Set("X-Self-ID", strconv.FormatInt(ep.SelfID, 10))
	} else {
		hdr.Set("User-Agent", "OneBot/12 (matrix) "+core.Impl+"/"+set.Version)
		hdr.Set("X-OneBot-Version", "12")
		hdr.Set("X-Impl", core.Impl)
		if set.PushToken != "" {
			hdr.Set("Authorization", "Bearer "+set.PushToken)
		}
	}
	if set.WebhookSecret != "" {
		hdr.Set("X-Signature", transport.Signature(set.WebhookSecret, body))
	}
	return transport.Post(ctx, set.HTTPClient, ep.URL, hdr, body, set.WebhookTimeout)
}

// handleWebhookReply runs what a 200 reply asks for (Host.RunReply): only a JSON reply.
func (p *Pushers) handleWebhookReply(ctx context.Context, ep Webhook, entry *core.Entry, event, reply []byte, ctype string, log *slog.Logger) {
	if len(bytes.TrimSpace(reply)) == 0 {
		return
	}
	if mt, _, _ := mime.ParseMediaType(ctype); mt != "" && mt != "application/json" {
		log.Warn("reply ignored: only application/json replies are run", "content_type", mt)
		return
	}
	p.host.RunReply(ctx, ep.Version, entry, event, reply, log)
}
