package main

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/harness"
	"github.com/matrix-onebot/gateway/test/wait"
)

// Two gateways with GATEWAY_CLUSTER on one PostgreSQL database run each bot once between them,
// spread evenly; when one stops, the other runs all of them.
func TestClusterSharesTheBots(t *testing.T) {
	pg := harness.PostgresForTest(t)
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
