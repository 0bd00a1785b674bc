package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/harness"
)

const oauthProxySecret = "proxy-secret-for-tests"

// startOAuthServer runs test/clients/oauth/server.mjs (npm oidc-provider) and returns its issuer.
func startOAuthServer(t *testing.T, accessTTL string) string {
	t.Helper()
	ctx := testCtx(t)
	dir, err := harness.EnsureNodeModules(ctx, "oauth", "test/clients/oauth")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PORT=0", "ACCESS_TTL="+accessTTL, "PROXY_CLIENT_SECRET="+oauthProxySecret)
	proc, err := harness.StartProcess(harness.ProcessOptions{
		Name: "oidc-provider", Path: "node", Args: []string{"server.mjs"}, Dir: dir, Env: env,
		LogPath: filepath.Join(t.TempDir(), "oauth-server.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("OAuth server log:\n%s", proc.LogTail(40))
		}
		_ = proc.Stop()
	})
	if err := proc.WaitForLog(ctx, "READY "); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`READY (http://\S+)`).FindStringSubmatch(proc.Log())
	if m == nil {
		t.Fatalf("no issuer in the OAuth server's output:\n%s", proc.Log())
	}
	return m[1]
}

// browser is a scripted user agent: it follows redirects and submits the forms of the OAuth
// server's pages (log in as one account, approve, confirm the device code).
type browser struct {
	t      *testing.T
	client *http.Client
	login  string
}

func newBrowser(t *testing.T, login string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{Jar: jar}, login: login}
}

// newBrowserStoppingAt is newBrowser that does not follow a redirect to a URL starting with
// stop (an external redirect URI nobody serves): visit returns that redirect.
func newBrowserStoppingAt(t *testing.T, login, stop string) *browser {
	b := newBrowser(t, login)
	b.client.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), stop) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return b
}

var (
	formRE  = regexp.MustCompile(`(?s)<form([^>]*)>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input([^>]*)>`)
	attrRE  = regexp.MustCompile(`([a-z_]+)="([^"]*)"`)
)

func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRE.FindAllStringSubmatch(s, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

// visit opens start and fills in every form until a page has none; it returns that page.
func (b *browser) visit(start string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.client.Get(start)
	if err != nil {
		b.t.Fatalf("browser: GET %s: %v", start, err)
	}
	for range 10 {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := formRE.FindStringSubmatch(string(body))
		if m == nil {
			return resp, string(body)
		}
		action := attrs(m[1])["action"]
		fields := url.Values{}
		for _, in := range inputRE.FindAllStringSubmatch(m[2], -1) {
			a := attrs(in[1])
			if a["name"] != "" {
				fields.Set(a["name"], a["value"])
			}
		}
		if fields.Has("login") {
			fields.Set("login", b.login)
		}
		target, err := resp.Request.URL.Parse(action)
		if err != nil {
			b.t.Fatalf("browser: bad form action %q", action)
		}
		if resp, err = b.client.PostForm(target.String(), fields); err != nil {
			b.t.Fatalf("browser: POST %s: %v", target, err)
		}
	}
	b.t.Fatal("browser: too many forms")
	return nil, ""
}

// oauthBot registers a bot account that the OAuth subject sub maps to, behind a fresh proxy.
func oauthBot(t *testing.T, issuer string) (*fakes.FakeOAuthProxy, *harness.User, string) {
	t.Helper()
	bot := newBotUser(t)
	proxy := fakes.NewFakeOAuthProxy(t, hs.URL(), issuer, "homeserver-proxy", oauthProxySecret)
	sub := id2localpart(bot.UserID)
	proxy.AddAccount(sub, bot.UserID, bot.Password)
	return proxy, bot, sub
}

func id2localpart(u string) string {
	return strings.TrimPrefix(strings.SplitN(u, ":", 2)[0], "@")
}

func gatewayCmd(env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.Command(gatewayBin, args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"), "HOME="+os.Getenv("HOME"))
	return cmd
}

// `gateway login` with the authorization code flow: PKCE S256, the stable Matrix scopes the
// server advertises, a loopback redirect whose forged call (wrong state) is refused; then the
// gateway runs on the stored session, refreshes it at the token endpoint, and `gateway logout`
// revokes it.
func TestOAuthCodeFlowLoopback(t *testing.T) {
	issuer := startOAuthServer(t, "4")
	proxy, bot, sub := oauthBot(t, issuer)
	dir := t.TempDir()
	redirect := "http://" + freeAddr(t) + "/callback"
	raw, _ := json.Marshal([]map[string]any{{
		"homeserver": proxy.URL, "oauth_enabled": true, "oauth_redirect_uri": redirect, "user_id": bot.UserID,
		"auto_accept_invites": true, "oauth_callback_timeout": 120,
	}})
	env := map[string]string{
		"MATRIX_BOTS": string(raw), "GATEWAY_ACCESS_TOKEN": authToken, "GATEWAY_DATABASE": filepath.Join(dir, "gateway.db"),
		"MATRIX_RETRY_INTERVAL": "0.2",
	}

	login := gatewayCmd(env, "login", bot.UserID)
	stdout, _ := login.StdoutPipe()
	var stderr strings.Builder
	login.Stderr = &stderr
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = login.Process.Kill() })
	lines := bufio.NewScanner(stdout)
	var authURL string
	var printed strings.Builder
	for lines.Scan() {
		printed.WriteString(lines.Text() + "\n")
		if s := strings.TrimSpace(lines.Text()); strings.HasPrefix(s, issuer+"/auth?") {
			authURL = s
			break
		}
	}
	if authURL == "" {
		t.Fatalf("gateway login printed no authorization URL:\n%s\n%s", printed.String(), stderr.String())
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	scope := strings.Fields(q.Get("scope"))
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43 ||
		len(q.Get("state")) < 16 || q.Get("redirect_uri") != redirect || !contains(scope, "urn:matrix:client:api:*") ||
		!hasPrefix(scope, "urn:matrix:client:device:") {
		t.Fatalf("authorization URL %s", authURL)
	}

	// A redirect that does not carry the login's state is refused, and the login goes on.
	forged, err := http.Get(redirect + "?code=forged&state=not-the-state")
	if err != nil {
		t.Fatal(err)
	}
	forged.Body.Close()
	if forged.StatusCode != http.StatusBadRequest {
		t.Fatalf("a redirect with the wrong state got %d, want 400", forged.StatusCode)
	}

	resp, page := newBrowser(t, sub).visit(authURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "logged in") || !strings.HasPrefix(resp.Request.URL.String(), redirect) {
		t.Fatalf("the browser ended at %s (%d): %s", resp.Request.URL, resp.StatusCode, page)
	}
	rest, _ := io.ReadAll(stdout)
	printed.Write(rest)
	if err := login.Wait(); err != nil || !strings.Contains(printed.String(), "logged in as "+bot.UserID) {
		t.Fatalf("gateway login: %v\n%s\n%s", err, printed.String(), stderr.String())
	}
	first := storedTokens(t, dir, proxy.URL, bot.UserID)
	if first.SessionType != "oauth2" || first.RefreshToken == "" || first.OAuthClientID == "" || first.OAuthTokenEndpoint != issuer+"/token" {
		t.Fatalf("stored session: type %q, client %q, endpoint %q, refreshable %t", first.SessionType, first.OAuthClientID, first.OAuthTokenEndpoint, first.RefreshToken != "")
	}
	for _, s := range []string{first.AccessToken, first.RefreshToken} {
		if strings.Contains(printed.String()+stderr.String(), s) {
			t.Error("gateway login printed a token")
		}
	}

	// The gateway runs on the stored session and refreshes it at the token endpoint (4 s tokens).
	alice := newHuman(t, "alice")
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	ob := dialV12(t, g, authToken)
	roundTrip(t, g, ob, alice, bot, room, "oauth")
	waitFor(t, "a refreshed OAuth session", func() bool {
		return storedTokens(t, dir, proxy.URL, bot.UserID).AccessToken != first.AccessToken
	})
	roundTrip(t, g, ob, alice, bot, room, "after refresh")
	rec := storedTokens(t, dir, proxy.URL, bot.UserID)
	if rec.DeviceID != first.DeviceID {
		t.Errorf("device %s after the refresh, want %s", rec.DeviceID, first.DeviceID)
	}
	g.stop()
	noSecret(t, "the gateway's log", readLog(t, g), first.AccessToken, first.RefreshToken, rec.AccessToken, rec.RefreshToken)

	// Logout revokes the tokens: the homeserver (through the proxy) no longer takes them.
	last := storedTokens(t, dir, proxy.URL, bot.UserID)
	if out, err := gatewayCmd(env, "logout", "0").CombinedOutput(); err != nil {
		t.Fatalf("gateway logout: %v\n%s", err, out)
	}
	req, _ := http.NewRequest(http.MethodGet, proxy.URL+"/_matrix/client/v3/account/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+last.AccessToken)
	whoami, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	whoami.Body.Close()
	if whoami.StatusCode != http.StatusUnauthorized {
		t.Errorf("the revoked access token got %d, want 401", whoami.StatusCode)
	}
	// The refresh token is revoked too.
	refreshed, err := http.PostForm(last.OAuthTokenEndpoint, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {last.RefreshToken}, "client_id": {last.OAuthClientID},
	})
	if err != nil {
		t.Fatal(err)
	}
	refreshed.Body.Close()
	if refreshed.StatusCode != http.StatusBadRequest {
		t.Errorf("the revoked refresh token got %d at the token endpoint, want 400", refreshed.StatusCode)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func hasPrefix(list []string, p string) bool {
	for _, v := range list {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

// A bot with oauth_enabled and no session logs in with the device authorization grant when the
// server offers it, with nobody at a terminal: the log shows the URL and code to approve.
func TestOAuthDeviceFlow(t *testing.T) {
	issuer := startOAuthServer(t, "60")
	proxy, bot, sub := oauthBot(t, issuer)
	dir := t.TempDir()
	raw, _ := json.Marshal([]map[string]any{{
		"homeserver": proxy.URL, "oauth_enabled": true, "auto_accept_invites": true,
	}})
	env := map[string]string{"MATRIX_BOTS": string(raw), "GATEWAY_ACCESS_TOKEN": authToken}

	approved := make(chan error, 1)
	go func() {
		logPath := filepath.Join(dir, "gateway.log")
		re := regexp.MustCompile(`url_with_code=(\S+)`)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			b, _ := os.ReadFile(logPath)
			if m := re.FindSubmatch(b); m != nil {
				resp, page := newBrowser(t, sub).visit(strings.Trim(string(m[1]), `"`))
				if resp.StatusCode != http.StatusOK || !strings.Contains(page, "device-approved") {
					approved <- fmt.Errorf("device approval ended with %d: %s", resp.StatusCode, page)
				} else {
					approved <- nil
				}
				return
			}
			select {
			case <-ctx.Done():
				approved <- fmt.Errorf("no device code in the gateway log")
				return
			case <-tick.C:
			}
		}
	}()
	g := startGateway(t, dir, env)
	if err := <-approved; err != nil {
		t.Fatal(err)
	}
	rec := storedTokens(t, dir, proxy.URL, "#0")
	if rec.SessionType != "oauth2" || rec.UserID != bot.UserID || rec.DeviceID == "" {
		t.Fatalf("stored session: type %q user %q device %q", rec.SessionType, rec.UserID, rec.DeviceID)
	}
	log := readLog(t, g)
	if strings.Contains(log, rec.AccessToken) || strings.Contains(log, rec.RefreshToken) {
		t.Error("a token appears in the gateway's log")
	}
	alice := newHuman(t, "alice")
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	roundTrip(t, g, dialV12(t, g, authToken), alice, bot, room, "device flow")
	if proxy.Logins() != 1 {
		t.Errorf("the proxy opened %d homeserver sessions, want 1 (one device)", proxy.Logins())
	}
}
