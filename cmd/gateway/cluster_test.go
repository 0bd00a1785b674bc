package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/harness/postgres"
	"github.com/matrix-onebot/gateway/test/wait"
)

// Two gateways with GATEWAY_CLUSTER on one PostgreSQL database run each bot once between them,
// spread evenly; when one stops, the other runs all of them.
func TestClusterSharesTheBots(t *testing.T) {
	pg := postgres.ForTest(t)
	const n = 6
	hs := fakes.NewFakeFleetHomeserver(t, n)
	var list []map[string]any
	for i := range n {
		list = append(list, fleetBot(hs, i, nil))
	}
	bots, _ := json.Marshal(list)
	env := map[string]string{"MATRIX_BOTS": string(bots), "GATEWAY_DATABASE": pg.DatabaseForTest(t), "GATEWAY_PICKLE_KEY": "cluster-test-key",
		"GATEWAY_CLUSTER": "true", "GATEWAY_START_JITTER": "0s", "GATEWAY_CLUSTER_URL": "$SELF_URL"}
	a := startServe(t, env)
	b := startServe(t, env)
	split := func() (onA, onB []string) {
		onA, readyA := a.readyBots()
		onB, readyB := b.readyBots()
		if !readyA || !readyB {
			return nil, nil
		}
		return onA, onB
	}
	wait.For(t, time.Minute, "the bots split 3 and 3", func() bool {
		onA, onB := split()
		return len(onA) == n/2 && len(onB) == n/2
	})
	onA, onB := split()
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
	pg := postgres.ForTest(t)
	hs := fakes.NewFakeFleetHomeserver(t, 2)
	list := []map[string]any{
		fleetBot(hs, 0, map[string]any{"onebot_access_token": "bot0-token"}),
		fleetBot(hs, 1, map[string]any{"onebot_access_token": "bot1-token"}),
	}
	bots, _ := json.Marshal(list)
	env := map[string]string{"MATRIX_BOTS": string(bots), "GATEWAY_DATABASE": pg.DatabaseForTest(t), "GATEWAY_PICKLE_KEY": "cluster-test-key",
		"GATEWAY_CLUSTER": "true", "GATEWAY_START_JITTER": "0s", "GATEWAY_CLUSTER_URL": "$SELF_URL", "GATEWAY_ACCESS_TOKEN": "global"}
	a := startServe(t, env)
	b := startServe(t, env)
	wait.For(t, time.Minute, "one bot on each gateway", func() bool {
		onA, readyA := a.readyBots()
		onB, readyB := b.readyBots()
		return readyA && readyB && len(onA) == 1 && len(onB) == 1
	})
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
