package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/harness"
)

// loginRun is one `gateway login` (or logout) process with its stdin, stdout and stderr.
type loginRun struct {
	t       *testing.T
	cmd     interface{ Wait() error }
	stdin   io.WriteCloser
	lines   *bufio.Scanner
	stdout  io.Reader
	printed strings.Builder
	stderr  strings.Builder
}

// oauthEnv is the environment of a gateway (or `gateway login`) with one bot entry, its
// database in dir.
func oauthEnv(dir string, entry map[string]any) map[string]string {
	env := authEnv(entry)
	env["GATEWAY_DATABASE"] = filepath.Join(dir, "gateway.db")
	return env
}

func startLogin(t *testing.T, env map[string]string, args ...string) *loginRun {
	t.Helper()
	cmd := gatewayCmd(env, args...)
	r := &loginRun{t: t, cmd: cmd}
	var err error
	if r.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if r.stdout, err = cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	r.lines = bufio.NewScanner(r.stdout)
	return r
}

// authURL reads the output up to the authorization URL it prints (at the issuer).
func (r *loginRun) authURL(issuer string) *url.URL {
	r.t.Helper()
	for r.lines.Scan() {
		r.printed.WriteString(r.lines.Text() + "\n")
		if s := strings.TrimSpace(r.lines.Text()); strings.HasPrefix(s, issuer+"/auth?") {
			u, err := url.Parse(s)
			if err != nil {
				r.t.Fatal(err)
			}
			return u
		}
	}
	_, err := r.finish()
	r.t.Fatalf("gateway login printed no authorization URL (%v):\n%s\n%s", err, r.printed.String(), r.stderr.String())
	return nil
}

// finish waits for the process and returns everything it wrote.
func (r *loginRun) finish() (string, error) {
	_ = r.stdin.Close()
	rest, _ := io.ReadAll(r.stdout)
	r.printed.Write(rest)
	err := r.cmd.Wait()
	return r.printed.String() + r.stderr.String(), err
}

// noSecret fails when text (a log or a command's output) contains any of the secrets.
func noSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains a secret (%d characters)", where, len(s))
		}
	}
}

// whoamiStatus asks the homeserver behind the proxy whose token tok is.
func whoamiStatus(t *testing.T, homeserver, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, homeserver+"/_matrix/client/v3/account/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		UserID string `json:"user_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.UserID
}

// loopbackLogin runs `gateway login 0` with the code flow and a loopback redirect (entry gets
// oauth_redirect_uri), approves as sub and returns the stored session and the authorization URL.
func loopbackLogin(t *testing.T, issuer, sub, dir string, entry map[string]any) (storage.TokenRecord, *url.URL) {
	t.Helper()
	entry["oauth_redirect_uri"] = "http://" + freeAddr(t) + "/callback"
	run := startLogin(t, oauthEnv(dir, entry), "login", "0")
	authURL := run.authURL(issuer)
	resp, page := newBrowser(t, sub).visit(authURL.String())
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "logged in") {
		t.Fatalf("the browser ended at %s (%d): %s", resp.Request.URL, resp.StatusCode, page)
	}
	out, err := run.finish()
	if err != nil || !strings.Contains(out, "logged in as @") {
		t.Fatalf("gateway login: %v\n%s", err, out)
	}
	rec := storedTokens(t, dir, entry["homeserver"].(string), "#0")
	noSecret(t, "gateway login's output", out, rec.AccessToken, rec.RefreshToken, resp.Request.URL.Query().Get("code"))
	return rec, authURL
}

// Discovery in nonebot-adapter-matrix's order: the unstable MSC2965 path when the homeserver
// has no stable auth_metadata, oauth_server_url's well-known document when it has neither, and
// oauth_metadata_url before all of them.
func TestOAuthDiscovery(t *testing.T) {
	issuer := startOAuthServer(t, "60")

	t.Run("UnstablePath", func(t *testing.T) {
		proxy, bot, sub := oauthBot(t, issuer)
		proxy.SetMetadata(fakes.MetadataUnstable)
		dir := t.TempDir()
		entry := map[string]any{"homeserver": proxy.URL, "oauth_enabled": true}
		rec, _ := loopbackLogin(t, issuer, sub, dir, entry)
		if code, user := whoamiStatus(t, proxy.URL, rec.AccessToken); code != http.StatusOK || user != bot.UserID || rec.SessionType != "oauth2" {
			t.Fatalf("after the login: whoami %d %s, session %s", code, user, rec.SessionType)
		}
		if proxy.MetadataRequests(fakes.StableMetadataPath) == 0 || proxy.MetadataRequests(fakes.UnstableMetadataPath) == 0 {
			t.Errorf("metadata requests: stable %d, unstable %d; want the stable path tried first, then the unstable one",
				proxy.MetadataRequests(fakes.StableMetadataPath), proxy.MetadataRequests(fakes.UnstableMetadataPath))
		}
		// Logout discovers the revocation endpoint the same way.
		if out, err := gatewayCmd(oauthEnv(dir, entry), "logout", "0").CombinedOutput(); err != nil {
			t.Fatalf("gateway logout: %v\n%s", err, out)
		}
		if code, _ := whoamiStatus(t, proxy.URL, rec.AccessToken); code != http.StatusUnauthorized {
			t.Errorf("the revoked access token got %d, want 401", code)
		}
	})

	t.Run("ServerURLFallback", func(t *testing.T) {
		proxy, bot, sub := oauthBot(t, issuer)
		proxy.SetMetadata(fakes.MetadataNone)
		dir := t.TempDir()
		entry := map[string]any{"homeserver": proxy.URL, "oauth_enabled": true, "oauth_redirect_uri": "http://" + freeAddr(t) + "/callback"}

		// Without oauth_server_url there is nothing to find, and the error says what to set.
		out, err := gatewayCmd(oauthEnv(dir, entry), "login", "0").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "failed to discover the OAuth server") || !strings.Contains(string(out), "oauth_server_url") {
			t.Fatalf("gateway login without any metadata: %v\n%s", err, out)
		}

		entry["oauth_server_url"] = issuer + "/"
		rec, _ := loopbackLogin(t, issuer, sub, dir, entry)
		if code, user := whoamiStatus(t, proxy.URL, rec.AccessToken); code != http.StatusOK || user != bot.UserID {
			t.Fatalf("after the login: whoami %d %s", code, user)
		}
		if rec.OAuthTokenEndpoint != issuer+"/token" {
			t.Errorf("token endpoint %q", rec.OAuthTokenEndpoint)
		}
		if proxy.MetadataRequests(fakes.StableMetadataPath) == 0 || proxy.MetadataRequests(fakes.UnstableMetadataPath) == 0 {
			t.Error("oauth_server_url was used before both Matrix metadata paths were tried")
		}
	})

	// A server that advertises only the unstable MSC2967 scopes gets them, device scope included.
	t.Run("UnstableScopes", func(t *testing.T) {
		proxy, bot, sub := oauthBot(t, issuer)
		proxy.EditMetadata(func(md map[string]any) {
			md["scopes_supported"] = []string{"openid", "urn:matrix:org.matrix.msc2967.client:api:*"}
		})
		rec, authURL := loopbackLogin(t, issuer, sub, t.TempDir(), map[string]any{"homeserver": proxy.URL, "oauth_enabled": true})
		scope := strings.Fields(authURL.Query().Get("scope"))
		if !contains(scope, "urn:matrix:org.matrix.msc2967.client:api:*") || !hasPrefix(scope, "urn:matrix:org.matrix.msc2967.client:device:") ||
			hasPrefix(scope, "urn:matrix:client:") {
			t.Fatalf("requested scope %q, want only the unstable Matrix scopes", scope)
		}
		if code, user := whoamiStatus(t, proxy.URL, rec.AccessToken); code != http.StatusOK || user != bot.UserID {
			t.Fatalf("after the login: whoami %d %s", code, user)
		}
	})

	t.Run("MetadataURLFirst", func(t *testing.T) {
		proxy, bot, sub := oauthBot(t, issuer)
		// What the homeserver serves would be refused: using it fails the login.
		proxy.EditMetadata(func(md map[string]any) {
			md["code_challenge_methods_supported"] = []string{"plain"}
			delete(md, "device_authorization_endpoint")
		})
		dir := t.TempDir()
		entry := map[string]any{
			"homeserver": proxy.URL, "oauth_enabled": true, "oauth_server_url": "http://" + freeAddr(t),
			"oauth_metadata_url": issuer + "/.well-known/openid-configuration",
		}
		rec, _ := loopbackLogin(t, issuer, sub, dir, entry)
		if code, user := whoamiStatus(t, proxy.URL, rec.AccessToken); code != http.StatusOK || user != bot.UserID {
			t.Fatalf("after the login: whoami %d %s", code, user)
		}
		if n := proxy.MetadataRequests(fakes.StableMetadataPath) + proxy.MetadataRequests(fakes.UnstableMetadataPath); n != 0 {
			t.Errorf("the homeserver's metadata was requested %d times although oauth_metadata_url is set", n)
		}
	})
}

// A server whose metadata lacks PKCE S256 or response_type=code is refused before anything
// is registered or shown, with an error that says what is missing.
func TestOAuthMetadataRefused(t *testing.T) {
	issuer := startOAuthServer(t, "60")
	for _, tc := range []struct {
		name, want string
		edit       func(md map[string]any)
	}{
		{"NoS256", "does not support PKCE with S256", func(md map[string]any) {
			md["code_challenge_methods_supported"] = []string{"plain"}
			delete(md, "device_authorization_endpoint")
		}},
		// The device flow is offered, but oauth_redirect_uri asks for the code flow.
		{"NoCodeResponseType", "does not support response_type=code", func(md map[string]any) {
			md["response_types_supported"] = []string{"none"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy, _, _ := oauthBot(t, issuer)
			proxy.EditMetadata(tc.edit)
			entry := map[string]any{"homeserver": proxy.URL, "oauth_enabled": true, "oauth_redirect_uri": "http://" + freeAddr(t) + "/callback"}
			out, err := gatewayCmd(oauthEnv(t.TempDir(), entry), "login", "0").CombinedOutput()
			var exit interface{ ExitCode() int }
			if !errors.As(err, &exit) || !strings.Contains(string(out), tc.want) {
				t.Fatalf("gateway login: %v, want a refusal saying %q:\n%s", err, tc.want, out)
			}
			if strings.Contains(string(out), issuer+"/auth?") {
				t.Errorf("an authorization URL was shown for a refused server:\n%s", out)
			}
		})
	}
}

// A running gateway whose OAuth bot has no session yet and whose oauth_redirect_uri is its own
// public URL with /oauth/callback: the log shows the authorization URL, the browser lands on the
// gateway, a redirect with another state is refused there, and the bot then syncs.
func TestOAuthGatewayCallback(t *testing.T) {
	issuer := startOAuthServer(t, "60")
	proxy, bot, sub := oauthBot(t, issuer)
	dir := t.TempDir()
	listen := freeAddr(t)
	redirect := "http://" + listen + "/oauth/callback"
	env := oauthEnv(dir, map[string]any{
		"homeserver": proxy.URL, "oauth_enabled": true, "oauth_redirect_uri": redirect, "auto_accept_invites": true,
	})
	env["GATEWAY_LISTEN"] = listen
	g := launchGateway(t, dir, env)

	shown := regexp.MustCompile(`OAuth login needed: open this URL[^\n]* url=("[^"]*"|\S+)`)
	var authURL string
	waitFor(t, "the authorization URL in the log", func() bool {
		m := shown.FindStringSubmatch(g.proc.Log())
		if m == nil {
			return false
		}
		authURL = m[1]
		if s, err := strconv.Unquote(m[1]); err == nil {
			authURL = s
		}
		return true
	})
	u, err := url.Parse(authURL)
	if err != nil || u.Query().Get("redirect_uri") != redirect || !strings.HasPrefix(authURL, issuer+"/auth?") {
		t.Fatalf("authorization URL %s (%v)", authURL, err)
	}

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
	code := resp.Request.URL.Query().Get("code")
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := g.proc.WaitReady(ctx, harness.ReadyzCheck(g.url)); err != nil {
		t.Fatalf("the bot does not sync after the login: %v", err)
	}
	alice := newHuman(t, "alice")
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	roundTrip(t, g, dialV12(t, g, authToken), alice, bot, room, "gateway callback")

	rec := storedTokens(t, dir, proxy.URL, "#0")
	if rec.SessionType != "oauth2" || rec.UserID != bot.UserID || rec.RefreshToken == "" {
		t.Fatalf("stored session: type %q user %q refreshable %t", rec.SessionType, rec.UserID, rec.RefreshToken != "")
	}
	noSecret(t, "the gateway's log", readLog(t, g), rec.AccessToken, rec.RefreshToken, code)
}

// An external oauth_redirect_uri: `gateway login` reads what the operator pastes on stdin. A
// pasted URL with another state is refused; the full redirect URL and the bare code both work.
func TestOAuthPastedRedirect(t *testing.T) {
	issuer := startOAuthServer(t, "60")
	proxy, bot, sub := oauthBot(t, issuer)
	dir := t.TempDir()
	const external = "https://app.example.invalid/matrix/callback"
	env := oauthEnv(dir, map[string]any{
		"homeserver": proxy.URL, "oauth_enabled": true, "oauth_redirect_uri": external, "user_id": bot.UserID,
	})

	// approve logs in through a browser and returns the redirect it was sent to.
	approve := func(authURL *url.URL) *url.URL {
		t.Helper()
		if authURL.Query().Get("redirect_uri") != external {
			t.Fatalf("authorization URL %s", authURL)
		}
		resp, page := newBrowserStoppingAt(t, sub, external).visit(authURL.String())
		loc, err := resp.Location()
		if err != nil || !strings.HasPrefix(loc.String(), external) || loc.Query().Get("code") == "" {
			t.Fatalf("the browser was not sent to the external redirect (%d, %v): %s", resp.StatusCode, err, page)
		}
		return loc
	}

	// A pasted URL with another state: refused, nothing stored.
	run := startLogin(t, env, "login", bot.UserID)
	approve(run.authURL(issuer))
	if _, err := io.WriteString(run.stdin, external+"?code=forged&state=not-the-state\n"); err != nil {
		t.Fatal(err)
	}
	if out, err := run.finish(); err == nil || !strings.Contains(out, "state does not match") {
		t.Fatalf("gateway login with a forged URL pasted: %v\n%s", err, out)
	}

	// The full redirect URL.
	run = startLogin(t, env, "login", bot.UserID)
	loc := approve(run.authURL(issuer))
	if _, err := io.WriteString(run.stdin, loc.String()+"\n"); err != nil {
		t.Fatal(err)
	}
	out, err := run.finish()
	if err != nil || !strings.Contains(out, "logged in as "+bot.UserID) {
		t.Fatalf("gateway login with the URL pasted: %v\n%s", err, out)
	}
	first := storedTokens(t, dir, proxy.URL, bot.UserID)
	noSecret(t, "gateway login's output", out, first.AccessToken, first.RefreshToken, loc.Query().Get("code"))

	// Only the code: accepted, with a warning that the state could not be checked.
	run = startLogin(t, env, "login", bot.UserID)
	loc = approve(run.authURL(issuer))
	code := loc.Query().Get("code")
	if _, err := io.WriteString(run.stdin, code+"\n"); err != nil {
		t.Fatal(err)
	}
	out, err = run.finish()
	if err != nil || !strings.Contains(out, "logged in as "+bot.UserID) || !strings.Contains(out, "state could not be checked") {
		t.Fatalf("gateway login with the code pasted: %v\n%s", err, out)
	}
	second := storedTokens(t, dir, proxy.URL, bot.UserID)
	noSecret(t, "gateway login's output", out, second.AccessToken, second.RefreshToken, code)
	if second.AccessToken == first.AccessToken || second.SessionType != "oauth2" {
		t.Fatalf("the second login stored no new OAuth session (type %s)", second.SessionType)
	}
	if status, user := whoamiStatus(t, proxy.URL, second.AccessToken); status != http.StatusOK || user != bot.UserID {
		t.Fatalf("the pasted login's token: whoami %d %s", status, user)
	}
}

// `gateway logout` of a password session calls /v3/logout: the token stops working and the
// session leaves the store.
func TestTokenLifecycleLogoutPassword(t *testing.T) {
	bot := newBotUser(t)
	dir := t.TempDir()
	env := oauthEnv(dir, map[string]any{
		"homeserver": hs.URL(), "login_user": bot.UserID, "login_password": bot.Password, "device_id": "LOGOUTDEV",
	})
	out, err := gatewayCmd(env, "login", "0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "logged in as "+bot.UserID+" on device LOGOUTDEV") {
		t.Fatalf("gateway login: %v\n%s", err, out)
	}
	rec := storedTokens(t, dir, hs.URL(), bot.UserID)
	noSecret(t, "gateway login's output", string(out), bot.Password, rec.AccessToken, rec.RefreshToken)
	if rec.SessionType != "legacy_login" {
		t.Fatalf("session type %s", rec.SessionType)
	}
	if status, user := whoamiStatus(t, hs.URL(), rec.AccessToken); status != http.StatusOK || user != bot.UserID {
		t.Fatalf("the stored token before the logout: whoami %d %s", status, user)
	}

	out, err = gatewayCmd(env, "logout", "0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "logged out") {
		t.Fatalf("gateway logout: %v\n%s", err, out)
	}
	noSecret(t, "gateway logout's output", string(out), bot.Password, rec.AccessToken, rec.RefreshToken)
	if status, _ := whoamiStatus(t, hs.URL(), rec.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("the logged-out token got %d, want 401", status)
	}
	db, err := storage.Open(testCtx(t), filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Tokens().Token(testCtx(t), hs.URL(), bot.UserID, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the session is still stored after the logout (%v)", err)
	}
	// A second logout has nothing to end, and says so.
	if out, err := gatewayCmd(env, "logout", "0").CombinedOutput(); err == nil || !strings.Contains(string(out), "no stored session") {
		t.Errorf("a second logout: %v\n%s", err, out)
	}
}

// `gateway login` for a bot whose oauth_redirect_uri is the gateway's own loopback URL while the
// gateway runs: the login cannot listen there, so it asks for the redirect; the browser lands on
// the gateway, whose page refuses the unknown state and says to paste the URL, which works.
func TestOAuthPastedFromGatewayPage(t *testing.T) {
	issuer := startOAuthServer(t, "60")
	proxy, bot, sub := oauthBot(t, issuer)
	listen := freeAddr(t)
	other := newBotUser(t)
	launchGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS": botJSON(other, nil), "GATEWAY_ACCESS_TOKEN": authToken, "GATEWAY_LISTEN": listen,
	})

	dir := t.TempDir()
	redirect := "http://" + listen + "/oauth/callback"
	run := startLogin(t, oauthEnv(dir, map[string]any{
		"homeserver": proxy.URL, "oauth_enabled": true, "oauth_redirect_uri": redirect,
	}), "login", "0")
	authURL := run.authURL(issuer)
	if authURL.Query().Get("redirect_uri") != redirect {
		t.Fatalf("authorization URL %s", authURL)
	}
	resp, page := newBrowser(t, sub).visit(authURL.String())
	landed := resp.Request.URL
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(landed.String(), redirect) || !strings.Contains(page, "paste this page's URL") {
		t.Fatalf("the browser ended at %s (%d): %s", landed, resp.StatusCode, page)
	}
	if _, err := io.WriteString(run.stdin, landed.String()+"\n"); err != nil {
		t.Fatal(err)
	}
	out, err := run.finish()
	if err != nil || !strings.Contains(out, "logged in as "+bot.UserID) {
		t.Fatalf("gateway login with the gateway's page URL pasted: %v\n%s", err, out)
	}
	rec := storedTokens(t, dir, proxy.URL, "#0")
	noSecret(t, "gateway login's output", out, rec.AccessToken, rec.RefreshToken, landed.Query().Get("code"))
	if status, user := whoamiStatus(t, proxy.URL, rec.AccessToken); status != http.StatusOK || user != bot.UserID {
		t.Fatalf("the login's token: whoami %d %s", status, user)
	}
}

// A running gateway cannot read a pasted redirect: with an external oauth_redirect_uri it shows
// no authorization URL that would lead nowhere, registers nothing, and the log says to run
// `gateway login`.
func TestOAuthExternalRedirectNeedsLogin(t *testing.T) {
	issuer := startOAuthServer(t, "60")
	proxy, _, _ := oauthBot(t, issuer)
	dir := t.TempDir()
	g := launchGateway(t, dir, oauthEnv(dir, map[string]any{
		"homeserver": proxy.URL, "oauth_enabled": true, "oauth_redirect_uri": "https://app.example.invalid/matrix/callback",
	}))
	waitFor(t, "the log to say to run gateway login", func() bool {
		return strings.Contains(g.proc.Log(), "so the code must be pasted: run `gateway login 0` in a terminal")
	})
	if log := g.proc.Log(); strings.Contains(log, "OAuth login needed") || strings.Contains(log, "registered an OAuth client") {
		t.Errorf("the gateway showed an authorization URL or registered a client for a redirect nobody can paste:\n%s", tail(log, 20))
	}
}
