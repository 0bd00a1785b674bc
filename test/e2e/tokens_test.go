package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The gateway binary wires the tokens from the environment: a bot's onebot_access_token grants
// that bot only (HTTP v11 per-bot paths, v12 self), the global token grants both, no token is
// 401; a reverse WebSocket is not sent GATEWAY_ACCESS_TOKEN (no GATEWAY_PUSH_ACCESS_TOKEN is
// set), which the log tells the operator; a bot's own reverse WebSocket is sent its
// onebot_push_access_token.
func TestTokensFromTheEnvironment(t *testing.T) {
	botA, botB := newBotUser(t), newBotUser(t)
	headers := make(chan http.Header, 4)
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		h := r.Header.Clone()
		h.Set("X-Test-Path", r.URL.Path)
		headers <- h
		for { // read until either side ends the connection
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	defer peer.Close()
	peerURL := "ws" + strings.TrimPrefix(peer.URL, "http")
	var entries []any
	for _, b := range []struct {
		json string
	}{
		// e2ee off: not what this test is about, and quicker to start.
		{botJSON(botA, map[string]any{"onebot_self_id": 7101, "onebot_access_token": "tok-a", "e2ee": false,
			"onebot_push_access_token": "push-a", "onebot_v11_reverse_ws": []string{peerURL + "/bot-a"}})},
		{botJSON(botB, map[string]any{"onebot_self_id": 7102, "onebot_access_token": "tok-b", "e2ee": false, "auto_accept_invites": true})},
	} {
		var list []any
		if err := json.Unmarshal([]byte(b.json), &list); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, list...)
	}
	bots, _ := json.Marshal(entries)

	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":            string(bots),
		"GATEWAY_ACCESS_TOKEN":   "global",
		"GATEWAY_V12_REVERSE_WS": peerURL + "/all",
	})

	want := map[string]string{"/all": "", "/bot-a": "Bearer push-a"}
	for range want {
		select {
		case h := <-headers:
			path := h.Get("X-Test-Path")
			if w, ok := want[path]; !ok || h.Get("Authorization") != w {
				t.Errorf("reverse WebSocket %s sent Authorization %q, want %q (GATEWAY_ACCESS_TOKEN must not reach push endpoints)", path, h.Get("Authorization"), w)
			}
		case <-time.After(deadline):
			t.Fatal("the gateway did not dial both reverse WebSockets")
		}
	}
	if !strings.Contains(g.proc.Log(), "set GATEWAY_PUSH_ACCESS_TOKEN") {
		t.Errorf("the log does not tell the operator about GATEWAY_PUSH_ACCESS_TOKEN:\n%s", g.proc.LogTail(40))
	}

	call := func(method, path, token, body string) (int, map[string]any) {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, g.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	for _, tc := range []struct {
		path, token string
		code        int
		userID      float64
	}{
		{"/onebot/v11/7102/get_login_info", "tok-a", http.StatusForbidden, 0},
		{"/onebot/v11/7102/get_login_info", "tok-b", http.StatusOK, 7102},
		{"/onebot/v11/get_login_info", "tok-a", http.StatusOK, 7101},
		{"/onebot/v11/7102/get_login_info", "global", http.StatusOK, 7102},
		{"/onebot/v11/7101/get_login_info", "", http.StatusUnauthorized, 0},
	} {
		code, out := call(http.MethodGet, tc.path, tc.token, "")
		if code != tc.code {
			t.Errorf("%s with %q: %d %v, want %d", tc.path, tc.token, code, out, tc.code)
			continue
		}
		if tc.userID != 0 {
			if d, _ := out["data"].(map[string]any); d["user_id"] != tc.userID {
				t.Errorf("%s with %q: %v, want user_id %v", tc.path, tc.token, out, tc.userID)
			}
		}
	}
	selfB := `{"action":"get_self_info","self":{"platform":"matrix","user_id":"` + botB.UserID + `"}}`
	if _, out := call(http.MethodPost, "/onebot/v12/", "tok-a", selfB); out["retcode"] != float64(10102) {
		t.Errorf("v12 get_self_info as bot B with bot A's token: %v, want retcode 10102", out)
	}
	if _, out := call(http.MethodPost, "/onebot/v12/", "global", selfB); out["retcode"] != float64(0) {
		t.Errorf("v12 get_self_info as bot B with the global token: %v", out)
	}

	// Bot A never reads bot B's messages: a message in a room of bot B only, asked for as bot A
	// (even with the global token), is unknown; as bot B it is there.
	alice := newHuman(t, "alice")
	room := alice.roomWith(botB, false)
	alice.waitJoined(room, botB)
	v11B := &v11Conn{t: t, frames: readFrames(dialWS(t, g, "/onebot/v11/7102/", "tok-b"))}
	evt := alice.send(room, "for bot B only")
	n := int64(v11B.waitFrame("alice's message", func(f map[string]any) bool { return f["matrix_event_id"] == string(evt) })["message_id"].(float64))
	for _, tc := range []struct {
		path, token, status string
	}{
		{fmt.Sprintf("/onebot/v11/7101/get_msg?message_id=%d", n), "global", "failed"},
		{fmt.Sprintf("/onebot/v11/get_msg?message_id=%d", n), "tok-a", "failed"},
		{fmt.Sprintf("/onebot/v11/7102/get_msg?message_id=%d", n), "tok-b", "ok"},
	} {
		if _, out := call(http.MethodGet, tc.path, tc.token, ""); out["status"] != tc.status {
			t.Errorf("%s with %q: %v, want status %s", tc.path, tc.token, out, tc.status)
		}
	}
	asA := `{"action":"matrix.get_message","self":{"platform":"matrix","user_id":"` + botA.UserID + `"},"params":{"message_id":"` + string(evt) + `"}}`
	if _, out := call(http.MethodPost, "/onebot/v12/", "global", asA); out["status"] != "failed" || out["data"] != nil {
		t.Errorf("matrix.get_message of bot B's message as bot A: %v, want failed", out)
	}
}
