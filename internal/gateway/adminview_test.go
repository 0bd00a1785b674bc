package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/gateway/adminview"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/model"
)

// adminStub stands in for internal/admin: it answers 200 "admin page" to whatever reaches it.
func adminStub(reached *int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*reached++
		_, _ = w.Write([]byte("admin page"))
	})
}

// The admin page posts forms to itself: the guard lets its own requests (same-origin, an
// Origin equal to the gateway's, the operator typing the URL, no browser at all) reach it, and
// refuses every other site's, even an origin in GATEWAY_ALLOWED_ORIGINS (that list is for
// OneBot web clients, which may not manage the gateway). Refused requests never reach the page.
func TestGuardAdminSameOriginOnly(t *testing.T) {
	db := newTestDB(t)
	h := NewHub(Options{Version: "test", AccessToken: "tok", IDs: db.IDs(), HeartbeatInterval: time.Hour,
		Web: web.Options{AllowedOrigins: []string{"https://dashboard.example"}}})
	reached := 0
	h.SetAdmin(adminStub(&reached))
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	own := srv.URL // http://127.0.0.1:port

	form := "application/x-www-form-urlencoded"
	pass := []map[string]string{
		{"Origin": own, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Content-Type": form},
		{"Origin": own, "Content-Type": form}, // an older browser: Origin without Sec-Fetch-*
		{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"},
		{"Referer": own + "/admin"},
		{}, // curl
	}
	for i, hdr := range pass {
		before := reached
		code, body := browserDo(t, http.MethodPost, srv.URL+"/admin/login", hdr, "token=x")
		if code != http.StatusOK || reached != before+1 {
			t.Errorf("own request %d %v: status %d %q, reached page %v; want it through", i, hdr, code, body, reached == before+1)
		}
	}
	refuse := []map[string]string{
		formFromEvil,
		{"Origin": "https://dashboard.example", "Sec-Fetch-Site": "cross-site", "Content-Type": form},
		{"Origin": "https://dashboard.example", "Content-Type": form},
		{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"},
		{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
		fetchFromNull,
		oldBrowserImg,
		{"Origin": strings.Replace(own, "http://", "https://", 1), "Content-Type": form}, // another scheme is another origin
	}
	for i, hdr := range refuse {
		before := reached
		code, body := browserDo(t, http.MethodPost, srv.URL+"/admin/bots/0/reconnect", hdr, "csrf=x")
		if code != http.StatusForbidden || reached != before || !strings.Contains(body, "admin page") {
			t.Errorf("foreign request %d %v: status %d %q, reached page %v; want 403 before the page", i, hdr, code, body, reached != before)
		}
	}
	// The page's own answers cannot be framed.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admin", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("X-Frame-Options = %q, want DENY", resp.Header.Get("X-Frame-Options"))
	}
}

// With GATEWAY_PUBLIC_URL https (a TLS proxy in front), the browser's origin is https: a form
// from the page itself carries that Origin and passes; the http origin does not.
func TestGuardAdminOriginBehindTLSProxy(t *testing.T) {
	h := NewHub(Options{Version: "test", AccessToken: "tok", IDs: newTestDB(t).IDs(), HeartbeatInterval: time.Hour,
		Web: web.Options{PublicHTTPS: true, Hosts: []string{"bots.example.org"}}})
	reached := 0
	h.SetAdmin(adminStub(&reached))
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	code, _ := browserDo(t, http.MethodPost, srv.URL+"/admin/login",
		map[string]string{"Host": "bots.example.org", "Origin": "https://bots.example.org", "Sec-Fetch-Site": "same-origin"}, "")
	if code != http.StatusOK || reached != 1 {
		t.Errorf("own https origin: status %d, reached %d", code, reached)
	}
	code, _ = browserDo(t, http.MethodPost, srv.URL+"/admin/login",
		map[string]string{"Host": "bots.example.org", "Origin": "http://bots.example.org"}, "")
	if code != http.StatusForbidden || reached != 1 {
		t.Errorf("http origin behind an https public URL: status %d, reached %d; want 403", code, reached)
	}
}

// Without SetAdmin there is no /admin.
func TestNoAdminPageUnlessSet(t *testing.T) {
	h, _, _ := newTestHub(t, "tok")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	if code, _ := browserDo(t, http.MethodGet, srv.URL+"/admin", nil, ""); code != http.StatusNotFound {
		t.Errorf("GET /admin without an admin page: %d, want 404", code)
	}
}

// AdminView lists each OneBot connection with its transport, version, bot and queue, and the
// last events per bot (kind, ID, room; no text), newest last, at most adminview.MaxEvents.
func TestAdminView(t *testing.T) {
	h, bot, _ := newTestHub(t, "tok")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/onebot/v11/", http.Header{"Authorization": {"Bearer tok"}})
	defer c.CloseNow()
	waitUntil(t, "the WebSocket in the admin view", func() bool {
		v := h.AdminView(ctx)
		return len(v.Connections) == 1 && v.Connections[0].Transport == "forward WebSocket" &&
			v.Connections[0].Version == 11 && v.Connections[0].Bot == bot.ID && v.Connections[0].Stored == -1
	})
	go func() { // the client reads what it is sent
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	for i := range adminview.MaxEvents + 5 {
		ev := sampleEvent(false)
		ev.ID = "$e" + strings.Repeat("x", i)
		ev.Message.EventID = id.EventID(ev.ID)
		if err := h.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	l := h.AdminView(ctx).LastEvents[bot.ID]
	if len(l) != adminview.MaxEvents {
		t.Fatalf("%d last events, want %d", len(l), adminview.MaxEvents)
	}
	last := l[len(l)-1]
	if last.ID != "$e"+strings.Repeat("x", adminview.MaxEvents+4) || last.Room != "!room:example.org" || last.Kind != string(model.KindMessage) {
		t.Errorf("newest event = %+v", last)
	}
}
