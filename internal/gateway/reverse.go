package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/backoff"
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

// RoleAPI, RoleEvent and RoleUniversal are the v11 X-Client-Role values of a reverse WebSocket.
const (
	RoleUniversal = string(roleUniversal)
	RoleAPI       = string(roleAPI)
	RoleEvent     = string(roleEvent)
)

const (
	maxReconnectBackoff = 60 * time.Second
	stableConnection    = 30 * time.Second // a connection that lived this long resets the backoff
)

// RunReverseWS keeps the endpoint connected until ctx ends.
func (h *Hub) RunReverseWS(ctx context.Context, ep ReverseWS, initialBackoff time.Duration) {
	if initialBackoff <= 0 {
		initialBackoff = time.Second
	}
	if ep.Role == "" {
		ep.Role = RoleUniversal
	}
	log := h.log.With("url", redact.URL(ep.URL), "version", ep.Version, "role", ep.Role)
	var feedBot *botEntry
	switch {
	case ep.Version == 11:
		feedBot = h.reg.botBySelfID(ep.SelfID)
	case ep.Bot != "":
		feedBot = h.reg.botByUser(ep.Bot)
	}
	if feedBot == nil && (ep.Version == 11 || ep.Bot != "") {
		log.Error("reverse WebSocket for an unknown bot", "self_id", ep.SelfID, "bot", ep.Bot)
		return
	}
	var f *feed
	if ep.Outbox && ep.Role != RoleAPI && h.opts.Outbox != nil && h.opts.OutboxLimits.MaxEvents > 0 {
		kind := "v12-ws"
		var bot id.UserID
		if feedBot != nil {
			bot = feedBot.bot.UserID()
		}
		if ep.Version == 11 {
			kind = "v11-ws-" + strings.ToLower(ep.Role)
		}
		f = h.push.newFeed(ctx, endpointKey(kind, ep.URL, bot), ep.Version, bot, true, metrics.TransportReverseWS)
		defer f.close()
	}
	retry := backoff.New(initialBackoff, maxReconnectBackoff)
	for ctx.Err() == nil {
		spec := connSpec{transport: metrics.TransportReverseWS, version: ep.Version, role: role(ep.Role), peer: redact.URL(ep.URL), bot: feedBot, feed: f}
		started := time.Now()
		c, cork, err := h.push.dialReverse(ctx, ep)
		if err == nil {
			spec.cork = cork
			err = h.ws.serveConn(ctx, c, spec)
			if time.Since(started) > stableConnection {
				retry.Reset()
			}
		}
		if ctx.Err() != nil {
			return
		}
		wait := retry.Next()
		if tokenRefused(err) {
			log.Warn("reverse WebSocket refused by the endpoint; reconnecting", "error", errString(err, "closed by peer"), "in", wait.Round(time.Millisecond),
				"hint", "OneBot clients refuse this way a missing or wrong access token: set GATEWAY_PUSH_ACCESS_TOKEN (or this bot's onebot_push_access_token) to the token the client expects, e.g. NoneBot2's ONEBOT_V11_ACCESS_TOKEN / ONEBOT_V12_ACCESS_TOKEN")
		} else {
			log.Warn("reverse WebSocket disconnected; reconnecting", "error", errString(err, "closed by peer"), "in", wait.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (ps pushers) dialReverse(ctx context.Context, ep ReverseWS) (*websocket.Conn, *corkConn, error) {
	hdr := http.Header{}
	hdr.Set("User-Agent", Impl+"/"+ps.h.opts.Version)
	if ep.AccessToken != "" {
		hdr.Set("Authorization", "Bearer "+ep.AccessToken)
	}
	opts := &websocket.DialOptions{HTTPHeader: hdr}
	if ep.Version == 12 {
		opts.Subprotocols = []string{"12." + Impl}
	} else {
		hdr.Set("X-Self-ID", strconv.FormatInt(ep.SelfID, 10))
		hdr.Set("X-Client-Role", ep.Role)
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, cork, resp, err := dialCorked(dctx, ep.URL, opts)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		err = redactURLError(err, ep.URL)
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			err = &refusedError{err}
		}
		return nil, nil, err
	}
	return c, cork, nil
}

// refusedError is a dial the endpoint answered with 401 or 403.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// tokenRefused reports whether the endpoint refused the connection the way OneBot clients refuse
// a missing or wrong access token: 401/403 at the handshake, or a close with 1008 (policy
// violation), which NoneBot2 sends.
func tokenRefused(err error) bool {
	var re *refusedError
	return errors.As(err, &re) || websocket.CloseStatus(err) == websocket.StatusPolicyViolation
}

// redactedError is an error whose text had the secrets of a URL taken out; Unwrap still gives
// the original, for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactURLError hides the query (e.g. ?access_token=…) and password of rawURL in err's text: a
// dial error repeats the URL (net/http's *url.Error), and it is logged on every reconnect.
func redactURLError(err error, rawURL string) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		uerr.URL = redact.URL(uerr.URL)
	}
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil {
		secrets := []string{u.RawQuery, u.Fragment}
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p, url.QueryEscape(p))
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				secrets = append(secrets, v, url.QueryEscape(v))
			}
		}
		for _, s := range secrets {
			if len(s) >= 4 { // a short value would blank out ordinary words of the message
				msg = strings.ReplaceAll(msg, s, "REDACTED")
			}
		}
	}
	return &redactedError{msg: msg, err: err}
}
