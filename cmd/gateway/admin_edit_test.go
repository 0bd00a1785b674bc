package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// adminBrowser is a browser of g's admin page: it keeps its cookies and does not follow
// redirects.
type adminBrowser struct {
	t *testing.T
	g *gatewayRun
	c *http.Client
}

func newAdminBrowser(t *testing.T, g *gatewayRun) *adminBrowser {
	jar, _ := cookiejar.New(nil)
	return &adminBrowser{t, g, &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// post posts form to path and returns the status and body.
func (b *adminBrowser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.g.url+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// page returns the admin page.
func (b *adminBrowser) page() string {
	b.t.Helper()
	resp, err := b.c.Get(b.g.url + "/admin")
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// login logs in with token and returns the page's CSRF token; it fails without one.
func (b *adminBrowser) login(token string) string {
	b.t.Helper()
	if code, _ := b.post("/admin/login", url.Values{"token": {token}}); code != http.StatusSeeOther {
		b.t.Fatalf("admin login: %d", code)
	}
	m := csrfField.FindStringSubmatch(b.page())
	if m == nil {
		b.t.Fatal("no CSRF token on the admin page")
	}
	return m[1]
}

// The admin page adds a bot (checked as MATRIX_BOTS is: a bad one is refused with the reason)
// and removes one, while the gateway runs.
func TestAdminPageAddsAndRemovesABot(t *testing.T) {
	hs := fakes.NewFakeFleetHomeserver(t, 2)
	first, _ := json.Marshal([]map[string]any{fleetBot(hs, 0, nil)})
	g := startServe(t, map[string]string{"MATRIX_BOTS": string(first), "GATEWAY_ACCESS_TOKEN": "admin-token", "GATEWAY_START_JITTER": "0s"})
	c := newAdminBrowser(t, g)
	wait.For(t, time.Minute, "bot 0 ready", func() bool { users, ok := g.readyBots(); return ok && len(users) == 1 })
	csrf := c.login("admin-token")

	if code, body := c.post("/admin/bots", url.Values{"csrf": {csrf}, "bot": {`{"homeserver": "ftp://x"}`}}); code != http.StatusBadRequest ||
		!strings.Contains(body, "homeserver") {
		t.Fatalf("adding an invalid bot: %d %s; want 400 naming homeserver", code, body)
	}
	added, _ := json.Marshal(fleetBot(hs, 1, nil))
	if code, body := c.post("/admin/bots", url.Values{"csrf": {csrf}, "bot": {string(added)}}); code != http.StatusSeeOther {
		t.Fatalf("adding bot 1: %d %s", code, body)
	}
	if code, body := c.post("/admin/bots", url.Values{"csrf": {csrf}, "bot": {string(added)}}); code != http.StatusBadRequest || !strings.Contains(body, "runs already") {
		t.Fatalf("adding bot 1 again: %d %s; want 400 runs already", code, body)
	}
	wait.For(t, time.Minute, "both bots ready", func() bool { users, ok := g.readyBots(); return ok && len(users) == 2 })
	if !strings.Contains(c.page(), fakes.FleetUser(1)) {
		t.Fatal("the page does not list the added bot")
	}

	// Remove bot 0 (index 0): the name must still match.
	if code, _ := c.post("/admin/bots/0/remove", url.Values{"csrf": {csrf}, "name": {fakes.FleetUser(1)}}); code != http.StatusConflict {
		t.Fatalf("removing index 0 under another bot's name: %d; want 409", code)
	}
	if code, body := c.post("/admin/bots/0/remove", url.Values{"csrf": {csrf}, "name": {fakes.FleetUser(0)}}); code != http.StatusSeeOther {
		t.Fatalf("removing bot 0: %d %s", code, body)
	}
	wait.For(t, time.Minute, "only bot 1 left", func() bool {
		users, ok := g.readyBots()
		return ok && len(users) == 1 && users[0] == fakes.FleetUser(1)
	})
	if code, _ := g.v12Action(t, "get_self_info", fakes.FleetUser(0)); code != 10102 {
		t.Fatalf("an action for the removed bot: retcode %d; want 10102", code)
	}
}

// A bot added on the admin page with its own onebot_access_token is served with that token, and
// the token grants that bot only: not another bot, not the admin page. The page refuses a token
// that would grant more, as MATRIX_BOTS does: GATEWAY_ACCESS_TOKEN, a running bot's token, or a
// push token that is a running bot's token or GATEWAY_ACCESS_TOKEN (the bot's endpoints could
// act as the other bots); it never shows the token. Once the bot is removed,
// its token grants nothing.
func TestAdminPageAddsABotWithItsOwnToken(t *testing.T) {
	hs := fakes.NewFakeFleetHomeserver(t, 3)
	first, _ := json.Marshal([]map[string]any{fleetBot(hs, 0, nil)})
	g := startServe(t, map[string]string{"MATRIX_BOTS": string(first), "GATEWAY_ACCESS_TOKEN": "admin-token", "GATEWAY_START_JITTER": "0s"})
	c := newAdminBrowser(t, g)
	// action runs get_self_info for self with token and gives the HTTP status, or the retcode
	// of a 200 answer.
	action := func(token, self string) int {
		t.Helper()
		body := `{"action": "get_self_info", "params": {}, "self": {"platform": "matrix", "user_id": "` + self + `"}}`
		req, _ := http.NewRequest(http.MethodPost, g.url+"/onebot/v12/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var r struct {
			Retcode int `json:"retcode"`
		}
		if resp.StatusCode == http.StatusOK && json.Unmarshal(raw, &r) == nil {
			return r.Retcode
		}
		return resp.StatusCode
	}
	wait.For(t, time.Minute, "bot 0 ready", func() bool { users, ok := g.readyBots(); return ok && len(users) == 1 })
	csrf := c.login("admin-token")
	const own = "bot1-own-onebot-token"
	add := func(i int, extra map[string]any) (int, string) {
		t.Helper()
		b, _ := json.Marshal(fleetBot(hs, i, extra))
		return c.post("/admin/bots", url.Values{"csrf": {csrf}, "bot": {string(b)}})
	}

	if code, body := add(1, map[string]any{"onebot_access_token": "admin-token"}); code != http.StatusBadRequest || !strings.Contains(body, "GATEWAY_ACCESS_TOKEN") {
		t.Fatalf("adding a bot whose token is GATEWAY_ACCESS_TOKEN: %d %s; want 400 naming it", code, body)
	}
	if code, body := add(1, map[string]any{"onebot_access_token": own}); code != http.StatusSeeOther {
		t.Fatalf("adding bot 1 with its own token: %d %s", code, body)
	}
	if code, body := add(2, map[string]any{"onebot_access_token": own}); code != http.StatusBadRequest || !strings.Contains(body, "onebot_access_token") {
		t.Fatalf("adding bot 2 with bot 1's token: %d %s; want 400", code, body)
	}
	if code, body := add(2, map[string]any{"onebot_push_access_token": own}); code != http.StatusBadRequest || !strings.Contains(body, "onebot_push_access_token") {
		t.Fatalf("adding bot 2 with bot 1's token as its push token (its endpoints could act as bot 1): %d %s; want 400", code, body)
	}
	if code, body := add(2, map[string]any{"onebot_push_access_token": "admin-token"}); code != http.StatusBadRequest || !strings.Contains(body, "GATEWAY_ACCESS_TOKEN") {
		t.Fatalf("adding bot 2 with GATEWAY_ACCESS_TOKEN as its push token: %d %s; want 400", code, body)
	}
	wait.For(t, time.Minute, "bot 1 ready", func() bool { users, ok := g.readyBots(); return ok && len(users) == 2 })
	if p := c.page(); !strings.Contains(p, fakes.FleetUser(1)) || strings.Contains(p, own) {
		t.Fatal("the page must list bot 1 and never show its token")
	}

	if got := action(own, fakes.FleetUser(1)); got != 0 {
		t.Fatalf("bot 1's own token for bot 1: %d; want retcode 0", got)
	}
	if got := action(own, fakes.FleetUser(0)); got == 0 {
		t.Fatal("bot 1's own token was granted bot 0")
	}
	if got := action("admin-token", fakes.FleetUser(1)); got != 0 {
		t.Fatalf("GATEWAY_ACCESS_TOKEN for bot 1: %d; want retcode 0", got)
	}
	other := newAdminBrowser(t, g)
	other.post("/admin/login", url.Values{"token": {own}})
	if csrfField.MatchString(other.page()) {
		t.Fatal("bot 1's own token opened the admin page")
	}

	if code, body := c.post("/admin/bots/1/remove", url.Values{"csrf": {csrf}, "name": {fakes.FleetUser(1)}}); code != http.StatusSeeOther {
		t.Fatalf("removing bot 1: %d %s", code, body)
	}
	wait.For(t, time.Minute, "bot 1 gone", func() bool { users, ok := g.readyBots(); return ok && len(users) == 1 })
	if got := action(own, fakes.FleetUser(0)); got == 0 {
		t.Fatal("the removed bot's token was granted bot 0")
	}
	if got := action(own, fakes.FleetUser(1)); got == 0 {
		t.Fatal("the removed bot's token still works for it")
	}
}
