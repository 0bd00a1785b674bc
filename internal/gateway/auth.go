package gateway

import (
	"context"
	"net/http"
	"strconv"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/metrics"
)

// Access tokens of the gateway's own server. GATEWAY_ACCESS_TOKEN grants every bot; a bot's
// onebot_access_token grants that bot only: its HTTP actions, its forward WebSocket and its
// /onebot/v11/{self_id}/ paths, and nothing of another bot (403, v12 retcode 10102).

// grant is what the token of a request allows.
type grant struct {
	bot *botEntry // nil = every bot
	// open is set when the request was let in without a token because none was needed then:
	// a connection it opened ends once tokens are needed (whenTokensNeeded).
	open bool
}

type grantKey struct{}

func withGrant(ctx context.Context, g grant) context.Context {
	return context.WithValue(ctx, grantKey{}, g)
}

// grantOf returns the grant requireToken put in the request's context (every bot when none).
func grantOf(ctx context.Context) grant {
	g, _ := ctx.Value(grantKey{}).(grant)
	return g
}

// allows reports whether the grant covers bot b.
func (g grant) allows(b *botEntry) bool { return g.bot == nil || g.bot == b }

// authRequired reports whether requests must carry a token: when the global token or any
// bot's own token is configured (at start, or with a bot added since). Once a bot's own token
// made them required, they stay required until a restart, also when that bot is removed: a
// reload or an admin removal never opens a gateway that had tokens to requests without one.
func (wf webFront) authRequired() bool {
	if wf.h.opts.AccessToken != "" || wf.h.opts.BotTokens || wf.h.tokensLatched.Load() {
		return true
	}
	if wf.h.tokenBots.Load() > 0 {
		wf.h.tokensLatched.Store(true)
		return true
	}
	return false
}

// whyTokensRequired is the close reason of the connections admitted without a token when the
// first bot with a token of its own joined a gateway that needed none.
const whyTokensRequired = "access tokens are required now (a bot with its own onebot_access_token was added): reconnect with a token"

// closeUnauthenticated closes the connections a client opened while requests needed no token
// (forward WebSockets of OneBot and the other faces' streams, face.TokenWatcher): they were granted every bot,
// including the one whose token now guards it. Connections the gateway dials, webhooks and
// get_latest_events buffers (polled with a token from now on) stay.
func (wf webFront) closeUnauthenticated() {
	wf.h.openMu.Lock()
	close(wf.h.tokensNeeded) // the connections let in without a token that are not sinks yet
	wf.h.tokensNeeded = make(chan struct{})
	wf.h.openMu.Unlock()
	for _, f := range wf.h.faces.all { // the streams the faces serve themselves (Satori's)
		if tw, ok := f.(face.TokenWatcher); ok {
			tw.TokensRequired(whyTokensRequired)
		}
	}
	wf.h.sinksMu.RLock()
	defer wf.h.sinksMu.RUnlock()
	n := 0
	for s := range wf.h.sinks {
		// Feeds of endpoints the gateway dials, the faces' own streams (a client of theirs is the
		// face's to close, above) and get_latest_events buffers are not client connections.
		if s.Lasting() {
			continue
		}
		switch s.Transport {
		case metrics.TransportReverseWS, metrics.TransportWebhook, metrics.TransportLatest:
			continue
		}
		s.Close(whyTokensRequired)
		n++
	}
	wf.h.log.Info("a bot with its own access token joined: requests need a token from now on", "connections_closed", n)
}

// whenTokensNeeded closes s, a connection let in without a token, once requests need one: at
// once when they do already (the first bot with a token joined between the request's check and
// now), else when closeUnauthenticated runs. It returns when s is closed either way.
func (wf webFront) whenTokensNeeded(s *sink) {
	wf.h.openMu.Lock()
	needed := wf.h.tokensNeeded
	wf.h.openMu.Unlock()
	if wf.authRequired() {
		s.Close(whyTokensRequired)
		return
	}
	select {
	case <-needed:
		s.Close(whyTokensRequired)
	case <-s.Done():
	}
}

// requireToken checks `Authorization: Bearer|Token <t>` or `?access_token=`: 401 when missing,
// 403 when wrong, as both OneBot specs say; 429 once the client's address presented too many
// wrong tokens lately (web.AuthLimiter, shared with the Satori face). The grant of the token goes into the context.
func (wf webFront) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !wf.authRequired() {
			next.ServeHTTP(w, r.WithContext(withGrant(r.Context(), grant{open: true})))
			return
		}
		if !wf.h.authFails.AllowedRequest(r) {
			w.Header().Set("Retry-After", strconv.Itoa(wf.h.authFails.RetryAfter()))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many wrong access tokens from this address: try again later"})
			return
		}
		tok, ok := web.PresentedToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="onebot"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "access token required"})
			return
		}
		g, ok := wf.checkToken(tok)
		if !ok {
			wf.h.authFails.FailedRequest("onebot", r)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "access token wrong"})
			return
		}
		next.ServeHTTP(w, r.WithContext(withGrant(r.Context(), g)))
	})
}

// checkToken finds what a presented token grants. Every configured token is compared
// (web.Presented: in constant time), also after a match.
func (wf webFront) checkToken(presented string) (grant, bool) {
	if presented == "" {
		return grant{}, false
	}
	p := web.Present(presented)
	matched, g := p.Matches(wf.h.opts.AccessToken), grant{}
	for _, b := range wf.h.reg.botList() {
		if p.Matches(b.Token) && !matched {
			matched, g = true, grant{bot: b}
		}
	}
	return g, matched
}
