package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/backoff"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Transports configures the pushing transports (webhook, HTTP POST, reverse WebSocket), the
// outbox, the v11 post format and get_latest_events. Zero values take the defaults.
type Transports struct {
	V11PostFormat string // "array" (default) or "string" (CQ codes)
	EventBuffer   int    // get_latest_events buffer size; 0 = the action is off

	WebhookSecret  string        // signs every HTTP POST / webhook body (X-Signature) when set
	WebhookTimeout time.Duration // one request (default 5 s)
	WebhookRetries int           // attempts after the first, before the endpoint counts as down
	PushToken      string        // Authorization: Bearer on v12 webhooks
	// WebhookReplyScope is what the actions of a v12 webhook's reply may act on: ReplyScopeEvent
	// (the default) or ReplyScopeBot (replyscope.go).
	WebhookReplyScope string
	// ReconnectInterval is the first wait before a down endpoint is tried again (default 3 s).
	ReconnectInterval time.Duration
	HTTPClient        *http.Client

	Outbox       OutboxStore // nil = no outbox
	OutboxLimits storage.OutboxLimits
	ReplayRate   float64 // events per second while a backlog is replayed (default 20)

	PingInterval time.Duration // WebSocket pings (default 30 s)
	PingTimeout  time.Duration // a pong must come within this (default 20 s)
}

func (t *Transports) setDefaults() {
	if t.V11PostFormat == "" {
		t.V11PostFormat = "array"
	}
	if t.WebhookReplyScope == "" {
		t.WebhookReplyScope = ReplyScopeEvent
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
	maxWebhookReply  = 1 << 20 // bytes of a reply body that are read
	pushRetryInitial = 250 * time.Millisecond
	pushRetryMax     = 5 * time.Second
)

// endpointKey names an endpoint in the outbox and in logs.
func endpointKey(kind, rawURL string, bot id.UserID) string {
	return kind + " " + rawURL + " " + string(bot)
}

// redactKey hides the query and password of the URL in an endpoint key, which may carry tokens.
func redactKey(key string) string {
	kind, rest, _ := strings.Cut(key, " ")
	u, bot, _ := strings.Cut(rest, " ")
	return strings.TrimSpace(kind + " " + safeURL(u) + " " + bot)
}

// safeURL renders a URL without its password and query.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	return u.Redacted()
}

// RunWebhook delivers events to the endpoint until ctx ends: in order, each request retried
// WebhookRetries times; when they all fail the endpoint is down and is tried again with backoff
// (its events wait in the outbox, or in memory). Meta events (lifecycle / status_update,
// heartbeats) are sent directly and never queued.
func (h *Hub) RunWebhook(ctx context.Context, ep Webhook) {
	var entry *botEntry
	kind := "v12-webhook"
	bot := ep.Bot
	if ep.Version == 11 {
		kind = "v11-http-post"
		if entry = h.botBySelfID(ep.SelfID); entry == nil {
			h.log.Error("HTTP POST for an unknown bot", "self_id", ep.SelfID, "url", safeURL(ep.URL))
			return
		}
		bot = entry.bot.UserID()
	}
	f := h.newFeed(ctx, endpointKey(kind, ep.URL, bot), ep.Version, bot, ep.Outbox)
	defer f.close()
	log := f.log
	log.Info("pushing OneBot events", "outbox", f.store != nil)

	go h.pushMeta(ctx, ep, entry)

	down := backoff.New(h.opts.ReconnectInterval, maxReconnectBackoff)
	wasDown := false
	for {
		p, err := f.next(ctx)
		if err != nil {
			return
		}
		reply, ctype, err := h.push(ctx, ep, p.payload, h.opts.WebhookRetries)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			f.fail()
			wait := down.Next()
			if !wasDown {
				log.Warn("endpoint down: events wait until it is back", "error", err, "retry_in", wait.Round(time.Millisecond))
			} else {
				log.Debug("endpoint still down", "error", err, "retry_in", wait.Round(time.Millisecond))
			}
			wasDown = true
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		f.done(ctx, p)
		if wasDown {
			log.Info("endpoint is back")
			wasDown = false
			down.Reset()
		}
		h.handleWebhookReply(ctx, ep, entry, p.payload, reply, ctype, log)
	}
}

// pushMeta sends the endpoint a lifecycle (v11) or status_update (v12) event, then heartbeats.
func (h *Hub) pushMeta(ctx context.Context, ep Webhook, entry *botEntry) {
	if ep.Version == 11 {
		_, _, _ = h.push(ctx, ep, h.v11Lifecycle(entry.selfID, "enable"), 0)
	} else {
		var only *botEntry
		if ep.Bot != "" {
			only = h.botByUser(ep.Bot)
		}
		_, _, _ = h.push(ctx, ep, h.v12StatusUpdateFor(only), 0)
	}
	t := time.NewTicker(h.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			frame := h.v12Heartbeat()
			if ep.Version == 11 {
				frame = h.v11Heartbeat(entry)
			}
			_, _, _ = h.push(ctx, ep, frame, 0)
		}
	}
}

// push POSTs one frame, trying again up to retries times, and returns the reply body.
func (h *Hub) push(ctx context.Context, ep Webhook, frame []byte, retries int) ([]byte, string, error) {
	body := jsStringifyCompat(frame)
	retry := backoff.New(pushRetryInitial, pushRetryMax)
	for attempt := 0; ; attempt++ {
		reply, ctype, err := h.pushOnce(ctx, ep, body)
		if err == nil {
			return reply, ctype, nil
		}
		h.stats.PushFailures.Add(1)
		if attempt >= retries || ctx.Err() != nil {
			return nil, "", err
		}
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-time.After(retry.Next()):
		}
	}
}

func (h *Hub) pushOnce(ctx context.Context, ep Webhook, body []byte) ([]byte, string, error) {
	rctx, cancel := context.WithTimeout(ctx, h.opts.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return nil, "", fmt.Errorf("failed to build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if ep.Version == 11 {
		req.Header.Set("User-Agent", "OneBot/11 "+Impl+"/"+h.opts.Version)
		req.Header.Set("X-Self-ID", strconv.FormatInt(ep.SelfID, 10))
	} else {
		req.Header.Set("User-Agent", "OneBot/12 (matrix) "+Impl+"/"+h.opts.Version)
		req.Header.Set("X-OneBot-Version", "12")
		req.Header.Set("X-Impl", Impl)
		if h.opts.PushToken != "" {
			req.Header.Set("Authorization", "Bearer "+h.opts.PushToken)
		}
	}
	if h.opts.WebhookSecret != "" {
		req.Header.Set("X-Signature", signature(h.opts.WebhookSecret, body))
	}
	resp, err := h.opts.HTTPClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text repeats the URL, which may carry a token
		}
		return nil, "", fmt.Errorf("failed to post: %w", err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxWebhookReply))
	if err != nil {
		return nil, "", fmt.Errorf("failed to read the reply: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, "", fmt.Errorf("endpoint answered %s: %.200s", resp.Status, reply)
	}
	if resp.StatusCode != http.StatusOK {
		reply = nil // 204 and the like carry nothing to run
	}
	return reply, resp.Header.Get("Content-Type"), nil
}

// signature is the X-Signature header: sha1=<hex HMAC-SHA1(secret, body)>.
func signature(secret string, body []byte) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(body)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

// handleWebhookReply runs what a 200 reply asks for: v12 a list of actions, v11 a quick operation.
// Failures are only logged (the endpoint has no way to receive them).
func (h *Hub) handleWebhookReply(ctx context.Context, ep Webhook, entry *botEntry, event, reply []byte, ctype string, log *slog.Logger) {
	if len(bytes.TrimSpace(reply)) == 0 {
		return
	}
	if mt, _, _ := mime.ParseMediaType(ctype); mt != "" && mt != "application/json" {
		log.Warn("reply ignored: only application/json replies are run", "content_type", mt)
		return
	}
	if ep.Version == 11 {
		op, err := decodeQuickOperation(reply)
		if err != nil {
			log.Warn("quick operation ignored", "error", err)
			return
		}
		h.runQuickOperation(ctx, entry, event, op, log)
		return
	}
	reqs, err := decodeWebhookActions(reply)
	if err != nil {
		log.Warn("webhook reply ignored", "error", err)
		return
	}
	var self struct {
		Self *v12Self `json:"self"`
	}
	_ = json.Unmarshal(event, &self)
	var bot *botEntry
	if self.Self != nil {
		bot = h.botByUser(id.UserID(self.Self.UserID))
	}
	if bot == nil {
		log.Warn("webhook reply ignored: the event names no bot of this gateway", "actions", len(reqs))
		return
	}
	for i := range reqs {
		if h.opts.WebhookReplyScope != ReplyScopeBot {
			if err := checkReplyScope(event, &reqs[i]); err != nil {
				log.Warn("action from a webhook reply refused", "action", reqs[i].Action, "reason", err)
				continue
			}
		}
		// The bot of the event is the connection's bot: a reply never acts as another bot.
		resp := h.runV12(ctx, bot, &reqs[i])
		if resp.Status != "ok" {
			log.Warn("action from a webhook reply failed", "action", reqs[i].Action, "retcode", resp.Retcode, "message", resp.Message)
		} else {
			log.Debug("ran action from a webhook reply", "action", reqs[i].Action)
		}
	}
}

// decodeWebhookActions reads the body of a v12 webhook's 200 reply: a JSON list of action
// requests (one request object is accepted too).
func decodeWebhookActions(body []byte) ([]v12Request, error) {
	body = bytes.TrimSpace(body)
	var reqs []v12Request
	switch {
	case len(body) == 0:
		return nil, nil
	case body[0] == '{':
		var r v12Request
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("reply is not an action request: %w", err)
		}
		reqs = []v12Request{r}
	case body[0] == '[':
		if err := json.Unmarshal(body, &reqs); err != nil {
			return nil, fmt.Errorf("reply is not a list of action requests: %w", err)
		}
	default:
		return nil, errors.New("reply is not a JSON list of action requests")
	}
	for i, r := range reqs {
		if r.Action == "" {
			return nil, fmt.Errorf("action request %d has no action", i)
		}
	}
	return reqs, nil
}
