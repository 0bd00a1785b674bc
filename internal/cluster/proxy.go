package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
)

// proxiedHeader marks a request one gateway sent on to another: it is never sent on again (an
// owner that moved meanwhile answers it as an unknown bot instead of a loop).
const proxiedHeader = "X-Gateway-Proxied"

// maxPeekBody bounds the v12 action body read to find the bot it names.
const maxPeekBody = 1 << 20

// Proxy sends a OneBot client's request for a bot this gateway does not run to the gateway that
// runs it (its GATEWAY_CLUSTER_URL): v11 HTTP actions and forward WebSockets at
// /onebot/v11/{self_id}/…, and v12 HTTP actions (POST /onebot/v12/) that name their bot in
// self.user_id. The owner checks the client's access token as if the client had come to it.
// A v12 forward WebSocket serves every bot of the gateway it connects to and is not proxied.
type Proxy struct {
	Local   func(bot string) bool                                   // the hub runs the bot
	V11User func(ctx context.Context, selfID int64) (string, error) // the bot of a v11 self_id
	Owner   func(ctx context.Context, bot string) (string, bool)    // the owner's URL
	Log     *slog.Logger
}

// Wrap returns next behind the proxy.
func (p *Proxy) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(proxiedHeader) != "" {
			next.ServeHTTP(w, r)
			return
		}
		bot := p.botOf(r)
		if bot == "" || p.Local(bot) {
			next.ServeHTTP(w, r)
			return
		}
		owner, ok := p.Owner(r.Context(), bot)
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

// botOf returns the bot a request names, or "".
func (p *Proxy) botOf(r *http.Request) string {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/onebot/v11/"); ok {
		first, _, _ := strings.Cut(rest, "/")
		n, err := strconv.ParseInt(first, 10, 64)
		if err != nil || n <= 0 {
			return ""
		}
		u, err := p.V11User(r.Context(), n)
		if err != nil {
			return ""
		}
		return u
	}
	if r.Method != http.MethodPost || strings.TrimSuffix(r.URL.Path, "/") != "/onebot/v12" || r.Body == nil {
		return ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPeekBody+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if err != nil || len(body) > maxPeekBody {
		return ""
	}
	var req struct {
		Self struct {
			UserID string `json:"user_id"`
		} `json:"self"`
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	return req.Self.UserID
}
