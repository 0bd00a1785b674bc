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

// The admin page adds a bot (checked as MATRIX_BOTS is: a bad one is refused with the reason)
// and removes one, while the gateway runs.
func TestAdminPageAddsAndRemovesABot(t *testing.T) {
	hs := fakes.NewFakeFleetHomeserver(t, 2)
	first, _ := json.Marshal([]map[string]any{fleetBot(hs, 0, nil)})
	g := startServe(t, map[string]string{"MATRIX_BOTS": string(first), "GATEWAY_ACCESS_TOKEN": "admin-token", "GATEWAY_START_JITTER": "0s"})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		resp, err := c.PostForm(g.url+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	page := func() string {
		t.Helper()
		resp, err := c.Get(g.url + "/admin")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	wait.For(t, time.Minute, "bot 0 ready", func() bool { users, ok := g.readyBots(); return ok && len(users) == 1 })
	if code, _ := post("/admin/login", url.Values{"token": {"admin-token"}}); code != http.StatusSeeOther {
		t.Fatalf("admin login: %d", code)
	}
	m := csrfField.FindStringSubmatch(page())
	if m == nil {
		t.Fatal("no CSRF token on the admin page")
	}
	csrf := m[1]

	if code, body := post("/admin/bots", url.Values{"csrf": {csrf}, "bot": {`{"homeserver": "ftp://x"}`}}); code != http.StatusBadRequest ||
		!strings.Contains(body, "homeserver") {
		t.Fatalf("adding an invalid bot: %d %s; want 400 naming homeserver", code, body)
	}
	added, _ := json.Marshal(fleetBot(hs, 1, nil))
	if code, body := post("/admin/bots", url.Values{"csrf": {csrf}, "bot": {string(added)}}); code != http.StatusSeeOther {
		t.Fatalf("adding bot 1: %d %s", code, body)
	}
	if code, body := post("/admin/bots", url.Values{"csrf": {csrf}, "bot": {string(added)}}); code != http.StatusBadRequest || !strings.Contains(body, "runs already") {
		t.Fatalf("adding bot 1 again: %d %s; want 400 runs already", code, body)
	}
	wait.For(t, time.Minute, "both bots ready", func() bool { users, ok := g.readyBots(); return ok && len(users) == 2 })
	if !strings.Contains(page(), fakes.FleetUser(1)) {
		t.Fatal("the page does not list the added bot")
	}

	// Remove bot 0 (index 0): the name must still match.
	if code, _ := post("/admin/bots/0/remove", url.Values{"csrf": {csrf}, "name": {fakes.FleetUser(1)}}); code != http.StatusConflict {
		t.Fatalf("removing index 0 under another bot's name: %d; want 409", code)
	}
	if code, body := post("/admin/bots/0/remove", url.Values{"csrf": {csrf}, "name": {fakes.FleetUser(0)}}); code != http.StatusSeeOther {
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
