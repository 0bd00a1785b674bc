package e2e

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// adminClient is the operator's browser on the admin page: a cookie jar, redirects not
// followed (each answer is checked), no Origin (as a form post from the page itself over http
// looks to the guard when the browser sends none).
type adminClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newAdminClient(t *testing.T, g *gatewayProc) *adminClient {
	jar, _ := cookiejar.New(nil)
	return &adminClient{t: t, base: g.url, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (a *adminClient) do(method, path string, form url.Values, hdr map[string]string) (int, string) {
	a.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, a.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var adminCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (a *adminClient) login(token string) {
	a.t.Helper()
	if code, body := a.do(http.MethodPost, "/admin/login", url.Values{"token": {token}}, nil); code != http.StatusSeeOther {
		a.t.Fatalf("admin login: %d %s", code, body)
	}
	_, page := a.do(http.MethodGet, "/admin", nil, nil)
	m := adminCSRF.FindStringSubmatch(page)
	if m == nil {
		a.t.Fatalf("no CSRF token on the admin page after login:\n%s", page)
	}
	a.csrf = m[1]
}

// state is the bot's state as the page shows it.
func (a *adminClient) page() string {
	_, page := a.do(http.MethodGet, "/admin", nil, nil)
	return page
}

var adminState = regexp.MustCompile(`data-state="([a-z]+)"`)

func (a *adminClient) state() string {
	m := adminState.FindStringSubmatch(a.page())
	if m == nil {
		return ""
	}
	return m[1]
}

// A bot whose access token the homeserver rejects cannot sync: the admin page shows it offline
// with the reason. The operator logs in to the page with the access token and
// logs the bot in with its password from the page (a wrong password first: the page says it
// failed); the bot then syncs (page and /readyz) without a restart of the gateway or a terminal.
// The reconnect button restarts its sync. Another site's form is refused by the real listener.
func TestAdminPagePasswordLoginAndReconnect(t *testing.T) {
	bot := newBotUser(t)
	entry, _ := json.Marshal([]map[string]any{{"homeserver": hs.URL(), "user_id": bot.UserID, "access_token": "syt_revoked_long_ago"}})
	g := launchGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS": string(entry), "GATEWAY_ACCESS_TOKEN": "e2e-admin-token",
	})
	a := newAdminClient(t, g)

	// Another site's page posting the login form (with the right token even) gets nothing.
	code, _ := a.do(http.MethodPost, "/admin/login", url.Values{"token": {"e2e-admin-token"}},
		map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
	if code != http.StatusForbidden {
		t.Errorf("cross-site login form: %d, want 403", code)
	}
	if _, page := a.do(http.MethodGet, "/admin", nil, nil); !strings.Contains(page, `name="token"`) {
		t.Fatalf("the cross-site login made a session, or there is no login form:\n%s", page)
	}

	a.login("e2e-admin-token")
	waitFor(t, "the page to show the bot offline with what to do", func() bool {
		p := a.page()
		return strings.Contains(p, `data-state="offline"`) && strings.Contains(p, "login")
	})

	// A wrong password: the page says the homeserver refused it.
	code, _ = a.do(http.MethodPost, "/admin/bots/0/login", url.Values{"csrf": {a.csrf}, "method": {"password"}, "password": {"not-the-password"}}, nil)
	if code != http.StatusSeeOther {
		t.Fatalf("password login form: %d", code)
	}
	waitFor(t, "the page to show the failed login", func() bool {
		return strings.Contains(a.page(), "Login (password) failed")
	})
	if a.state() == "syncing" {
		t.Fatal("the bot syncs after a wrong password")
	}

	// Without the CSRF token nothing happens.
	if code, _ := a.do(http.MethodPost, "/admin/bots/0/login", url.Values{"method": {"password"}, "password": {bot.Password}}, nil); code != http.StatusForbidden {
		t.Errorf("login form without the CSRF token: %d, want 403", code)
	}

	code, _ = a.do(http.MethodPost, "/admin/bots/0/login", url.Values{"csrf": {a.csrf}, "method": {"password"}, "password": {bot.Password}}, nil)
	if code != http.StatusSeeOther {
		t.Fatalf("password login form: %d", code)
	}
	waitFor(t, "the bot to sync after the page's password login", func() bool {
		return a.state() == "syncing" && readyzReady(g)
	})
	if p := a.page(); !strings.Contains(p, "Logged in (password)") || strings.Contains(p, bot.Password) || !strings.Contains(p, bot.UserID) {
		t.Errorf("after the login the page does not say so, or shows the password:\n%s", p)
	}

	// Reconnect restarts the bot's sync; it is syncing again afterwards.
	if code, _ := a.do(http.MethodPost, "/admin/bots/0/reconnect", url.Values{"csrf": {a.csrf}}, nil); code != http.StatusSeeOther {
		t.Fatalf("reconnect: %d", code)
	}
	waitFor(t, "the restart in the log", func() bool {
		return strings.Contains(g.proc.LogTail(400), "bot restarted from the admin page")
	})
	waitFor(t, "the bot to sync again after the reconnect", func() bool {
		return a.state() == "syncing" && readyzReady(g)
	})
	if log := g.proc.LogTail(2000); strings.Contains(log, bot.Password) || strings.Contains(log, "e2e-admin-token") {
		t.Error("the log shows the bot's password or the access token")
	}
}

func readyzReady(g *gatewayProc) bool {
	resp, err := http.Get(g.url + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

var adminAuthURL = regexp.MustCompile(`<a href="([^"]+)"[^>]*class="authorization-url"`)

// The authorization-code button: the page links to the OAuth server's authorization page, the
// operator approves there, the browser is sent back to the gateway's own /oauth/callback
// (GATEWAY_PUBLIC_URL), and the bot, offline before, syncs.
func TestAdminPageOAuthCodeFlow(t *testing.T) {
	issuer := startOAuthServer(t, "600")
	proxy, bot, sub := oauthBot(t, issuer)
	entry, _ := json.Marshal([]map[string]any{{"homeserver": proxy.URL, "user_id": bot.UserID, "access_token": "syt_revoked_long_ago"}})
	g := launchGateway(t, t.TempDir(), map[string]string{"MATRIX_BOTS": string(entry), "GATEWAY_ACCESS_TOKEN": "e2e-admin-token"})
	a := newAdminClient(t, g)
	a.login("e2e-admin-token")
	waitFor(t, "the page to show the bot offline", func() bool { return a.state() == "offline" })

	if code, body := a.do(http.MethodPost, "/admin/bots/0/login", url.Values{"csrf": {a.csrf}, "method": {"oauth-code"}}, nil); code != http.StatusSeeOther {
		t.Fatalf("oauth-code login form: %d %s", code, body)
	}
	var authURL, last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the admin page at the end:\n%s", last)
		}
	})
	waitFor(t, "the page to link the authorization page", func() bool {
		last = a.page()
		m := adminAuthURL.FindStringSubmatch(last)
		if m != nil {
			authURL = html.UnescapeString(m[1])
		}
		return m != nil
	})
	u, err := url.Parse(authURL)
	if err != nil || !strings.HasPrefix(authURL, issuer) || u.Query().Get("redirect_uri") != g.url+"/oauth/callback" {
		t.Fatalf("authorization URL %q: want the issuer %s with redirect_uri %s/oauth/callback", authURL, issuer, g.url)
	}
	resp, page := newBrowser(t, sub).visit(authURL)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), g.url+"/oauth/callback") {
		t.Fatalf("the approval ended at %s with %d: %s", resp.Request.URL, resp.StatusCode, page)
	}
	waitFor(t, "the bot to sync after the code-flow login", func() bool {
		return a.state() == "syncing" && readyzReady(g)
	})
	if p := a.page(); !strings.Contains(p, "Logged in (oauth-code)") {
		t.Errorf("the page does not say the login worked:\n%s", p)
	}
}
