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

	"github.com/matrix-onebot/gateway/internal/await"
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
// query per request, whatever self_id or bot a client names; no request waits for the first
// map: Prime reads it before the gateway serves, and a request that needs a map before any is
// known is answered 503 with Retry-After), and the body of a v12 action is read within the
// process's budget of request bytes (GATEWAY_MAX_BYTES_IN_FLIGHT), at most MaxBody bytes of it,
// held until the request is sent on, or given back before the request is served here (where
// the hub counts it again as it reads it).
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
	// Key is the key the gateways of the cluster share (ClusterKey): a request sent on carries
	// web.ProxyMark of its client under it, so that the owner limits wrong tokens by that
	// client (web.AuthLimiter.TrustProxies with the same key), not by this gateway as a whole.
	Key []byte

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
		if release == nil {
			release = func() {}
		}
		here := func() {
			release() // the hub counts the body again as it reads it: once, not twice
			next.ServeHTTP(w, r)
		}
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			switch {
			case errors.Is(err, face.ErrBusy):
				w.Header().Set("Retry-After", "5")
				w.Header().Set("Connection", "close")
				w.WriteHeader(http.StatusServiceUnavailable)
			case errors.Is(err, errNoMapYet):
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
			default:
				w.WriteHeader(http.StatusBadRequest)
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		if bot == "" || p.Local(bot) {
			here()
			return
		}
		owner, ok := p.owners(true).byBot[bot]
		if !ok {
			here() // no owner now: answered as an unknown bot
			return
		}
		target, err := url.Parse(owner)
		if err != nil {
			here()
			return
		}
		defer release()
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				// The owner's cross-site guard judges the request as the client sent it: with the
				// client's Host (a rebound DNS name is refused there when no access token is
				// set), not the owner's own address, which it always takes for one of its names.
				pr.Out.Host = pr.In.Host
				pr.SetXForwarded()
				pr.Out.Header.Set(proxiedHeader, web.ProxyMark(p.Key, web.ForwardedClient(pr.Out.Header)))
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				p.Log.Warn("cluster: the gateway that runs the bot did not answer", "bot", bot, "owner", owner, "error", err)
				http.Error(w, `{"status":"failed","retcode":34002,"message":"the gateway that runs this bot did not answer"}`, http.StatusBadGateway)
			},
		}
		rp.ServeHTTP(w, r)
	})
}

// errNoMapYet: a request needs the owner map before the first one has been read.
var errNoMapYet = errors.New("this gateway is still reading which gateway of the cluster runs which bot; try again in a second")

// ownerReadTimeout bounds one read of the owners.
const ownerReadTimeout = 5 * time.Second

// staleWait is how long the request that finds the map stale waits for the new one.
const staleWait = 500 * time.Millisecond

// Prime reads the first owner map (waiting at most 5 s), so that no request meets a proxy that
// knows no map yet. Call it before the gateway serves.
func (p *Proxy) Prime(ctx context.Context) {
	p.refreshing.Lock()
	defer p.refreshing.Unlock()
	p.read(ctx)
}

// Elsewhere returns the bots that live gateways with a URL run (this one's too), from the map
// the requests use (get_status's matrix.elsewhere: never a query of its own); ok is false while
// no map has been read yet.
func (p *Proxy) Elsewhere() (bots []string, ok bool) {
	snap := p.owners(false)
	if snap == nil {
		return nil, false
	}
	bots = make([]string, 0, len(snap.byBot))
	for bot := range snap.byBot {
		bots = append(bots, bot)
	}
	return bots, true
}

// owners returns the owner map, read again when it is older than Refresh. With wait set, the one
// caller that starts the read waits for it up to staleWait (a bot that just moved is found where
// it runs now), then goes on with the old map, as the others do meanwhile; without, the read is
// in the background. No caller waits for the first map: until it is read (Prime, or in the
// background), owners returns nil. When a read fails, the old map is kept for another Refresh
// (the database is not asked again by every request meanwhile).
func (p *Proxy) owners(wait bool) *ownerMap {
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
	if !p.refreshing.TryLock() {
		return snap
	}
	readAgain := func() {
		p.mu.Lock()
		fresh := p.snap != nil && time.Since(p.snap.at) < refresh // read meanwhile
		p.mu.Unlock()
		if !fresh {
			p.read(context.Background())
		}
	}
	done := make(chan struct{})
	go func() {
		defer p.refreshing.Unlock()
		defer close(done)
		readAgain()
	}()
	if snap == nil || !wait || !await.Closed(done, time.Now().Add(staleWait)) {
		return snap
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snap
}

// read reads the owners into a new map (p.refreshing held).
func (p *Proxy) read(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ownerReadTimeout)
	defer cancel()
	p.mu.Lock()
	snap := p.snap
	p.mu.Unlock()
	next := &ownerMap{at: time.Now(), byV11: map[int64]string{}}
	byBot, err := p.Owners(ctx)
	if err != nil {
		p.Log.Warn("cluster: failed to read which gateway runs which bot; keeping the last map (get_status's matrix.elsewhere comes from it); check the PostgreSQL connection (GATEWAY_DATABASE)", "error", err)
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
		snap := p.owners(true)
		if snap == nil {
			return "", nil, errNoMapYet
		}
		return snap.byV11[n], nil, nil
	}
	if r.Method == http.MethodGet && strings.TrimSuffix(r.URL.Path, "/") == "/onebot/v12" && p.TokenBot != nil &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		// A forward WebSocket: its token may scope it to one bot.
		snap := p.owners(true)
		if snap != nil && len(snap.byBot) == 0 {
			return "", nil, nil
		}
		if tok, ok := web.PresentedToken(r); ok && tok != "" {
			bot := p.TokenBot(tok)
			if bot != "" && snap == nil && !p.Local(bot) {
				return "", nil, errNoMapYet
			}
			return bot, nil, nil
		}
		return "", nil, nil
	}
	if r.Method != http.MethodPost || strings.TrimSuffix(r.URL.Path, "/") != "/onebot/v12" || r.Body == nil {
		return "", nil, nil
	}
	// Only bots run elsewhere are worth a read of the body.
	snap := p.owners(true)
	if snap != nil && len(snap.byBot) == 0 {
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
		bot = req.Self.UserID
	} else {
		bot = peekSelf(body)
	}
	if snap == nil && bot != "" && !p.Local(bot) {
		release()
		return "", nil, errNoMapYet
	}
	return bot, release, nil
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
