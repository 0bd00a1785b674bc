package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-onebot/gateway/test/harness"
)

// NoneBot2 over the v11 forward WebSocket with the default setup, no access token: the Host and
// browser checks that apply then let a bot framework through (it sends no Origin, and its Host
// is the address it dials).
func TestNoneBotForwardWSWithoutToken(t *testing.T) {
	const selfID = 6161
	bot, alice := newBotUser(t), newHuman(t, "alice")
	listen := freeAddr(t)
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":    botJSON(bot, map[string]any{"auto_accept_invites": true, "onebot_self_id": selfID}),
		"GATEWAY_LISTEN": listen,
	})
	harness.NoneBotForTest(t, harness.NoneBotOptions{ExtraEnv: map[string]string{
		"DRIVER":             "~fastapi+~httpx+~websockets",
		"ONEBOT_V11_WS_URLS": fmt.Sprintf(`["ws://%s/onebot/v11/"]`, listen),
	}})
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	alice.send(room, "/echo hi")
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "hi" })
	if strings.Contains(g.proc.LogTail(400), "browser request refused") {
		t.Errorf("the gateway refused one of NoneBot's requests:\n%s", g.proc.LogTail(60))
	}
}

func do(t *testing.T, method, u string, hdr map[string]string, body string) (int, string) {
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

// The gateway binary with its default listener (loopback, no token) refuses what a page in the
// operator's browser could do: fire an action by <img> or form (CSRF), open the forward
// WebSocket, read answers through DNS rebinding. The operator's own requests still work, and
// the OAuth callback still takes the navigation from an authorization server.
func TestGatewayRefusesBrowserRequests(t *testing.T) {
	bot, alice := newBotUser(t), newHuman(t, "alice")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS": botJSON(bot, map[string]any{"auto_accept_invites": true}),
	})
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	var groups struct {
		Data []struct {
			GroupID int64 `json:"group_id"`
		} `json:"data"`
	}
	waitFor(t, "the bot to list the room", func() bool {
		_, body := do(t, http.MethodGet, g.url+"/onebot/v11/get_group_list", nil, "")
		return json.Unmarshal([]byte(body), &groups) == nil && len(groups.Data) == 1
	})
	send := func(text string) string {
		return fmt.Sprintf("%s/onebot/v11/send_group_msg?group_id=%d&message=%s", g.url, groups.Data[0].GroupID, url.QueryEscape(text))
	}

	img := map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image",
		"User-Agent": "Mozilla/5.0 Chrome/140", "Referer": "https://evil.example/"}
	if status, body := do(t, http.MethodGet, send("pwned by img"), img, ""); status != http.StatusForbidden {
		t.Errorf("<img> CSRF: %d %s, want 403", status, body)
	}
	form := map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
		"Content-Type": "application/x-www-form-urlencoded"}
	if status, body := do(t, http.MethodPost, send(""), form, "message=pwned+by+form"); status != http.StatusForbidden {
		t.Errorf("form CSRF: %d %s, want 403", status, body)
	}
	port := g.url[strings.LastIndex(g.url, ":"):]
	rebound := map[string]string{"Host": "rebind.evil.example" + port, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
	if status, body := do(t, http.MethodGet, send("pwned by rebinding"), rebound, ""); status != http.StatusForbidden || !strings.Contains(body, "GATEWAY_PUBLIC_URL") {
		t.Errorf("DNS rebinding: %d %s, want 403 saying what to set", status, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if _, resp, err := websocket.Dial(ctx, g.wsURL("/onebot/v11/"), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("WebSocket from a page: %v %v, want 403", resp, err)
	}

	// The operator (address bar) and a bot framework still work; nothing of the above was sent.
	typed := map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "User-Agent": "Mozilla/5.0 Chrome/140"}
	if status, body := do(t, http.MethodGet, send("typed"), typed, ""); status != http.StatusOK || !strings.Contains(body, `"retcode":0`) {
		t.Fatalf("operator: %d %s", status, body)
	}
	var pwned []string
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool {
		if strings.Contains(c.Body, "pwned") {
			pwned = append(pwned, c.Body)
		}
		return c.Body == "typed"
	})
	if len(pwned) > 0 {
		t.Fatalf("a browser page made the bot send %q", pwned)
	}

	// The OAuth callback: the authorization server's redirect is a cross-site navigation (here no
	// login waits, so 400 from the callback itself); a page's <img> of it is refused first.
	nav := map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
	if status, body := do(t, http.MethodGet, g.url+"/oauth/callback?code=x&state=y", nav, ""); status != http.StatusBadRequest || !strings.Contains(body, "no login in progress") {
		t.Errorf("OAuth redirect: %d %s, want the callback's own 400", status, body)
	}
	if status, _ := do(t, http.MethodGet, g.url+"/oauth/callback?code=x&state=y", img, ""); status != http.StatusForbidden {
		t.Errorf("<img> of the OAuth callback: %d, want 403", status)
	}
}

// The gateway binary's timeouts and caps: a slow body (on the OAuth callback, which needs no
// token) and an idle keep-alive connection are closed; one address gets only its share of
// connections; a 16 MB request of an action without a file closes the WebSocket with the reason
// while a 16 MB upload goes through.
func TestGatewayTimeoutsAndCaps(t *testing.T) {
	const token = "caps-token"
	bot := newBotUser(t)
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":                         botJSON(bot, nil),
		"GATEWAY_ACCESS_TOKEN":                token,
		"GATEWAY_HTTP_READ_TIMEOUT":           "5s", // also bounds the 16 MB WebSocket messages below
		"GATEWAY_HTTP_IDLE_TIMEOUT":           "1s",
		"GATEWAY_MAX_CONNECTIONS_PER_ADDRESS": "4",
	})
	addr := strings.TrimPrefix(g.url, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	closedWithin := func(what string, c net.Conn) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: the connection stayed open", what)
		}
	}
	slow := dial()
	fmt.Fprintf(slow, "POST /oauth/callback HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\ncode=", addr)
	closedWithin("slow body", slow)

	idle := dial()
	fmt.Fprintf(idle, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	closedWithin("idle keep-alive", idle)

	// Four connections held open (a request done on each), the fifth refused.
	var held []net.Conn
	for range 4 {
		c := dial()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: %v %v", len(held)+1, resp, err)
		}
		held = append(held, c)
	}
	over := dial()
	fmt.Fprintf(over, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(over), nil)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fifth connection: %v %v, want 429", resp, err)
	}
	for _, c := range held {
		_ = c.Close()
	}
	waitFor(t, "the held connections to be released", func() bool {
		resp, err := http.Get(g.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	c, _, err := websocket.Dial(ctx, g.wsURL("/onebot/v12/"), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	frame := func(action string, params map[string]any, echo string) []byte {
		b, _ := json.Marshal(map[string]any{"action": action, "params": params, "echo": echo})
		return b
	}
	file := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("y", 12<<20)))
	if err := c.Write(ctx, websocket.MessageText, frame("upload_file", map[string]any{"type": "data", "name": "big.bin", "data": file}, "up")); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("reading the upload's answer: %v", err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		if m["echo"] == "up" {
			if m["retcode"] != float64(0) {
				t.Fatalf("16 MB upload_file: %s", b)
			}
			break
		}
	}
	if err := c.Write(ctx, websocket.MessageText, frame("get_status", map[string]any{}, strings.Repeat("x", 16<<20))); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue // events
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusMessageTooBig || !strings.Contains(ce.Reason, "GATEWAY_MAX_ACTION_SIZE") {
			t.Fatalf("16 MB get_status: %v, want close 1009 naming GATEWAY_MAX_ACTION_SIZE", err)
		}
		break
	}
}
