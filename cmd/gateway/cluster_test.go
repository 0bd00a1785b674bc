package main

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

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
		"GATEWAY_CLUSTER": "true", "GATEWAY_START_JITTER": "0s"}
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
	if code := a.stop(); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	wait.For(t, 15*time.Second, "the other gateway to run every bot", func() bool {
		users, ok := b.readyBots()
		return ok && len(users) == n
	})
}
