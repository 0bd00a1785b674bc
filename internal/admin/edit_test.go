package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// editingBackend is fakeBackend that can also change the bot list (BotEditor).
type editingBackend struct {
	*fakeBackend
	mu      sync.Mutex
	added   []string
	removed []string
	reloads int
}

func (e *editingBackend) AddBot(_ context.Context, botJSON string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !strings.HasPrefix(botJSON, "{") {
		return "", errors.New("not an object")
	}
	e.added = append(e.added, botJSON)
	return "@new:example.org", nil
}

func (e *editingBackend) RemoveBot(_ context.Context, index int, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.removed = append(e.removed, name)
	return nil
}

func (e *editingBackend) Reload(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reloads++
	return nil
}

// With a backend that can change the bots, the page shows the add, remove and reload forms;
// each needs the session's CSRF token and reaches the backend; a bad bot is 400 with the reason.
// Without one, the forms are not shown and the actions are 404.
func TestEditForms(t *testing.T) {
	f := newFixture(t, Options{})
	if _, page := do(t, client(t), http.MethodGet, f.srv.URL+"/admin", nil); strings.Contains(page, "add-bot") {
		t.Fatal("the login page shows the add form")
	}
	c := client(t)
	csrf := f.login(t, c)
	if _, page := do(t, c, http.MethodGet, f.srv.URL+"/admin", nil); strings.Contains(page, `id="add-bot"`) {
		t.Fatal("the page shows the add form for a backend that cannot add bots")
	}
	if resp, _ := do(t, c, http.MethodPost, f.srv.URL+"/admin/reload", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("reload without an editor: %d, want 404", resp.StatusCode)
	}

	e := &editingBackend{fakeBackend: f.be}
	srv := &fixture{srv: httptest.NewServer(New(Options{AccessToken: testToken, Backend: e, Hub: hubView{}}))}
	t.Cleanup(srv.srv.Close)
	c = client(t)
	csrf = srv.login(t, c)
	_, page := do(t, c, http.MethodGet, srv.srv.URL+"/admin", nil)
	for _, want := range []string{`id="add-bot"`, `action="/admin/bots/0/remove"`, `id="reload"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the page lacks %s", want)
		}
	}
	if resp, _ := do(t, c, http.MethodPost, srv.srv.URL+"/admin/bots", url.Values{"bot": {"{}"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("add without the CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp, body := do(t, c, http.MethodPost, srv.srv.URL+"/admin/bots", url.Values{"csrf": {csrf}, "bot": {"[1]"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not an object") {
		t.Fatalf("add a bad bot: %d %s, want 400 with the reason", resp.StatusCode, body)
	}
	if resp, _ := do(t, c, http.MethodPost, srv.srv.URL+"/admin/bots", url.Values{"csrf": {csrf}, "bot": {`{"homeserver": "https://a"}`}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d, want 303", resp.StatusCode)
	}
	if resp, _ := do(t, c, http.MethodPost, srv.srv.URL+"/admin/bots/0/remove", url.Values{"csrf": {csrf}, "name": {"@bot:example.org"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d, want 303", resp.StatusCode)
	}
	if resp, _ := do(t, c, http.MethodPost, srv.srv.URL+"/admin/reload", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reload: %d, want 303", resp.StatusCode)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.added) != 1 || len(e.removed) != 1 || e.removed[0] != "@bot:example.org" || e.reloads != 1 {
		t.Fatalf("backend saw added %v, removed %v, %d reloads", e.added, e.removed, e.reloads)
	}
}
