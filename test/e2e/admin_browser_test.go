package e2e

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/matrix-onebot/gateway/test/harness"
	"github.com/matrix-onebot/gateway/test/harness/chromium"
)

// The admin page in a real headless Chromium (Debian's chromium, installed by the harness when
// missing): the operator logs in with the access token through the form, sees the bot offline
// (its token rejected), starts an OAuth device-flow login from the page, approves the code the
// page shows at the test OAuth server, and sees the bot syncing, with no terminal and no
// restart. The page runs under its CSP (no inline script) and the guard (Chromium sends
// Origin and Sec-Fetch-Site with every form). The screenshot is kept as
// .cache/artifacts/admin-device-flow.png (the path is logged).
func TestAdminPageDeviceFlowInChromium(t *testing.T) {
	ctx := testCtx(t)
	chromium, err := chromium.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	issuer := startOAuthServer(t, "600")
	proxy, bot, sub := oauthBot(t, issuer)
	entry, _ := json.Marshal([]map[string]any{{"homeserver": proxy.URL, "user_id": bot.UserID, "access_token": "syt_revoked_long_ago"}})
	g := launchGateway(t, t.TempDir(), map[string]string{"MATRIX_BOTS": string(entry), "GATEWAY_ACCESS_TOKEN": "e2e-admin-token"})

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1200, 1400),
		chromedp.Flag("disable-dev-shm-usage", true))...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// The first action starts the browser: without a timeout, which would stop the browser.
	if err := chromedp.Do(browser, chromedp.Navigate(g.url+"/admin")); err != nil {
		t.Fatalf("chromium: open /admin: %v", err)
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		actx, cancel := context.WithTimeout(browser, deadline)
		defer cancel()
		if err := chromedp.Do(actx, steps...); err != nil {
			t.Fatalf("chromium: %s: %v", what, err)
		}
	}
	text := func(what, css string) string {
		t.Helper()
		actx, cancel := context.WithTimeout(browser, deadline)
		defer cancel()
		v, err := chromedp.Run(actx, chromedp.Text(chromedp.CSS(css)))
		if err != nil {
			t.Fatalf("chromium: %s: %v", what, err)
		}
		return v
	}
	attr := func(what, css, name string) string {
		t.Helper()
		actx, cancel := context.WithTimeout(browser, deadline)
		defer cancel()
		v, err := chromedp.Run(actx, chromedp.AttributeValue(chromedp.CSS(css), name))
		if err != nil {
			t.Fatalf("chromium: %s: %v", what, err)
		}
		return v.Value
	}
	state := func() string {
		run("reload /admin", chromedp.Navigate(g.url+"/admin"), chromedp.WaitReady(chromedp.CSS("dd.state")))
		return attr("read the bot's state", "dd.state", "data-state")
	}

	run("log in to the admin page",
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), "e2e-admin-token"),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.CSS("section.bot")),
	)
	waitFor(t, "the page to show the bot offline", func() bool { return state() == "offline" })

	run("start the device-flow login",
		chromedp.Click(chromedp.CSS("form.login-oauth-device button")),
		chromedp.WaitVisible(chromedp.CSS("a.verification-url")),
	)
	verification := attr("read the verification URL", "a.verification-url", "href")
	code := text("read the user code", "code.user-code")
	if !strings.HasPrefix(verification, issuer) || code == "" {
		t.Fatalf("the page shows verification URL %q (issuer %s) and code %q", verification, issuer, code)
	}
	// The operator approves the code at the OAuth server (its own pages, scripted).
	resp, page := newBrowser(t, sub).visit(verification)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "device-approved") {
		t.Fatalf("device approval ended with %d: %s", resp.StatusCode, page)
	}
	waitFor(t, "the page to show the bot syncing", func() bool { return state() == "syncing" })
	body := text("read the page", "main")
	if !strings.Contains(body, "Logged in (oauth-device)") || !strings.Contains(body, bot.UserID) {
		t.Errorf("after the login the page says:\n%s", body)
	}
	if !readyzReady(g) {
		t.Error("/readyz is not ready although the page shows the bot syncing")
	}

	actx, cancel := context.WithTimeout(browser, deadline)
	shot, err := chromedp.Run(actx, chromedp.FullScreenshot(100))
	cancel()
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	cache, err := harness.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "admin-device-flow.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(shot) < 1000 || string(shot[1:4]) != "PNG" {
		t.Errorf("the screenshot is not a PNG (%d bytes)", len(shot))
	}
	t.Logf("screenshot of the admin page: %s", path)

	// A page of another site cannot post to the admin page from the same browser (the session
	// cookie is SameSite=Strict, and the guard refuses the cross-site form before the page).
	evil := startEvilSite(t, g.url+"/admin/bots/0/reconnect")
	before := strings.Count(g.proc.LogTail(2000), "bot restarted from the admin page")
	run("open another site's page", chromedp.Navigate(evil))
	waitFor(t, "the gateway's answer to another site's form", func() bool {
		return strings.Contains(text("read the answer", "body"), "admin page takes requests from its own pages only")
	})
	if n := strings.Count(g.proc.LogTail(2000), "bot restarted from the admin page"); n != before {
		t.Error("another site's form restarted the bot")
	}
}

// startEvilSite serves, at a localhost URL (another site than the gateway's 127.0.0.1), a page
// that posts a form to target as soon as it loads; it returns the page's URL.
func startEvilSite(t *testing.T, target string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><form id="f" method="post" action="` + html.EscapeString(target) +
			`"><input name="csrf" value="guess"></form><script>document.getElementById("f").submit()</script>`))
	}))
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}
