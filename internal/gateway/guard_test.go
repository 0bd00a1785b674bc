package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/internal/gateway/intake"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// browserGet sends a request with the headers a browser adds; it returns the status and body.
func browserDo(t *testing.T, method, u string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The headers a browser sends when a page of another site loads a URL: an <img src> (no-cors,
// no Origin on a GET), a form POST, a fetch.
var (
	imgFromEvil   = map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
	imgSameSite   = map[string]string{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
	formFromEvil  = map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Content-Type": "application/x-www-form-urlencoded"}
	fetchFromNull = map[string]string{"Origin": "null", "Content-Type": "application/x-www-form-urlencoded"}
	oldBrowserImg = map[string]string{"Referer": "http://evil.example/page.html"}
	typedByUser   = map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
)

// Without an access token (the default loopback listener), a page in the operator's browser
// must not make the bot send a message: GET (CSRF by <img>), form POST, sandboxed fetch, an old
// browser's request with another page's Referer. A bot framework (no browser headers) and the
// operator typing the URL still work.
func TestBrowserCannotCallActions(t *testing.T) {
	h, bot, db := newTestHub(t, "")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	room, err := db.IDs().V11ID(context.Background(), storage.KindRoom, "!room:example.org")
	if err != nil {
		t.Fatal(err)
	}
	group := strconv.FormatInt(room, 10)
	send := srv.URL + "/onebot/v11/send_group_msg?group_id=" + group + "&message=pwned"
	for _, tc := range []struct {
		name, method string
		hdr          map[string]string
		body         string
	}{
		{"img cross-site", http.MethodGet, imgFromEvil, ""},
		{"img same-site", http.MethodGet, imgSameSite, ""},
		{"form post", http.MethodPost, formFromEvil, "group_id=" + group + "&message=pwned"},
		{"sandboxed fetch", http.MethodPost, fetchFromNull, "group_id=" + group + "&message=pwned"},
		{"old browser", http.MethodGet, oldBrowserImg, ""},
	} {
		status, body := browserDo(t, tc.method, send, tc.hdr, tc.body)
		if status != http.StatusForbidden || !strings.Contains(body, "refused") {
			t.Errorf("%s: %d %s, want 403 with the reason", tc.name, status, body)
		}
	}
	status, body := browserDo(t, http.MethodPost, srv.URL+"/onebot/v12/", formFromEvil, `{"action":"get_version"}`)
	if status != http.StatusForbidden || !strings.Contains(body, "GATEWAY_ALLOWED_ORIGINS") {
		t.Errorf("v12 POST from a page: %d %s, want 403 naming GATEWAY_ALLOWED_ORIGINS", status, body)
	}
	if sent := bot.Sent(); len(sent) != 0 {
		t.Fatalf("a browser page made the bot send %v", sent)
	}
	if got := h.Stats().BrowserRefused.Load(); got != 6 {
		t.Errorf("BrowserRefused = %d, want 6", got)
	}

	// A bot framework and the operator's own address bar.
	for _, hdr := range []map[string]string{nil, typedByUser} {
		if status, body := browserDo(t, http.MethodGet, send, hdr, ""); status != http.StatusOK || !strings.Contains(body, `"retcode":0`) {
			t.Errorf("headers %v: %d %s, want 200 and sent", hdr, status, body)
		}
	}
	if sent := bot.Sent(); len(sent) != 2 {
		t.Fatalf("sent %v, want the two messages of the bot framework and the operator", sent)
	}
}

// DNS rebinding: a page at http://rebind.example:PORT whose name now resolves to 127.0.0.1 sends
// same-origin requests (no Origin on a GET, Sec-Fetch-Site same-origin) with its own Host. Without
// a token, only the gateway's names are accepted; with a token the answer is useless to it.
func TestRebindingHostRefusedWithoutToken(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	h.guard.Opts.Hosts = []string{"bots.example.org"}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	sameOrigin := func(host string) map[string]string {
		return map[string]string{"Host": host, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
	}
	for _, host := range []string{"rebind.example" + port, "rebind.example", "127.0.0.1.nip.io" + port, "localhost.evil.example" + port} {
		status, body := browserDo(t, http.MethodGet, srv.URL+"/onebot/v11/get_login_info", sameOrigin(host), "")
		if status != http.StatusForbidden || !strings.Contains(body, "GATEWAY_PUBLIC_URL") {
			t.Errorf("Host %s: %d %s, want 403 saying what to set", host, status, body)
		}
		if status, _ := browserDo(t, http.MethodGet, srv.URL+"/readyz", sameOrigin(host), ""); status != http.StatusForbidden {
			t.Errorf("Host %s: /readyz %d, want 403", host, status)
		}
		if _, resp, err := websocket.Dial(context.Background(), wsURL(srv, "/onebot/v11/"), &websocket.DialOptions{Host: host}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Host %s: WebSocket %v %v, want 403", host, resp, err)
		}
	}
	for _, host := range []string{"127.0.0.1" + port, "localhost" + port, "LOCALHOST.", "[::1]" + port, "bots.example.org", "gw.localhost" + port} {
		if status, body := browserDo(t, http.MethodGet, srv.URL+"/onebot/v11/get_login_info", sameOrigin(host), ""); status != http.StatusOK {
			t.Errorf("Host %s: %d %s, want 200", host, status, body)
		}
	}

	// With a token, the Host is not looked at (the token is what rebinding cannot get).
	ht, _, _ := newTestHub(t, testToken)
	srvT := httptest.NewServer(ht.Handler())
	defer srvT.Close()
	hdr := map[string]string{"Host": "rebind.example", "Authorization": "Bearer " + testToken}
	if status, body := browserDo(t, http.MethodGet, srvT.URL+"/onebot/v11/get_login_info", hdr, ""); status != http.StatusOK {
		t.Errorf("with a token: %d %s, want 200", status, body)
	}
}

// /readyz needs no token, so with a token set (when the guard does not look at the Host) a page
// whose name was rebound to the gateway could read every bot's user ID, state and failure reason
// from it. A Host that is not one of the gateway's names gets only whether it is ready (the
// status code and "ready", all a health check needs); the gateway's own names get the report.
// Before, a rebound Host got the whole report.
func TestReadyzTellsARebindingPageOnlyTheStatus(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	h.guard.Opts.Hosts = []string{"bots.example.org"}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	for host, full := range map[string]bool{
		"rebind.example" + port: false, "127.0.0.1.nip.io": false,
		"127.0.0.1" + port: true, "localhost" + port: true, "bots.example.org": true,
	} {
		status, body := browserDo(t, http.MethodGet, srv.URL+"/readyz", map[string]string{"Host": host, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}, "")
		if status != http.StatusOK || !strings.Contains(body, `"ready":true`) {
			t.Errorf("Host %s: /readyz %d %s; want 200 saying ready", host, status, body)
		}
		if got := strings.Contains(body, "@bot:example.org"); got != full {
			t.Errorf("Host %s: /readyz %s; want the bots listed: %v", host, body, full)
		}
	}
}

// A page cannot open the forward WebSocket (browsers always send Origin on it), with or without a
// token in the URL; a bot framework (no Origin) can.
func TestBrowserCannotOpenForwardWebSocket(t *testing.T) {
	for _, token := range []string{"", testToken} {
		h, _, _ := newTestHub(t, token)
		srv := httptest.NewServer(h.Handler())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		q := ""
		if token != "" {
			q = "?access_token=" + token
		}
		for _, path := range []string{"/onebot/v11/", "/onebot/v11/api", "/onebot/v11/10001/event", "/onebot/v12/"} {
			for _, origin := range []string{"http://evil.example", "null", srv.URL, "http://localhost:1"} {
				_, resp, err := websocket.Dial(ctx, wsURL(srv, path+q), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
				if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Errorf("token %q, %s from %s: %v %v, want 403", token, path, origin, resp, err)
				}
			}
		}
		c := dialWS(t, ctx, wsURL(srv, "/onebot/v11/"+q), nil)
		if m := readJSON(t, ctx, c); m["meta_event_type"] != "lifecycle" {
			t.Errorf("bot framework: first frame %v, want lifecycle", m)
		}
		_ = c.Close(websocket.StatusNormalClosure, "")
		cancel()
		srv.Close()
	}
}

// GATEWAY_ALLOWED_ORIGINS lets one web client in: CORS preflight and answers, and the WebSocket;
// every other origin stays out.
func TestAllowedOrigin(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	h.guard.Opts.AllowedOrigins = []string{"https://dash.example.org"}
	h.opts.Web.AllowedOrigins = h.guard.Opts.AllowedOrigins
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/onebot/v12/", nil)
	req.Header.Set("Origin", "https://dash.example.org")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://dash.example.org" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	status, body := browserDo(t, http.MethodPost, srv.URL+"/onebot/v12/", map[string]string{
		"Origin": "https://dash.example.org", "Sec-Fetch-Site": "cross-site", "Content-Type": "application/json",
		"Authorization": "Bearer " + testToken,
	}, `{"action":"get_version"}`)
	if status != http.StatusOK || !strings.Contains(body, `"retcode":0`) {
		t.Fatalf("allowed origin: %d %s", status, body)
	}
	c := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), http.Header{"Origin": {"https://dash.example.org"}, "Authorization": {"Bearer " + testToken}})
	_ = c.Close(websocket.StatusNormalClosure, "")
	if status, _ := browserDo(t, http.MethodPost, srv.URL+"/onebot/v12/", map[string]string{
		"Origin": "https://dash.example.org.evil.example", "Content-Type": "application/json", "Authorization": "Bearer " + testToken,
	}, `{"action":"get_version"}`); status != http.StatusForbidden {
		t.Fatalf("lookalike origin: %d, want 403", status)
	}
}

// /media links are embedded by any page (cross-site is fine) but served sandboxed; the OAuth
// callback takes the browser's navigation from the authorization server, not a page's request,
// and a small body only.
func TestBrowserMediaAndOAuthCallback(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	h.opts.Media = intake.New(intake.Options{Files: newTestFiles(t, 1<<20, nil)})
	var got []string
	h.opts.OAuthCallback = &OAuthCallback{Path: "/oauth/callback", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
			return
		}
		got = append(got, r.Form.Get("code"))
		_, _ = io.WriteString(w, "ok")
	})}
	h.guard.Callback = "/oauth/callback"
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	_, _, hdr := httpGetWith(t, srv.URL+"/media/nope", imgFromEvil)
	if n := h.Stats().BrowserRefused.Load(); n != 0 {
		t.Fatalf("a cross-site <img> of a media link was refused by the guard")
	}
	if hdr.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(hdr.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("media headers %v, want nosniff and a sandbox CSP", hdr)
	}

	nav := map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
	if status, body := browserDo(t, http.MethodGet, srv.URL+"/oauth/callback?code=c1&state=s", nav, ""); status != http.StatusOK {
		t.Errorf("redirect from the authorization server: %d %s", status, body)
	}
	formPost := map[string]string{"Origin": "https://auth.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
		"Content-Type": "application/x-www-form-urlencoded"}
	if status, body := browserDo(t, http.MethodPost, srv.URL+"/oauth/callback", formPost, "code=c2&state=s"); status != http.StatusOK {
		t.Errorf("form_post from the authorization server: %d %s", status, body)
	}
	if status, _ := browserDo(t, http.MethodGet, srv.URL+"/oauth/callback?code=c3&state=s", imgFromEvil, ""); status != http.StatusForbidden {
		t.Errorf("an <img> of the callback: %d, want 403", status)
	}
	big := "code=c4&state=s&pad=" + strings.Repeat("x", web.MaxCallbackBody)
	if status, _ := browserDo(t, http.MethodPost, srv.URL+"/oauth/callback", formPost, big); status != http.StatusBadRequest {
		t.Errorf("a %d-byte callback body: %d, want 400", len(big), status)
	}
	if strings.Join(got, ",") != "c1,c2" {
		t.Errorf("the callback received codes %v, want c1,c2", got)
	}
}

func httpGetWith(t *testing.T, u string, hdr map[string]string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}
