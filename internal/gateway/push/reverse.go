package push

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/await"
	"github.com/matrix-onebot/gateway/internal/backoff"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/gateway/transport"
	"github.com/matrix-onebot/gateway/internal/metrics"

	"github.com/matrix-onebot/gateway/internal/redact"
)

// ReverseWS is one configured reverse-WebSocket endpoint: the gateway dials it and keeps exactly
// one live connection, reconnecting after any close with backoff and jitter.
type ReverseWS struct {
	URL         string
	Version     int       // 11 or 12
	SelfID      int64     // v11: the bot this connection is for
	Bot         id.UserID // v12: carry only this bot ("" = all bots)
	AccessToken string    // sent as Authorization: Bearer
	Role        string    // v11 only: RoleUniversal (the default), RoleAPI or RoleEvent
	// Outbox keeps the endpoint's events in the persistent outbox while it is disconnected
	// (when the hub has one); they are replayed in order on the next connection.
	Outbox bool
}

const (
	maxReconnectBackoff = 60 * time.Second
	stableConnection    = 30 * time.Second // a connection that lived this long resets the backoff
)

// RunReverseWS keeps the endpoint connected until ctx ends.
func (p *Pushers) RunReverseWS(ctx context.Context, ep ReverseWS, initialBackoff time.Duration) {
	if initialBackoff <= 0 {
		initialBackoff = time.Second
	}
	if ep.Role == "" {
		ep.Role = RoleUniversal
	}
	set := p.settings()
	log := set.Log.With("url", redact.URL(ep.URL), "version", ep.Version, "role", ep.Role)
	var feedBot *core.Entry
	switch {
	case ep.Version == 11:
		feedBot = p.host.BotBySelfID(ep.SelfID)
	case ep.Bot != "":
		feedBot = p.host.BotByUser(ep.Bot)
	}
	if feedBot == nil && (ep.Version == 11 || ep.Bot != "") {
		log.Error("reverse WebSocket for an unknown bot", "self_id", ep.SelfID, "bot", ep.Bot)
		return
	}
	var f *Feed
	if ep.Outbox && ep.Role != RoleAPI && set.Outbox != nil && set.OutboxLimits.MaxEvents > 0 {
		kind := "v12-ws"
		var bot id.UserID
		if feedBot != nil {
			bot = feedBot.Bot.UserID()
		}
		if ep.Version == 11 {
			kind = "v11-ws-" + strings.ToLower(ep.Role)
		}
		f = p.NewFeed(ctx, EndpointKey(kind, ep.URL, bot), ep.Version, bot, true, metrics.TransportReverseWS)
		defer f.Close()
	}
	retry := backoff.New(initialBackoff, maxReconnectBackoff)
	for ctx.Err() == nil {
		spec := ConnSpec{Transport: metrics.TransportReverseWS, Version: ep.Version, Role: ep.Role, Peer: redact.URL(ep.URL), Bot: feedBot, feed: f}
		started := time.Now()
		c, cork, err := p.dialReverse(ctx, ep)
		if err == nil {
			spec.Cork = cork
			err = p.ServeConn(ctx, c, spec)
			if time.Since(started) > stableConnection {
				retry.Reset()
			}
		}
		if ctx.Err() != nil {
			return
		}
		wait := retry.Next()
		if transport.TokenRefused(err) {
			log.Warn("reverse WebSocket refused by the endpoint; reconnecting", "error", errString(err, "closed by peer"), "in", wait.Round(time.Millisecond),
				"hint", "OneBot clients refuse this way a missing or wrong access token: set GATEWAY_PUSH_ACCESS_TOKEN (or this bot's onebot_push_access_token) to the token the client expects, e.g. NoneBot2's ONEBOT_V11_ACCESS_TOKEN / ONEBOT_V12_ACCESS_TOKEN")
		} else {
			log.Warn("reverse WebSocket disconnected; reconnecting", "error", errString(err, "closed by peer"), "in", wait.Round(time.Millisecond))
		}
		if await.Sleep(ctx, wait) != nil {
			return
		}
	}
}

func (p *Pushers) dialReverse(ctx context.Context, ep ReverseWS) (*websocket.Conn, *transport.CorkConn, error) {
	hdr := http.Header{}
	hdr.Set("User-Agent", core.Impl+"/"+p.settings().Version)
	if ep.AccessToken != "" {
		hdr.Set("Authorization", "Bearer "+ep.AccessToken)
	}
	opts := &websocket.DialOptions{HTTPHeader: hdr}
	if ep.Version == 12 {
		opts.Subprotocols = []string{"12." + core.Impl}
	} else {
		hdr.Set("X-Self-ID", strconv.FormatInt(ep.SelfID, 10))
		hdr.Set("X-Client-Role", ep.Role)
	}
	return transport.Dial(ctx, ep.URL, opts, 15*time.Second)
}
