package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
)

// proxiedHeader marks a request one gateway sent on to another: it is never sent on again (an
// owner that moved meanwhile answers it as an unknown bot instead of a loop).
const proxiedHeader = web.ProxiedHeader

// DefaultRefresh is how old the proxy's map of owners may get before it is read again.
const DefaultRefresh = 2 * time.Second

// Proxy sends a OneBot client's request for a bot this gateway does not run to the gateway that
// runs it (its GATEWAY_CLUSTER_URL): v11 HTTP actions and forward WebSockets at
// /onebot/v11/{self_id}/…, and v12 HTTP actions (POST /onebot/v12/) that name their bot in
// self.user_id, and v12 forward WebSockets (GET /onebot/v12/) whose access token is one bot's
// own onebot_access_token (TokenBot), which scopes the connection to that bot. The owner checks
// the client's access token as if the client had come to it. A v12 forward WebSocket with the
// gateway's token (every bot) is served here, for the bots this gateway runs (get_status and the
// status_update frames list them): such a client connects to every gateway of the cluster.
//
// Everything the proxy does comes before authentication, so it costs a client little: which
// gateway runs which bot is a map read from the database at most once per Refresh (never a
// query per request, whatever self_id or bot a client names), and the body of a v12 action is
// read within the process's budget of request bytes (GATEWAY_MAX_BYTES_IN_FLIGHT), at most
// MaxBody bytes of it, held until the request is done.
type Proxy struct {
	Local  func(bot string) bool                                // the hub runs the bot
	Owners func(ctx context.Context) (map[string]string, error) // every live bot run elsewhere → its owner's URL
	V11ID  func(ctx context.Context, bot string) (int64, error) // the v11 self_id of a bot
	// TokenBot returns the bot whose own onebot_access_token token is ("" = none; compared in
	// constant time); nil = no bot has one.
	TokenBot func(token string) string
	Body     face.BodyReader // the budget of request bytes
	// MaxBody is how much of a v12 action body is read to find its bot (GATEWAY_MAX_ACTION_SIZE);
	// a larger body (an upload) names its bot before that or is served here.
	MaxBody int64
	Refresh time.Duration // DefaultRefresh when 0
	Log     *slog.Logger

	refreshing sync.Mutex // one read of the owners at a time
	mu         sync.Mutex
	snap       *ownerMap
}

// ownerMap is the owners as read at one moment.
type ownerMap struct {
	at    time.Time
	byBot map[string]string // bot → owner URL
	byV11 map[int64]string  // v11 self_id → bot
}

// Wrap returns next behind the proxy.
func (p *Proxy) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(proxiedHeader) != "" {
			next.ServeHTTP(w, r)
			return
		}
		bot, release, err := p.botOf(r)
		if release != nil {
			defer release()
		}
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			if errors.Is(err, face.ErrBusy) {
				w.Header().Set("Retry-After", "5")
				w.Header().Set("Connection", "close")
				w.WriteHeader(http.StatusServiceUnavailable)
			} else {
				w.WriteHeader(http.StatusBadRequest)
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		if bot == "" || p.Local(bot) {
			next.ServeHTTP(w, r)
			return
		}
		owner, ok := p.owners(r.Context()).byBot[bot]
		if !ok {
			next.ServeHTTP(w, r) // no owner now: answered as an unknown bot
			return
		}
		target, err := url.Parse(owner)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				// The owner's cross-site guard judges the request as the client sent it: with the
				// client's Host (a rebound DNS name is refused there when no access token is
				// set), not the owner's own address, which it always takes for one of its names.
				pr.Out.Host = pr.In.Host
				pr.SetXForwarded()
				pr.Out.Header.Set(proxiedHeader, "1")
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				p.Log.Warn("cluster: the gateway that runs the bot did not answer", "bot", bot, "owner", owner, "error", err)
				http.Error(w, `{"status":"failed","retcode":34002,"message":"the gateway that runs this bot did not answer"}`, http.StatusBadGateway)
			},
		}
		rp.ServeHTTP(w, r)
	})
}

// owners returns the owner map, read again when it is older than Refresh. While one request
// reads it, the others go on with the old one; when a read fails, the old map is kept for
// another Refresh (the database is not asked again by every request meanwhile).
func (p *Proxy) owners(ctx context.Context) *ownerMap {
	refresh := p.Refresh
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	p.mu.Lock()
	snap := p.snap
	p.mu.Unlock()
	if snap != nil && time.Since(snap.at) < refresh {
		return snap
	}
	if snap != nil {
		if !p.refreshing.TryLock() {
			return snap
		}
	} else {
		p.refreshing.Lock()
	}
	defer p.refreshing.Unlock()
	p.mu.Lock()
	snap = p.snap
	p.mu.Unlock()
	if snap != nil && time.Since(snap.at) < refresh {
		return snap // read meanwhile
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	next := &ownerMap{at: time.Now(), byV11: map[int64]string{}}
	byBot, err := p.Owners(ctx)
	if err != nil {
		p.Log.Warn("cluster: failed to read which gateway runs which bot; keeping the last map", "error", err)
		next.byBot = map[string]string{}
		if snap != nil {
			next.byBot, next.byV11 = snap.byBot, snap.byV11
		}
	} else {
		next.byBot = byBot
		for bot := range byBot {
			if n, err := p.V11ID(ctx, bot); err == nil {
				next.byV11[n] = bot
			}
		}
	}
	p.mu.Lock()
	p.snap = next
	p.mu.Unlock()
	return next
}

// botOf returns the bot a request names, or "". release, when not nil, gives back the bytes of
// the body held in the budget: call it once the request is done.
func (p *Proxy) botOf(r *http.Request) (bot string, release func(), err error) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/onebot/v11/"); ok {
		first, _, _ := strings.Cut(rest, "/")
		n, err := strconv.ParseInt(first, 10, 64)
		if err != nil || n <= 0 {
			return "", nil, nil
		}
		return p.owners(r.Context()).byV11[n], nil, nil
	}
	if r.Method == http.MethodGet && strings.TrimSuffix(r.URL.Path, "/") == "/onebot/v12" && p.TokenBot != nil &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		// A forward WebSocket: its token may scope it to one bot.
		if len(p.owners(r.Context()).byBot) == 0 {
			return "", nil, nil
		}
		if tok, ok := web.PresentedToken(r); ok && tok != "" {
			return p.TokenBot(tok), nil, nil
		}
		return "", nil, nil
	}
	if r.Method != http.MethodPost || strings.TrimSuffix(r.URL.Path, "/") != "/onebot/v12" || r.Body == nil {
		return "", nil, nil
	}
	// Only bots run elsewhere are worth a read of the body.
	if len(p.owners(r.Context()).byBot) == 0 {
		return "", nil, nil
	}
	limit := p.MaxBody
	body, release, err := p.Body.ReadBody(r.Context(), io.LimitReader(r.Body, limit), limit)
	if err != nil {
		return "", nil, err
	}
	whole := int64(len(body)) < limit
	if !whole { // is there more?
		var one [1]byte
		n, _ := io.ReadFull(r.Body, one[:])
		whole = n == 0
		r.Body = readCloser{io.MultiReader(bytes.NewReader(body), bytes.NewReader(one[:n]), r.Body), r.Body}
	} else {
		r.Body = readCloser{bytes.NewReader(body), r.Body}
	}
	if whole {
		var req struct {
			Self struct {
				UserID string `json:"user_id"`
			} `json:"self"`
		}
		if json.Unmarshal(body, &req) != nil {
			return "", release, nil
		}
		return req.Self.UserID, release, nil
	}
	return peekSelf(body), release, nil
}

// readCloser reads r and closes c.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (rc readCloser) Close() error { return rc.c.Close() }

// peekSelf finds self.user_id of a JSON object from the start of it (a body too large to read
// whole, such as an upload: its self must come before the file), or "".
func peekSelf(prefix []byte) string {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return ""
		}
		if key, _ := t.(string); key == "self" {
			var self struct {
				UserID string `json:"user_id"`
			}
			if json.Unmarshal(value, &self) != nil {
				return ""
			}
			return self.UserID
		}
	}
	return ""
}
