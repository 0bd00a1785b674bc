package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

// fleetBot is a MATRIX_BOTS object of account i of the fake fleet homeserver, with v11
// self_id 1000+i; extra keys are added.
func fleetBot(hs *fakes.FakeFleetHomeserver, i int, extra map[string]any) map[string]any {
	b := map[string]any{"homeserver": hs.URL, "user_id": fakes.FleetUser(i), "access_token": fakes.FleetToken(i),
		"e2ee": false, "onebot_self_id": 1000 + i}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// writeEnvFile writes GATEWAY_ENV_FILE with MATRIX_BOTS set to bots.
func writeEnvFile(t *testing.T, path string, bots ...map[string]any) {
	t.Helper()
	list, _ := json.Marshal(bots)
	if err := os.WriteFile(path, []byte("MATRIX_BOTS='"+string(list)+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveFromEnvFile starts a gateway (with env, and GATEWAY_START_JITTER 0s) whose bots are
// those that GATEWAY_ENV_FILE lists, and waits until they are ready; it returns the file too.
func serveFromEnvFile(t *testing.T, env map[string]string, bots ...map[string]any) (*gatewayRun, string) {
	t.Helper()
	envFile := filepath.Join(t.TempDir(), "gateway.env")
	writeEnvFile(t, envFile, bots...)
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	env["GATEWAY_ENV_FILE"], env["GATEWAY_START_JITTER"] = envFile, "0s"
	g := startServe(t, env)
	g.waitReadyBots(t, bots...)
	return g, envFile
}

// readUntilClosed reads and drops c's frames (so that pings are answered) until the connection
// ends; the channel then gets the error it ended with.
func readUntilClosed(ctx context.Context, c *websocket.Conn) <-chan error {
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				closed <- err
				return
			}
		}
	}()
	return closed
}

// waitTokensRequiredClose waits until the connection of closed (readUntilClosed) ends with a
// close frame saying access tokens are required now; what names it in the failure.
func waitTokensRequiredClose(ctx context.Context, t *testing.T, closed <-chan error, what string) {
	t.Helper()
	select {
	case err := <-closed:
		var ce websocket.CloseError
		if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "access tokens are required now") {
			t.Fatalf("%s ended with %v; want a close frame saying tokens are required now", what, err)
		}
	case <-ctx.Done():
		t.Fatalf("%s stayed open", what)
	}
}

// reloadBots writes bots into envFile, reloads g (SIGHUP) and waits until exactly those bots are
// ready.
func (g *gatewayRun) reloadBots(t *testing.T, envFile string, bots ...map[string]any) {
	t.Helper()
	writeEnvFile(t, envFile, bots...)
	g.reload <- struct{}{}
	g.waitReadyBots(t, bots...)
}

// waitReadyBots waits until /readyz is ready with exactly the bots (fleetBot's) listed.
func (g *gatewayRun) waitReadyBots(t *testing.T, bots ...map[string]any) {
	t.Helper()
	var want []string
	for _, b := range bots {
		want = append(want, b["user_id"].(string))
	}
	slices.Sort(want)
	wait.For(t, time.Minute, fmt.Sprintf("the bots %v ready", want), func() bool {
		users, ok := g.readyBots()
		slices.Sort(users)
		return ok && slices.Equal(users, want)
	})
}

// readyBots returns the user IDs /readyz lists and whether it says ready.
func (g *gatewayRun) readyBots() ([]string, bool) {
	resp, err := http.Get(g.url + "/readyz")
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var rep struct {
		Ready bool `json:"ready"`
		Bots  []struct {
			UserID string `json:"user_id"`
		} `json:"bots"`
	}
	if json.NewDecoder(resp.Body).Decode(&rep) != nil {
		return nil, false
	}
	var users []string
	for _, b := range rep.Bots {
		users = append(users, b.UserID)
	}
	return users, rep.Ready
}

// v12Action calls a v12 action over HTTP and returns the response's retcode and message.
func (g *gatewayRun) v12Action(t *testing.T, action, self string) (int, string) {
	t.Helper()
	body := `{"action": "` + action + `", "params": {}, "self": {"platform": "matrix", "user_id": "` + self + `"}}`
	req, _ := http.NewRequest(http.MethodPost, g.url+"/onebot/v12/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if g.token != "" {
		req.Header.Set("Authorization", "Bearer "+g.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Retcode int    `json:"retcode"`
		Message string `json:"message"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s: %v: %s", action, err, raw)
	}
	return r.Retcode, r.Message
}

// A reload (SIGHUP) applies the bot list of GATEWAY_ENV_FILE: a bot no longer listed stops and
// leaves the hub (its WebSocket gets a close frame with the reason, requests naming it "unknown
// self", its metrics go), a new one starts, a changed one starts again, and an unchanged one is
// not touched; an invalid file changes nothing.
func TestReloadAppliesTheBotList(t *testing.T) {
	hs := fakes.NewFakeFleetHomeserver(t, 4)
	g, envFile := serveFromEnvFile(t, map[string]string{"GATEWAY_METRICS_PUBLIC": "true"}, fleetBot(hs, 0, nil), fleetBot(hs, 1, nil), fleetBot(hs, 2, nil))

	// A v11 client of bot 2 and one of bot 0.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(g.url, "http")
	c2, _, err := websocket.Dial(ctx, wsURL+"/onebot/v11/1002/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.CloseNow()
	c0, _, err := websocket.Dial(ctx, wsURL+"/onebot/v11/1000/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c0.CloseNow()
	readUntilClosed(ctx, c0) // answers pings, drops bot 0's events
	closed := readUntilClosed(ctx, c2)

	// An invalid file is refused and changes nothing.
	if err := os.WriteFile(envFile, []byte("MATRIX_BOTS='[{\"homeserver\": 1}]'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g.reload <- struct{}{}
	wait.For(t, time.Minute, "the refused reload in the log", func() bool { return strings.Contains(g.log.String(), "reload refused") })

	g.reloadBots(t, envFile, fleetBot(hs, 0, nil), fleetBot(hs, 1, map[string]any{"onebot_msgtype": "m.notice"}), fleetBot(hs, 3, nil))

	select {
	case err := <-closed:
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || !strings.HasPrefix(ce.Reason, "bot removed") {
			t.Fatalf("bot 2's WebSocket ended with %v; want a close frame 1001 \"bot removed: …\"", err)
		}
	case <-ctx.Done():
		t.Fatal("bot 2's WebSocket was not closed")
	}
	if code, msg := g.v12Action(t, "get_self_info", fakes.FleetUser(2)); code != 10102 || !strings.Contains(msg, "no bot") {
		t.Fatalf("an action for the removed bot: retcode %d %q; want 10102 unknown self", code, msg)
	}
	if code, _ := g.v12Action(t, "get_self_info", fakes.FleetUser(3)); code != 0 {
		t.Fatalf("an action for the added bot: retcode %d; want 0", code)
	}
	if n := hs.Whoamis(0); n != 1 {
		t.Fatalf("the unchanged bot 0 logged in %d times; want once (not restarted)", n)
	}
	if n := hs.Whoamis(1); n != 2 {
		t.Fatalf("the changed bot 1 logged in %d times; want twice (restarted with its new configuration)", n)
	}
	// Bot 0's client is still connected: a ping is answered.
	if err := c0.Ping(ctx); err != nil {
		t.Fatalf("bot 0's WebSocket: %v", err)
	}
	resp, err := http.Get(g.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(metricsText), fakes.FleetUser(2)) || !strings.Contains(string(metricsText), fakes.FleetUser(3)) {
		t.Fatal("/metrics: the removed bot's series must go and the added bot's come")
	}
}

// A reload that adds the first bot with an onebot_access_token to a gateway that needed no token
// applies it at once (before, it was refused until a restart): requests without a token are 401
// from then on, the new bot's token grants that bot only, and a WebSocket opened without a token
// is closed, since it was granted every bot.
func TestReloadAddsTheFirstBotWithAToken(t *testing.T) {
	hs := fakes.NewFakeFleetHomeserver(t, 2)
	g, envFile := serveFromEnvFile(t, nil, fleetBot(hs, 0, nil))
	if code, _ := g.v12Action(t, "get_self_info", fakes.FleetUser(0)); code != 0 {
		t.Fatalf("without tokens configured, an action without a token: retcode %d; want 0", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.url, "http")+"/onebot/v12/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	closed := readUntilClosed(ctx, c)

	g.reloadBots(t, envFile, fleetBot(hs, 0, nil), fleetBot(hs, 1, map[string]any{"onebot_access_token": "bot1-token"}))
	if strings.Contains(g.log.String(), "reload refused") {
		t.Fatalf("the reload was refused:\n%s", g.log.String())
	}

	status := func(token, self string) int {
		body := `{"action": "get_self_info", "params": {}, "self": {"platform": "matrix", "user_id": "` + self + `"}}`
		req, _ := http.NewRequest(http.MethodPost, g.url+"/onebot/v12/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Retcode int `json:"retcode"`
		}
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK && json.Unmarshal(raw, &r) == nil && r.Retcode != 0 {
			return r.Retcode
		}
		return resp.StatusCode
	}
	if got := status("", fakes.FleetUser(0)); got != http.StatusUnauthorized {
		t.Fatalf("after the reload, an action without a token: %d; want 401", got)
	}
	if got := status("bot1-token", fakes.FleetUser(1)); got != http.StatusOK {
		t.Fatalf("bot 1's own token for bot 1: %d; want 200", got)
	}
	if got := status("bot1-token", fakes.FleetUser(0)); got == http.StatusOK {
		t.Fatal("bot 1's own token was granted bot 0")
	}
	waitTokensRequiredClose(ctx, t, closed, "the WebSocket opened without a token")
}

// Once a bot with its own onebot_access_token has joined, requests need a token until the
// gateway restarts, also after a reload removed the last such bot and GATEWAY_ACCESS_TOKEN is
// not set: the gateway does not fall back to serving every bot to anyone who asks (before, it
// did when the token bot had come with a reload; it did not when it was there at the start).
func TestReloadKeepsTokensRequiredAfterTheLastTokenBot(t *testing.T) {
	hs := fakes.NewFakeFleetHomeserver(t, 2)
	g, envFile := serveFromEnvFile(t, nil, fleetBot(hs, 0, nil))
	status := func(path string) int {
		resp, err := http.Post(g.url+path, "application/json", strings.NewReader(`{"action": "get_status", "params": {}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const action = "/onebot/v12/"
	if got := status(action); got != http.StatusOK {
		t.Fatalf("without tokens configured, a request without a token: %d; want 200", got)
	}
	g.reloadBots(t, envFile, fleetBot(hs, 0, nil), fleetBot(hs, 1, map[string]any{"onebot_access_token": "bot1-token"}))
	if got := status(action); got != http.StatusUnauthorized {
		t.Fatalf("with bot 1's token configured, a request without a token: %d; want 401", got)
	}
	g.reloadBots(t, envFile, fleetBot(hs, 0, nil)) // bot 1 gone
	if strings.Contains(g.log.String(), "reload refused") {
		t.Fatalf("the reload was refused:\n%s", g.log.String())
	}
	if got := status(action); got != http.StatusUnauthorized {
		t.Fatalf("after the last bot with a token of its own was removed, a request without a token: %d; want 401 still", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.url, "http")+"/onebot/v12/", nil); err == nil {
		c.CloseNow()
		t.Fatal("a WebSocket without a token was let in after the last bot with a token was removed")
	} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a WebSocket without a token: %v; want 401", err)
	}
}
