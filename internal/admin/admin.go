// Package admin serves the operator's page at /admin: each bot's state, device and E2EE status,
// the OneBot connections and queues, the last events, and buttons to reconnect a bot and to log
// it in (password, OAuth device flow, OAuth authorization-code flow) without a terminal on the
// server; with a BotEditor backend also forms to add and remove a bot and to reload (edit.go). HTML from html/template, no script, no external assets.
//
// Security: the page is refused without GATEWAY_ACCESS_TOKEN. The operator logs in with the
// access token in a form (compared in constant time, failures rate-limited per address, an IPv6
// /64 as one: web.AuthLimiter), which starts a session: a random cookie (HttpOnly,
// SameSite=Strict, Path=/admin, Secure when the public URL is https) that expires. Every form
// carries the session's CSRF token, checked in constant time. The hub's guard refuses requests
// from other sites before they get here. Responses carry CSP default-src 'self' and are never cached.
package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/matrix-onebot/gateway/internal/gateway/adminview"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
)

//go:embed templates/*.html static/admin.css
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
}).ParseFS(files, "templates/*.html"))

// Bot is one bot's line on the page.
type Bot struct {
	Index    int
	Name     string
	UserID   string
	DeviceID string
	State    string
	Reason   string
	Since    time.Time
	E2EE     E2EE
	// Methods are the login methods the page offers: "password", "oauth".
	Methods []string
	Login   LoginStatus
}

// E2EE is a bot's end-to-end encryption status.
type E2EE struct {
	Enabled       bool
	CrossSigned   bool
	BackupVersion string // "" = no key backup
	Held          int    // events waiting for their keys
}

// LoginStatus is the state of the last login started from the page.
type LoginStatus struct {
	Running   bool
	Method    string
	URL       string // authorization URL (code flow) or verification URL (device flow)
	UserCode  string // device flow
	Expires   time.Time
	Error     string
	Succeeded bool
	Finished  time.Time
}

// Backend is what the page reads and does; cmd/gateway implements it over the bots' sessions.
type Backend interface {
	Bots(ctx context.Context) []Bot
	// Reconnect stops the bot's sync (and login) and starts it again at once.
	Reconnect(index int) error
	// Login logs bot index in with method ("password", "oauth-device", "oauth-code"), stores
	// the session and reconnects the bot. user and password are for "password". It shows what
	// the operator must open through p while it waits.
	Login(ctx context.Context, index int, method, user, password string, p Prompt) error
}

// Prompt receives what an OAuth login asks the operator to open.
type Prompt interface {
	ShowURL(authURL string)
	ShowUserCode(verificationURI, complete, userCode string, expiresIn time.Duration)
}

// Options configure the page.
type Options struct {
	AccessToken string // GATEWAY_ACCESS_TOKEN; "" = the page is refused
	Secure      bool   // GATEWAY_PUBLIC_URL is https: the cookie is Secure
	SessionTTL  time.Duration
	Backend     Backend
	Hub         interface {
		AdminView(ctx context.Context) adminview.View
	}
	Logger *slog.Logger
	Now    func() time.Time
	// Limiter counts failed logins per client address (IPv4 address, IPv6 /64); the gateway
	// passes the one its OneBot and Satori faces share (the token is the same, so is the
	// budget of guesses, and its failures show in /metrics). Nil: one of the page's own, of
	// loginFailLimit failures per loginFailWindow.
	Limiter *web.AuthLimiter
}

const (
	cookieName       = "gateway_admin"
	defaultTTL       = 8 * time.Hour
	maxSessions      = 64
	loginFailLimit   = 5 // failed logins per address per window, when Options.Limiter is nil
	loginFailWindow  = time.Minute
	maxFormBody      = 16 << 10
	loginRunTimeout  = 15 * time.Minute
	maxPasswordBytes = 1024
)

// Handler serves /admin.
type Handler struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	mu       sync.Mutex
	sessions map[string]*session // by cookie value
	logins   map[int]*LoginStatus
}

type session struct {
	csrf    string
	expires time.Time
}

// New returns the admin page's handler.
func New(opts Options) *Handler {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = defaultTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Limiter == nil {
		opts.Limiter = web.NewAuthLimiter(opts.Logger)
		opts.Limiter.Limit, opts.Limiter.Window, opts.Limiter.Now = loginFailLimit, loginFailWindow, opts.Now
	}
	h := &Handler{opts: opts, log: opts.Logger, sessions: map[string]*session{}, logins: map[int]*LoginStatus{}}
	m := http.NewServeMux()
	m.HandleFunc("GET /admin", h.page)
	m.HandleFunc("GET /admin/{$}", h.page)
	m.HandleFunc("GET /admin/admin.css", h.css)
	m.HandleFunc("POST /admin/login", h.login)
	m.HandleFunc("POST /admin/logout", h.withSession(h.logout))
	m.HandleFunc("POST /admin/bots/{index}/reconnect", h.withSession(h.reconnect))
	m.HandleFunc("POST /admin/bots/{index}/login", h.withSession(h.botLogin))
	m.HandleFunc("POST /admin/bots", h.withSession(h.addBot))
	m.HandleFunc("POST /admin/bots/{index}/remove", h.withSession(h.removeBot))
	m.HandleFunc("POST /admin/reload", h.withSession(h.reload))
	h.mux = m
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	if h.opts.AccessToken == "" {
		http.Error(w, "The admin page is off because no access token is set: set GATEWAY_ACCESS_TOKEN to use it.", http.StatusForbidden)
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) css(w http.ResponseWriter, r *http.Request) {
	b, _ := files.ReadFile("static/admin.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(b)
}

// current returns the request's session, or nil.
func (h *Handler) current(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[c.Value]
	if s == nil {
		return nil
	}
	if !h.opts.Now().Before(s.expires) {
		delete(h.sessions, c.Value)
		return nil
	}
	return s
}

// withSession runs next for a POST with a live session and the session's CSRF token.
func (h *Handler) withSession(next func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := h.current(r)
		if s == nil {
			http.Error(w, "Your admin session has ended: log in again at /admin.", http.StatusUnauthorized)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "The form could not be read.", http.StatusBadRequest)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
			h.log.Warn("admin page: a form without the session's CSRF token was refused", "path", r.URL.Path, "peer", r.RemoteAddr)
			http.Error(w, "The form's CSRF token is missing or wrong: reload /admin and try again.", http.StatusForbidden)
			return
		}
		next(w, r, s)
	}
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	s := h.current(r)
	if s == nil {
		_ = pages.ExecuteTemplate(w, "login.html", map[string]any{"Error": r.URL.Query().Get("error") != ""})
		return
	}
	bots := h.opts.Backend.Bots(r.Context())
	h.mu.Lock()
	for i := range bots {
		if l := h.logins[bots[i].Index]; l != nil {
			bots[i].Login = *l
		}
	}
	h.mu.Unlock()
	var view adminview.View
	if h.opts.Hub != nil {
		view = h.opts.Hub.AdminView(r.Context())
	}
	events := map[string][]adminview.Event{}
	for u, l := range view.LastEvents {
		// newest first
		rev := make([]adminview.Event, len(l))
		for i, e := range l {
			rev[len(l)-1-i] = e
		}
		events[string(u)] = rev
	}
	err := pages.ExecuteTemplate(w, "index.html", map[string]any{
		"CSRF": s.csrf, "Bots": bots, "Connections": view.Connections, "Events": events,
		"Message": r.URL.Query().Get("m"), "Editable": isEditor(h.opts.Backend),
	})
	if err != nil {
		h.log.Error("admin page: failed to render", "error", err)
	}
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	// Failures count per address only: a global cap would let anyone who reaches /admin lock
	// the operator out from everywhere. The limiter logs an address once per window, when it
	// reaches the limit and is refused from then on.
	now := h.opts.Now()
	if !h.opts.Limiter.AllowedRequest(r) {
		w.Header().Set("Retry-After", strconv.Itoa(h.opts.Limiter.RetryAfter()))
		http.Error(w, "Too many failed logins: wait a minute and try again.", http.StatusTooManyRequests)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	if !h.tokenOK(r.PostFormValue("token")) {
		h.opts.Limiter.FailedRequest("admin", r)
		h.log.Warn("admin page: login with a wrong access token", "peer", r.RemoteAddr)
		http.Redirect(w, r, "/admin?error=1", http.StatusSeeOther)
		return
	}
	value, csrf := randomToken(), randomToken()
	h.mu.Lock()
	for k, s := range h.sessions { // expired ones go; the oldest goes when there are too many
		if !now.Before(s.expires) {
			delete(h.sessions, k)
		}
	}
	if len(h.sessions) >= maxSessions {
		var oldest string
		for k, s := range h.sessions {
			if oldest == "" || s.expires.Before(h.sessions[oldest].expires) {
				oldest = k
			}
		}
		delete(h.sessions, oldest)
	}
	h.sessions[value] = &session{csrf: csrf, expires: now.Add(h.opts.SessionTTL)}
	h.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/admin", MaxAge: int(h.opts.SessionTTL.Seconds()),
		Expires: now.Add(h.opts.SessionTTL), HttpOnly: true, Secure: h.opts.Secure, SameSite: http.SameSiteStrictMode,
	})
	h.log.Info("admin page: operator logged in", "peer", r.RemoteAddr)
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

// tokenOK compares a typed token with GATEWAY_ACCESS_TOKEN as the API does (web.Presented: SHA-256
// digests in constant time), so that the time taken does not tell the token's length either
// (subtle.ConstantTimeCompare of the strings answers at once when the lengths differ).
func (h *Handler) tokenOK(typed string) bool {
	return web.Present(typed).Matches(h.opts.AccessToken)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	if c, err := r.Cookie(cookieName); err == nil {
		h.mu.Lock()
		delete(h.sessions, c.Value)
		h.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/admin", MaxAge: -1, HttpOnly: true,
		Secure: h.opts.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

func (h *Handler) botIndex(w http.ResponseWriter, r *http.Request) (int, bool) {
	i, err := strconv.Atoi(r.PathValue("index"))
	if err == nil {
		for _, b := range h.opts.Backend.Bots(r.Context()) {
			if b.Index == i {
				return i, true
			}
		}
	}
	http.Error(w, "There is no such bot.", http.StatusNotFound)
	return 0, false
}

func (h *Handler) reconnect(w http.ResponseWriter, r *http.Request, _ *session) {
	i, ok := h.botIndex(w, r)
	if !ok {
		return
	}
	if err := h.opts.Backend.Reconnect(i); err != nil {
		http.Error(w, "Reconnect failed: "+err.Error(), http.StatusConflict)
		return
	}
	h.log.Info("admin page: bot reconnected by the operator", "bot", i)
	http.Redirect(w, r, "/admin?m=reconnecting", http.StatusSeeOther)
}

// webPrompt records what an OAuth login asks the operator to open, for the page to show.
type webPrompt struct {
	h     *Handler
	index int
}

func (p webPrompt) ShowURL(u string) {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	if l := p.h.logins[p.index]; l != nil {
		l.URL = u
	}
}

func (p webPrompt) ShowUserCode(uri, complete, code string, expiresIn time.Duration) {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	if l := p.h.logins[p.index]; l != nil {
		l.URL, l.UserCode, l.Expires = uri, code, p.h.opts.Now().Add(expiresIn)
		if complete != "" {
			l.URL = complete
		}
	}
}

func (h *Handler) botLogin(w http.ResponseWriter, r *http.Request, _ *session) {
	i, ok := h.botIndex(w, r)
	if !ok {
		return
	}
	method := r.PostFormValue("method")
	user, password := strings.TrimSpace(r.PostFormValue("user")), r.PostFormValue("password")
	switch method {
	case "password":
		if password == "" || len(password) > maxPasswordBytes {
			http.Error(w, "Enter the bot's password (at most 1024 bytes).", http.StatusBadRequest)
			return
		}
	case "oauth-device", "oauth-code":
	default:
		http.Error(w, "Unknown login method: choose password, oauth-device or oauth-code.", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	if l := h.logins[i]; l != nil && l.Running {
		h.mu.Unlock()
		http.Error(w, "A login of this bot is already running: wait for it to finish.", http.StatusConflict)
		return
	}
	st := &LoginStatus{Running: true, Method: method}
	h.logins[i] = st
	h.mu.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), loginRunTimeout)
		defer cancel()
		err := h.opts.Backend.Login(ctx, i, method, user, password, webPrompt{h: h, index: i})
		h.mu.Lock()
		defer h.mu.Unlock()
		st.Running, st.Finished = false, h.opts.Now()
		if err != nil {
			st.Error = err.Error()
			h.log.Warn("admin page: bot login failed", "bot", i, "method", method, "error", err)
		} else {
			st.Succeeded, st.URL, st.UserCode = true, "", ""
			h.log.Info("admin page: bot logged in by the operator", "bot", i, "method", method)
		}
	}()
	// A password login answers within the request; an OAuth login shows its URL or code as
	// soon as it has one.
	wait := time.NewTimer(10 * time.Second)
	defer wait.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-done:
		case <-wait.C:
		case <-poll.C:
			h.mu.Lock()
			shown := st.URL != ""
			h.mu.Unlock()
			if !shown {
				continue
			}
		}
		break
	}
	http.Redirect(w, r, "/admin#bot-"+strconv.Itoa(i), http.StatusSeeOther)
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
