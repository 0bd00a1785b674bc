package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/matrix-onebot/gateway/api"
	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/calls"
	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/gateway/transport"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
)

// Handler returns the gateway's HTTP handler:
//
//	/healthz, /readyz                  process up; every bot syncing
//	/onebot/v12/                       v12 HTTP actions (POST) and forward WebSocket (GET upgrade)
//	/onebot/v11/                       v11 forward WebSocket, Universal
//	/onebot/v11/api, /onebot/v11/event v11 forward WebSocket, API or Event only
//	/onebot/v11/{action}               v11 HTTP actions (GET or POST)
//	/onebot/v11/{self_id}/…            the same for one bot when several are served
//	/media/{file_id}                   signed media links
//	/metrics                           Prometheus metrics (access token unless Options.MetricsPublic)
//	Options.OAuthCallback.Path         OAuth redirects, when set
//	/admin, /admin/…                   the admin page, when set (SetAdmin; internal/admin)
//
// The access log is first, then the cross-site guard (package web), the access token after it.
func (h *Hub) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(web.AccessLog(h.log, h.opts.AccessLogLevel, h.opts.AccessLogOff), middleware.Recoverer, h.guard.Middleware)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", h.web.handleReady)
	// Media links carry their own signature instead of the access token (files.go).
	r.Get("/media/{fileID}", h.web.handleMedia)
	r.Head("/media/{fileID}", h.web.handleMedia)
	if cb := h.opts.OAuthCallback; cb != nil {
		r.Handle(cb.Path, cb.Handler)
	}
	if h.admin != nil {
		// The admin page has its own login (the access token in a form, then a session
		// cookie), so it is outside requireToken; the guard lets only its own pages post to it.
		r.Handle("/admin", h.admin)
		r.Handle("/admin/*", h.admin)
	}
	r.Get("/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(api.OpenAPI)
	})

	metricsHandler := h.metrics.Handler()
	if h.opts.MetricsPublic {
		r.Get("/metrics", metricsHandler.ServeHTTP)
	}

	for _, f := range h.faces.all { // faces whose routes check the token themselves (face.PublicMounter)
		if m, ok := f.(face.PublicMounter); ok {
			m.MountPublic(r, faceHost{h})
		}
	}
	r.Group(func(r chi.Router) {
		r.Use(h.web.requireToken)
		if !h.opts.MetricsPublic {
			r.Get("/metrics", func(w http.ResponseWriter, r *http.Request) {
				if grantOf(r.Context()).bot != nil { // the metrics name every bot
					writeJSON(w, http.StatusForbidden, map[string]string{"error": "/metrics needs GATEWAY_ACCESS_TOKEN, not a bot's own token (or set GATEWAY_METRICS_PUBLIC=true)"})
					return
				}
				metricsHandler.ServeHTTP(w, r)
			})
		}
		for _, f := range h.faces.all { // faces with routes of their own (face.Mounter)
			if m, ok := f.(face.Mounter); ok {
				m.Mount(r, faceHost{h})
			}
		}
		r.HandleFunc("/onebot/v12", h.web.handleV12)
		r.HandleFunc("/onebot/v12/", h.web.handleV12)
		r.Route("/onebot/v11", func(r chi.Router) {
			mountV11 := func(r chi.Router) {
				r.Get("/", h.web.handleV11WS(push.RoleUniversal))
				r.Get("/api", h.web.handleV11WS(push.RoleAPI))
				r.Get("/event", h.web.handleV11WS(push.RoleEvent))
				r.HandleFunc("/{action}", h.web.handleV11HTTP)
			}
			r.Group(mountV11)
			r.Route("/{selfID:[0-9]+}", mountV11)
		})
	})
	return r
}

func (wf webFront) handleReady(w http.ResponseWriter, r *http.Request) {
	rep := wf.h.Ready()
	status := http.StatusOK
	if !rep.Ready {
		status = http.StatusServiceUnavailable
	}
	if !wf.h.guard.KnownHost(r.Host) {
		// /readyz needs no token, and with a token set the guard lets any Host through: a page
		// whose name was rebound to the gateway would read the bots and why they fail. A Host
		// that is not one of the gateway's names gets what a health check needs, no more.
		writeJSON(w, status, map[string]bool{"ready": rep.Ready})
		return
	}
	writeJSON(w, status, rep)
}

func (wf webFront) handleV12(w http.ResponseWriter, r *http.Request) {
	if web.IsUpgrade(r) {
		c, cork, err := transport.AcceptCorked(w, r, wf.acceptOptions())
		if err != nil {
			return // Accept has written the error
		}
		// A bot's own token makes a connection of that bot only: its events, its actions.
		_ = wf.h.push.ServeConn(r.Context(), c, push.ConnSpec{Version: 12, Bot: grantOf(r.Context()).bot, Role: push.RoleUniversal, Peer: r.RemoteAddr, Cork: cork, Open: grantOf(r.Context()).open})
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST for actions or a WebSocket upgrade"})
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be application/json"})
		return
	}
	body, ok := wf.readBody(w, r, 12, "")
	if !ok {
		return
	}
	defer body.release()
	w.Header().Set("Content-Type", "application/json")
	ctx := withClient(withHTTPTransport(r.Context()), httpClient(r)) // upload quotas are per token and address
	_, _ = w.Write(wf.h.calls.Frame(ctx, 12, grantOf(r.Context()).bot, body.data))
}

// acceptOptions are the forward WebSocket's: the guard has already refused every Origin not in
// AllowedOrigins; the library checks again.
func (wf webFront) acceptOptions() *websocket.AcceptOptions {
	return &websocket.AcceptOptions{OriginPatterns: web.OriginHosts(wf.h.opts.Web.AllowedOrigins)}
}

// readBody reads a request body within its limit and the process's bytes in flight, or answers
// 413, 503 or 400 itself.
func (wf webFront) readBody(w http.ResponseWriter, r *http.Request, version int, action string) (*request, bool) {
	req, err := wf.readRequest(r.Context(), r.Body, r.ContentLength, version, action)
	if err == nil {
		return req, true
	}
	var tooLarge *errRequestTooLarge
	switch {
	case errors.As(err, &tooLarge):
		wf.h.stats.TooLarge.Add(1)
		w.Header().Set("Connection", "close") // the rest of the body is not read
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": err.Error()})
	case errors.Is(err, web.ErrBusy):
		wf.h.stats.Busy.Add(1)
		w.Header().Set("Retry-After", "5")
		w.Header().Set("Connection", "close")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "failed to read the request body: " + err.Error()})
	}
	return nil, false
}

// v11Bot picks the bot of a v11 request: the {selfID} in the path, or the bot of the request's
// token, or the only bot. A bot the token does not grant is 403.
func (wf webFront) v11Bot(w http.ResponseWriter, r *http.Request) *botEntry {
	g := grantOf(r.Context())
	if s := chi.URLParam(r, "selfID"); s != "" {
		n, _ := strconv.ParseInt(s, 10, 64)
		b := wf.h.reg.botBySelfID(n)
		switch {
		case b != nil && g.allows(b):
			return b
		case g.bot != nil: // the same answer whether or not the bot exists
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "this access token is for another bot (self_id " + strconv.FormatInt(g.bot.SelfID, 10) + ")"})
		default:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no bot with self_id " + s})
		}
		return nil
	}
	if g.bot != nil {
		return g.bot
	}
	if b := wf.h.reg.defaultBot(); b != nil {
		return b
	}
	if pb := wf.h.reg.pendingBot(); pb != nil { // the only bot has not logged in yet
		msg := calls.PendingError(pb).Error()
		if chi.URLParam(r, "action") == "get_status" {
			writeJSON(w, http.StatusOK, v11Response{Status: "ok", Retcode: v11OK, Data: ob11.PendingStatus(pb)})
			return nil
		}
		if web.IsUpgrade(r) { // a WebSocket client tries again later
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": msg})
			return nil
		}
		// An action answered as actions fail, so that the framework shows the reason.
		writeJSON(w, http.StatusOK, v11Response{Status: "failed", Retcode: v11Failed, Msg: msg, Wording: msg})
		return nil
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "several bots are served here: use /onebot/v11/{self_id}/"})
	return nil
}

func (wf webFront) handleV11WS(ro string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		bot := wf.v11Bot(w, r)
		if bot == nil {
			return
		}
		if !web.IsUpgrade(r) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "WebSocket upgrade expected"})
			return
		}
		c, cork, err := transport.AcceptCorked(w, r, wf.acceptOptions())
		if err != nil {
			return
		}
		_ = wf.h.push.ServeConn(r.Context(), c, push.ConnSpec{Version: 11, Bot: bot, Role: ro, Peer: r.RemoteAddr, Cork: cork, Open: grantOf(r.Context()).open})
	}
}

// handleV11HTTP serves /:action with params from the query, a form or a JSON body.
func (wf webFront) handleV11HTTP(w http.ResponseWriter, r *http.Request) {
	bot := wf.v11Bot(w, r)
	if bot == nil {
		return
	}
	action := chi.URLParam(r, "action")
	if !calls.KnownV11(action) { // _async, _rate_limited
		writeJSON(w, http.StatusNotFound, v11Response{Status: "failed", Retcode: v11UnsupportedAction, Msg: "unsupported action: " + action})
		return
	}
	params := map[string]any{}
	for k, v := range r.URL.Query() {
		if k != "access_token" && len(v) > 0 {
			params[k] = v[0]
		}
	}
	var raw json.RawMessage
	if r.Method == http.MethodPost {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch mt {
		case "application/json":
			req, ok := wf.readBody(w, r, 11, action)
			if !ok {
				return
			}
			defer req.release()
			body := req.data
			if len(bytes.TrimSpace(body)) > 0 {
				var obj map[string]json.RawMessage
				if err := json.Unmarshal(body, &obj); err != nil {
					writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body is not a JSON object: " + err.Error()})
					return
				}
				for k, v := range obj {
					params[k] = v
				}
			}
		case "application/x-www-form-urlencoded":
			req, ok := wf.readBody(w, r, 11, action)
			if !ok {
				return
			}
			defer req.release()
			form, err := url.ParseQuery(string(req.data))
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad form: " + err.Error()})
				return
			}
			for k, v := range form {
				if len(v) > 0 {
					params[k] = v[0]
				}
			}
		case "":
		default:
			writeJSON(w, http.StatusNotAcceptable, map[string]string{"error": "Content-Type must be application/json or application/x-www-form-urlencoded"})
			return
		}
	} else if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET or POST"})
		return
	}
	raw = mustJSON(params)
	resp := wf.h.calls.RunV11(withHTTPTransport(r.Context()), bot, &v11Request{Action: action, Params: raw})
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(mustJSON(v))
}

// httpTransportKey marks a context as coming from an HTTP action request.
type httpTransportKey struct{}

func withHTTPTransport(ctx context.Context) context.Context {
	return context.WithValue(ctx, httpTransportKey{}, true)
}

func fromHTTP(ctx context.Context) bool {
	v, _ := ctx.Value(httpTransportKey{}).(bool)
	return v
}
