package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/harness/postgres"
	"github.com/matrix-onebot/gateway/test/wait"
)

// Two gateways with GATEWAY_CLUSTER on one PostgreSQL database run each bot once between them,
// spread evenly; when one stops, the other runs all of them.
func TestClusterSharesTheBots(t *testing.T) {
	const n = 6
	hs := fakes.NewFakeFleetHomeserver(t, n)
	var list []map[string]any
	for i := range n {
		list = append(list, fleetBot(hs, i, nil))
	}
	a, b := startClusterPair(t, list, nil)
	onA, onB := readyPair(a, b)
	for _, u := range onA {
		if slices.Contains(onB, u) {
			t.Fatalf("%s runs on both gateways: %v and %v", u, onA, onB)
		}
	}
	// /metrics shows what a runs, and that each of its bot starts went through the start gate.
	resp, err := http.Get(a.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(text), "\nonebot_gateway_cluster_bots 3\n") {
		t.Errorf("a's /metrics lacks onebot_gateway_cluster_bots 3:\n%s", text)
	}
	var waits int
	for _, line := range strings.Split(string(text), "\n") {
		if n, ok := strings.CutPrefix(line, "onebot_gateway_start_gate_wait_seconds_count "); ok {
			waits, _ = strconv.Atoi(n)
		}
	}
	if waits < len(onA) {
		t.Errorf("a's /metrics counts %d waits at the start gate; want one per bot start, at least %d", waits, len(onA))
	}
	// A client of a reaches every bot: the requests for b's bots are sent on to b.
	for i := range n {
		if code, msg := a.v12Action(t, "get_self_info", fakes.FleetUser(i)); code != 0 {
			t.Fatalf("get_self_info of %s through a: retcode %d %q", fakes.FleetUser(i), code, msg)
		}
	}
	onB0 := onB[0]
	i := slices.IndexFunc(list, func(b map[string]any) bool { return b["user_id"] == onB0 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.url, "http")+"/onebot/v11/"+strconv.Itoa(1000+i)+"/", nil)
	if err != nil {
		t.Fatalf("v11 WebSocket through a to %s: %v", onB0, err)
	}
	defer c.CloseNow()
	_, frame, err := c.Read(ctx)
	var ev map[string]any
	if err != nil || json.Unmarshal(frame, &ev) != nil || ev["meta_event_type"] != "lifecycle" || ev["self_id"] != float64(1000+i) {
		t.Fatalf("v11 WebSocket through a to %s: first frame %s, %v; want its lifecycle connect", onB0, frame, err)
	}

	if code := a.stop(); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	wait.For(t, 15*time.Second, "the other gateway to run every bot", func() bool {
		users, ok := b.readyBots()
		return ok && len(users) == n
	})
}

// With two gateways, a v12 forward WebSocket whose token is one bot's own onebot_access_token
// reaches that bot through the gateway that does not run it (proxied to the owner: its
// status_update lists the bot, online), and get_status with the gateway's token on one gateway
// lists its own bot in bots and the other's in matrix.elsewhere.
func TestClusterProxiesBotScopedV12WebSockets(t *testing.T) {
	hs := fakes.NewFakeFleetHomeserver(t, 2)
	list := []map[string]any{
		fleetBot(hs, 0, map[string]any{"onebot_access_token": "bot0-token"}),
		fleetBot(hs, 1, map[string]any{"onebot_access_token": "bot1-token"}),
	}
	a, b := startClusterPair(t, list, map[string]string{"GATEWAY_ACCESS_TOKEN": "global"})
	onA, _ := a.readyBots()
	onB, _ := b.readyBots()
	tokenOf := map[string]string{fakes.FleetUser(0): "bot0-token", fakes.FleetUser(1): "bot1-token"}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.url, "http")+"/onebot/v12/",
		&websocket.DialOptions{HTTPHeader: map[string][]string{"Authorization": {"Bearer " + tokenOf[onB[0]]}}})
	if err != nil {
		t.Fatalf("v12 WebSocket through a with %s's token: %v", onB[0], err)
	}
	defer c.CloseNow()
	for {
		_, frame, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("v12 WebSocket through a with %s's token: %v", onB[0], err)
		}
		var ev struct {
			DetailType string `json:"detail_type"`
			Status     struct {
				Bots []struct {
					Self struct {
						UserID string `json:"user_id"`
					} `json:"self"`
					Online bool `json:"online"`
				} `json:"bots"`
			} `json:"status"`
		}
		if json.Unmarshal(frame, &ev) != nil || ev.DetailType != "status_update" {
			continue
		}
		if len(ev.Status.Bots) != 1 || ev.Status.Bots[0].Self.UserID != onB[0] || !ev.Status.Bots[0].Online {
			t.Fatalf("status_update through a with %s's token: %s; want that bot only, online", onB[0], frame)
		}
		break
	}

	resp := a.v12Call(t, "get_status", onA[0])
	var st struct {
		Data struct {
			Bots []struct {
				Self struct {
					UserID string `json:"user_id"`
				} `json:"self"`
			} `json:"bots"`
			Elsewhere []string `json:"matrix.elsewhere"`
		} `json:"data"`
	}
	if json.Unmarshal(resp, &st) != nil || len(st.Data.Bots) != 1 || st.Data.Bots[0].Self.UserID != onA[0] ||
		!slices.Equal(st.Data.Elsewhere, onB) {
		t.Fatalf("get_status on a: %s; want bots [%s] and matrix.elsewhere %v", resp, onA[0], onB)
	}
}

// v12Call calls a v12 action over HTTP with the gateway's token and returns the response body.
func (g *gatewayRun) v12Call(t *testing.T, action, self string) []byte {
	t.Helper()
	body := `{"action": "` + action + `", "params": {}, "self": {"platform": "matrix", "user_id": "` + self + `"}}`
	req, _ := http.NewRequest(http.MethodPost, g.url+"/onebot/v12/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return raw
}

// Wrong access tokens sent through one gateway of a cluster to the gateway that runs the bot are
// limited there per client address, not per sending gateway: 15 clients that each guess until
// they are refused (each from its own loopback address) do not lock out another client of the
// same gateway. A client that forges the cluster's mark straight to the owner is limited by its
// own address. Before, the owner had one bucket of 10 times the limit for all the clients the
// other gateway sent on, which 10 guessers filled.
func TestClusterLimitsWrongTokensPerClientBehindTheProxy(t *testing.T) {
	hs := fakes.NewFakeFleetHomeserver(t, 2)
	a, b := startClusterPair(t, []map[string]any{fleetBot(hs, 0, nil), fleetBot(hs, 1, nil)}, map[string]string{"GATEWAY_ACCESS_TOKEN": "global"})
	onB, _ := b.readyBots()
	// call runs get_self_info of b's bot at g from the loopback address from, with token; it
	// gives the HTTP status.
	call := func(g *gatewayRun, from, token string, hdr map[string]string) int {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext}}
		defer c.CloseIdleConnections()
		body := `{"action": "get_self_info", "params": {}, "self": {"platform": "matrix", "user_id": "` + onB[0] + `"}}`
		req, _ := http.NewRequest(http.MethodPost, g.url+"/onebot/v12/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if code := call(a, "127.0.0.50", "global", nil); code != http.StatusOK {
		t.Fatalf("b's bot through a with the right token: %d", code)
	}
	for n := 2; n <= 16; n++ {
		from := "127.0.0." + strconv.Itoa(n)
		for range web.AuthFailLimit {
			if code := call(a, from, "guess", nil); code != http.StatusForbidden {
				t.Fatalf("a wrong token from %s through a: %d, want 403", from, code)
			}
		}
		if code := call(a, from, "global", nil); code != http.StatusTooManyRequests {
			t.Fatalf("%s after %d wrong tokens through a: %d, want 429", from, web.AuthFailLimit, code)
		}
	}
	if code := call(a, "127.0.0.100", "global", nil); code != http.StatusOK {
		t.Fatalf("another client of a, after 15 guessers through it: %d, want 200", code)
	}
	// Straight to b with a forged mark, rotating X-Forwarded-For: limited as its own address.
	for i := range web.AuthFailLimit {
		call(b, "127.0.0.200", "guess", map[string]string{web.ProxiedHeader: "1", "X-Forwarded-For": "10.0.0." + strconv.Itoa(i)})
	}
	if code := call(b, "127.0.0.200", "global", map[string]string{web.ProxiedHeader: "1", "X-Forwarded-For": "10.0.0.99"}); code != http.StatusTooManyRequests {
		t.Fatalf("a client forging the cluster's mark to b after %d wrong tokens: %d, want 429", web.AuthFailLimit, code)
	}
}

// startClusterPair starts two gateways of a cluster (GATEWAY_CLUSTER) that share a new
// PostgreSQL database and run bots, with extra added to their environment, and waits until
// each runs half of the bots.
func startClusterPair(t *testing.T, bots []map[string]any, extra map[string]string) (a, b *gatewayRun) {
	t.Helper()
	pg := postgres.ForTest(t)
	list, _ := json.Marshal(bots)
	env := map[string]string{"MATRIX_BOTS": string(list), "GATEWAY_DATABASE": pg.DatabaseForTest(t), "GATEWAY_PICKLE_KEY": "cluster-test-key",
		"GATEWAY_CLUSTER": "true", "GATEWAY_START_JITTER": "0s", "GATEWAY_CLUSTER_URL": "$SELF_URL"}
	maps.Copy(env, extra)
	a = startServe(t, env)
	b = startServe(t, env)
	half := len(bots) / 2
	wait.For(t, time.Minute, fmt.Sprintf("the bots split %d and %d", half, len(bots)-half), func() bool {
		onA, onB := readyPair(a, b)
		return len(onA) == half && len(onB) == len(bots)-half
	})
	return a, b
}

// readyPair returns the bots that a and b run, or nothing unless both are ready.
func readyPair(a, b *gatewayRun) (onA, onB []string) {
	onA, readyA := a.readyBots()
	onB, readyB := b.readyBots()
	if !readyA || !readyB {
		return nil, nil
	}
	return onA, onB
}
