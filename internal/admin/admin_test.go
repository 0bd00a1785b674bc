package admin

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/gateway/adminview"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/test/wait"
)

// fakeBackend is a thin stand-in for cmd/gateway's botControl: it records what the page asks.
type fakeBackend struct {
	mu         sync.Mutex
	bots       []Bot
	reconnects []int
	logins     []string // "index method user password"
	// loginFn, when set, runs a login (e.g. shows a device code and waits).
	loginFn func(ctx context.Context, p Prompt) error
}

func (f *fakeBackend) Bots(context.Context) []Bot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Bot(nil), f.bots...)
}

func (f *fakeBackend) Reconnect(i int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconnects = append(f.reconnects, i)
	return nil
}

func (f *fakeBackend) Login(ctx context.Context, i int, method, user, password string, p Prompt) error {
	f.mu.Lock()
	f.logins = append(f.logins, strings.Join([]string{string(rune('0' + i)), method, user, password}, " "))
	fn := f.loginFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, p)
	}
	return nil
}

func (f *fakeBackend) counts() (reconnects, logins int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reconnects), len(f.logins)
}

type hubView struct{ v adminview.View }

func (h hubView) AdminView(context.Context) adminview.View { return h.v }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const testToken = "s3cret-access-token"

type fixture struct {
	srv   *httptest.Server
	be    *fakeBackend
	clock *clock
	logs  *bytes.Buffer
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{be: &fakeBackend{bots: []Bot{{
		Index: 0, Name: "@bot:example.org", UserID: "@bot:example.org", DeviceID: "DEVICE1", State: "offline",
		Reason: "the homeserver refused the token: log in again", Methods: []string{"password", "oauth"},
		E2EE: E2EE{Enabled: true, CrossSigned: true, BackupVersion: "7", Held: 3},
	}}}, clock: &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, logs: &bytes.Buffer{}}
	if opts.AccessToken == "" && !strings.Contains(t.Name(), "WithoutToken") {
		opts.AccessToken = testToken
	}
	opts.Backend, opts.Now = f.be, f.clock.now
	opts.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: f.logs}, nil))
	if opts.Hub == nil {
		opts.Hub = hubView{adminview.View{
			Connections: []adminview.Connection{{Transport: "forward WebSocket", Version: 11, Bot: "@bot:example.org", Queued: 2, Stored: -1},
				{Transport: "v12-webhook", Version: 12, Endpoint: "http://hook.example/x", Queued: 0, Stored: 5}},
		}}
	}
	f.srv = httptest.NewServer(New(opts))
	t.Cleanup(f.srv.Close)
	return f
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// client returns a browser-like client: a cookie jar, no redirects followed.
func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs c in and returns the page's CSRF token.
func (f *fixture) login(t *testing.T, c *http.Client) string {
	t.Helper()
	resp, _ := do(t, c, http.MethodPost, f.srv.URL+"/admin/login", url.Values{"token": {testToken}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := do(t, c, http.MethodGet, f.srv.URL+"/admin", nil)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page after login:\n%s", page)
	}
	return m[1]
}

// Without GATEWAY_ACCESS_TOKEN there is nothing to log in with: the page is refused and says
// what to set.
func TestPageRefusedWithoutToken(t *testing.T) {
	f := newFixture(t, Options{})
	resp, body := do(t, client(t), http.MethodGet, f.srv.URL+"/admin", nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "GATEWAY_ACCESS_TOKEN") {
		t.Errorf("GET /admin without a token: %d %q; want 403 naming GATEWAY_ACCESS_TOKEN", resp.StatusCode, body)
	}
	resp, _ = do(t, client(t), http.MethodPost, f.srv.URL+"/admin/login", url.Values{"token": {""}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /admin/login with an empty token and none set: %d, want 403", resp.StatusCode)
	}
}

// The login form takes the access token; a wrong one gets no session; the right one gets a
// cookie that is HttpOnly, SameSite=Strict, scoped to /admin and expiring, and the page shows
// every bot's state, reason, device, E2EE status, the connections and their queues. Every
// answer carries a CSP without inline script and is not cached.
func TestLoginAndBotsView(t *testing.T) {
	f := newFixture(t, Options{})
	c := client(t)
	resp, body := do(t, c, http.MethodGet, f.srv.URL+"/admin", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="token"`) || strings.Contains(body, "DEVICE1") {
		t.Fatalf("GET /admin before login: %d, want the login form only:\n%s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: CSP %q, Cache-Control %q", csp, resp.Header.Get("Cache-Control"))
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") || strings.Contains(body, "<style") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("the login page has inline script/style or an external asset:\n%s", body)
	}

	resp, _ = do(t, c, http.MethodPost, f.srv.URL+"/admin/login", url.Values{"token": {"wrong"}})
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 0 {
		t.Fatalf("wrong token: %d with cookies %v; want a redirect and no session", resp.StatusCode, resp.Cookies())
	}
	if _, body = do(t, c, http.MethodGet, f.srv.URL+"/admin?error=1", nil); !strings.Contains(body, "Wrong access token") {
		t.Errorf("the form does not say the token was wrong")
	}

	resp, _ = do(t, c, http.MethodPost, f.srv.URL+"/admin/login", url.Values{"token": {testToken}})
	var sc *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == cookieName {
			sc = k
		}
	}
	if sc == nil {
		t.Fatalf("no session cookie after login: %v", resp.Header)
	}
	if !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/admin" || sc.MaxAge != int(defaultTTL.Seconds()) || sc.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/admin, Max-Age %v, not Secure over http", sc, defaultTTL)
	}
	if strings.Contains(sc.Value, testToken) || len(sc.Value) < 40 {
		t.Errorf("the cookie value %q is not a random session ID", sc.Value)
	}

	resp, body = do(t, c, http.MethodGet, f.srv.URL+"/admin", nil)
	for _, want := range []string{"@bot:example.org", `data-state="offline"`, "the homeserver refused the token: log in again", "DEVICE1",
		"cross-signed", "key backup version 7", "3 event(s) waiting for keys", "forward WebSocket", "v12-webhook", "http://hook.example/x",
		`action="/admin/bots/0/reconnect"`, `value="password"`, `value="oauth-device"`, `value="oauth-code"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, testToken) || strings.Contains(body, "<script") || strings.Contains(body, "<style") {
		t.Errorf("the page shows the access token or has inline script/style")
	}
	if resp.Header.Get("Content-Security-Policy") != csp {
		t.Errorf("the bots page has no CSP")
	}
	resp, _ = do(t, c, http.MethodGet, f.srv.URL+"/admin/admin.css", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("admin.css: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(f.logs.String(), testToken) {
		t.Errorf("the log shows the access token:\n%s", f.logs)
	}
}

// With GATEWAY_PUBLIC_URL https the cookie is Secure.
func TestCookieSecureBehindHTTPS(t *testing.T) {
	f := newFixture(t, Options{Secure: true})
	resp, _ := do(t, client(t), http.MethodPost, f.srv.URL+"/admin/login", url.Values{"token": {testToken}})
	if len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure {
		t.Errorf("cookies %v: want one Secure session cookie", resp.Cookies())
	}
}

// Every action needs the session and its CSRF token: without a session 401, without the token
// or with another session's 403, and nothing is done; with it the bot is reconnected.
func TestActionsNeedSessionAndCSRF(t *testing.T) {
	f := newFixture(t, Options{})
	reconnect := f.srv.URL + "/admin/bots/0/reconnect"
	if resp, _ := do(t, client(t), http.MethodPost, reconnect, url.Values{}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("reconnect without a session: %d, want 401", resp.StatusCode)
	}
	c, other := client(t), client(t)
	csrf := f.login(t, c)
	otherCSRF := f.login(t, other)
	if otherCSRF == csrf {
		t.Fatal("two sessions have the same CSRF token")
	}
	for name, form := range map[string]url.Values{
		"no token":               {},
		"an empty token":         {"csrf": {""}},
		"another session's":      {"csrf": {otherCSRF}},
		"a token one byte short": {"csrf": {csrf[:len(csrf)-1]}},
	} {
		if resp, _ := do(t, c, http.MethodPost, reconnect, form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("reconnect with %s: %d, want 403", name, resp.StatusCode)
		}
		if resp, _ := do(t, c, http.MethodPost, f.srv.URL+"/admin/bots/0/login", url.Values{"csrf": form["csrf"], "method": {"password"}, "password": {"pw"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("login with %s: %d, want 403", name, resp.StatusCode)
		}
	}
	if r, l := f.be.counts(); r != 0 || l != 0 {
		t.Fatalf("refused forms did something: %d reconnects, %d logins", r, l)
	}
	resp, _ := do(t, c, http.MethodPost, reconnect, url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reconnect with the CSRF token: %d", resp.StatusCode)
	}
	if r, _ := f.be.counts(); r != 1 || f.be.reconnects[0] != 0 {
		t.Errorf("reconnects %v, want [0]", f.be.reconnects)
	}
	if resp, _ := do(t, c, http.MethodPost, f.srv.URL+"/admin/bots/9/reconnect", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("reconnect of a bot that does not exist: %d, want 404", resp.StatusCode)
	}
	// Logging out ends the session: its cookie no longer works.
	do(t, c, http.MethodPost, f.srv.URL+"/admin/logout", url.Values{"csrf": {csrf}})
	if resp, _ := do(t, c, http.MethodPost, reconnect, url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("reconnect after logout: %d, want 401", resp.StatusCode)
	}
}

// A session expires after its TTL.
func TestSessionExpires(t *testing.T) {
	f := newFixture(t, Options{SessionTTL: time.Hour})
	c := client(t)
	csrf := f.login(t, c)
	f.clock.add(time.Hour + time.Second)
	if resp, _ := do(t, c, http.MethodPost, f.srv.URL+"/admin/bots/0/reconnect", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("reconnect after the session expired: %d, want 401", resp.StatusCode)
	}
	if _, body := do(t, c, http.MethodGet, f.srv.URL+"/admin", nil); !strings.Contains(body, `name="token"`) {
		t.Errorf("an expired session still sees the page")
	}
}

// Guessing the token is rate-limited per address: after 5 failures within a minute even the
// right token is refused with 429 and Retry-After, until the minute has passed.
func TestLoginRateLimited(t *testing.T) {
	f := newFixture(t, Options{})
	c := client(t)
	for range loginFailLimit {
		do(t, c, http.MethodPost, f.srv.URL+"/admin/login", url.Values{"token": {"guess"}})
	}
	resp, _ := do(t, c, http.MethodPost, f.srv.URL+"/admin/login", url.Values{"token": {testToken}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || len(resp.Cookies()) != 0 {
		t.Fatalf("login after %d failures: %d (Retry-After %q, cookies %v); want 429 and no session",
			loginFailLimit, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Cookies())
	}
	f.clock.add(loginFailWindow + time.Second)
	f.login(t, c)
}

// A password login from the page hands the password to the backend (never to the page or the
// log), and the page says it worked.
func TestPasswordLogin(t *testing.T) {
	f := newFixture(t, Options{})
	c := client(t)
	csrf := f.login(t, c)
	if resp, body := do(t, c, http.MethodPost, f.srv.URL+"/admin/bots/0/login", url.Values{"csrf": {csrf}, "method": {"password"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("password login without a password: %d %q, want 400", resp.StatusCode, body)
	}
	if resp, _ := do(t, c, http.MethodPost, f.srv.URL+"/admin/bots/0/login", url.Values{"csrf": {csrf}, "method": {"telepathy"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown method: %d, want 400", resp.StatusCode)
	}
	resp, _ := do(t, c, http.MethodPost, f.srv.URL+"/admin/bots/0/login",
		url.Values{"csrf": {csrf}, "method": {"password"}, "user": {"botuser"}, "password": {"hunter2-pw"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password login: %d", resp.StatusCode)
	}
	if _, l := f.be.counts(); l != 1 || f.be.logins[0] != "0 password botuser hunter2-pw" {
		t.Fatalf("backend logins %q", f.be.logins)
	}
	_, body := do(t, c, http.MethodGet, f.srv.URL+"/admin", nil)
	if !strings.Contains(body, "Logged in (password)") || strings.Contains(body, "hunter2-pw") {
		t.Errorf("the page does not say the login worked, or shows the password:\n%s", body)
	}
	if strings.Contains(f.logs.String(), "hunter2-pw") {
		t.Errorf("the log shows the password")
	}
}

// An OAuth device-flow login shows the verification URL and the user code on the page while it
// waits for the operator, and a failure shows why.
func TestDeviceFlowShowsCode(t *testing.T) {
	f := newFixture(t, Options{})
	approve := make(chan error)
	f.be.loginFn = func(ctx context.Context, p Prompt) error {
		p.ShowUserCode("https://auth.example/device", "https://auth.example/device?code=WDJB-MJHT", "WDJB-MJHT", 10*time.Minute)
		select {
		case err := <-approve:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := client(t)
	csrf := f.login(t, c)
	resp, _ := do(t, c, http.MethodPost, f.srv.URL+"/admin/bots/0/login", url.Values{"csrf": {csrf}, "method": {"oauth-device"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("device login: %d", resp.StatusCode)
	}
	_, body := do(t, c, http.MethodGet, f.srv.URL+"/admin", nil)
	if !strings.Contains(body, "WDJB-MJHT") || !strings.Contains(body, `href="https://auth.example/device?code=WDJB-MJHT"`) {
		t.Fatalf("the page does not show the code and URL:\n%s", body)
	}
	// A second login of the same bot while one runs is refused.
	if resp, _ := do(t, c, http.MethodPost, f.srv.URL+"/admin/bots/0/login", url.Values{"csrf": {csrf}, "method": {"oauth-device"}}); resp.StatusCode != http.StatusConflict {
		t.Errorf("a second login while one runs: %d, want 409", resp.StatusCode)
	}
	approve <- context.DeadlineExceeded
	if !wait.Until(10*time.Second, func() bool {
		_, body = do(t, c, http.MethodGet, f.srv.URL+"/admin", nil)
		return strings.Contains(body, "Login (oauth-device) failed: context deadline exceeded")
	}) {
		t.Fatalf("the page does not show the failure:\n%s", body)
	}
}

// loginFrom posts token to h's login as a client at remoteAddr and returns the status.
func loginFrom(h http.Handler, remoteAddr, token string) int {
	req := httptest.NewRequest(http.MethodPost, "/admin/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = remoteAddr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// Failed logins are limited per address, never in all: however many addresses guess (more
// than any global cap would allow), another address still logs in with the right token, and
// an IPv6 /64 counts as one address.
func TestLoginLimitedPerAddress(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := New(Options{AccessToken: testToken, Backend: &fakeBackend{}, Hub: hubView{}, Now: c.now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for i := range 20 {
		a := "192.0.2." + strconv.Itoa(i+1)
		for range loginFailLimit {
			if code := loginFrom(h, a+":1234", "guess"); code != http.StatusSeeOther {
				t.Fatalf("wrong token from %s: %d, want 303 back to the form", a, code)
			}
		}
		if code := loginFrom(h, a+":1234", testToken); code != http.StatusTooManyRequests {
			t.Fatalf("right token from %s after %d failures: %d, want 429", a, loginFailLimit, code)
		}
	}
	for range loginFailLimit {
		loginFrom(h, "[2001:db8:1:2::1]:443", "guess")
	}
	if code := loginFrom(h, "[2001:db8:1:2::99]:443", testToken); code != http.StatusTooManyRequests {
		t.Errorf("right token from the same IPv6 /64: %d, want 429", code)
	}
	if code := loginFrom(h, "198.51.100.7:5555", testToken); code != http.StatusSeeOther {
		t.Errorf("right token from an address that never failed: %d, want 303 (logged in)", code)
	}
	if code := loginFrom(h, "[2001:db8:1:3::1]:443", testToken); code != http.StatusSeeOther {
		t.Errorf("right token from another IPv6 /64: %d, want 303 (logged in)", code)
	}
}

// With the gateway's shared limiter, the page's failed logins and refusals are counted where
// /metrics reads them (auth_failures_total, http_refused_total{reason="auth_limited"}), and an
// address that reaches the limit is logged once per window, with the address and no token.
func TestLoginFailuresCountedInSharedLimiter(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(&syncWriter{w: logs}, nil))
	lim := web.NewAuthLimiter(log)
	lim.Now = c.now
	h := New(Options{AccessToken: testToken, Backend: &fakeBackend{}, Hub: hubView{}, Now: c.now, Logger: log, Limiter: lim})
	for range lim.Limit + 3 {
		loginFrom(h, "203.0.113.9:40000", "guess-"+testToken[:3])
	}
	if got := lim.Failures.Load(); got != int64(lim.Limit) {
		t.Errorf("failures counted: %d, want %d (the refused ones are not failures)", got, lim.Limit)
	}
	if got := lim.Refused.Load(); got != 3 {
		t.Errorf("refusals counted: %d, want 3", got)
	}
	out, n := logs.String(), 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "too many wrong access tokens") && strings.Contains(line, "203.0.113.9") &&
			strings.Contains(line, "face=admin") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the limited address is logged %d times, want once (face=admin):\n%s", n, out)
	}
	if strings.Contains(out, "guess-") {
		t.Errorf("the log shows the token tried:\n%s", out)
	}
	c.add(lim.Window + time.Second)
	if code := loginFrom(h, "203.0.113.9:40001", testToken); code != http.StatusSeeOther {
		t.Errorf("right token after the window: %d, want 303", code)
	}
}

// BenchmarkAdminTokenCompare prints the time a wrong token of another length and one of the
// token's own length take to be refused: with the comparison of digests (tokenOK) they are
// alike, so the time does not tell the token's length. (Before: about 3 ns against 100 ns on the 2-core test machine.)
func BenchmarkAdminTokenCompare(b *testing.B) {
	h := &Handler{opts: Options{AccessToken: strings.Repeat("k", 64)}}
	for _, tc := range []struct{ name, typed string }{
		{"other length", "short"},
		{"same length", strings.Repeat("j", 64)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if h.tokenOK(tc.typed) {
					b.Fatal("a wrong token matched")
				}
			}
		})
	}
}
