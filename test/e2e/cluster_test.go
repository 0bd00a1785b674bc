package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/harness"
	"github.com/matrix-onebot/gateway/test/harness/postgres"
)

// botList joins botJSON entries into one MATRIX_BOTS list.
func botList(t *testing.T, entries ...string) string {
	t.Helper()
	var all []json.RawMessage
	for _, e := range entries {
		var list []json.RawMessage
		if err := json.Unmarshal([]byte(e), &list); err != nil {
			t.Fatal(err)
		}
		all = append(all, list...)
	}
	b, _ := json.Marshal(all)
	return string(b)
}

// deliveries collects the message events every OneBot client of the cluster receives.
type deliveries struct {
	mu   sync.Mutex
	seen map[string][]map[string]any // message_id → each delivery
}

func (d *deliveries) add(f map[string]any) {
	if f["type"] != "message" {
		return
	}
	msg, _ := f["message_id"].(string)
	d.mu.Lock()
	d.seen[msg] = append(d.seen[msg], f)
	d.mu.Unlock()
}

// missing returns the sent messages not delivered yet.
func (d *deliveries) missing(sent []string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, msg := range sent {
		if len(d.seen[msg]) == 0 {
			out = append(out, msg)
		}
	}
	return out
}

// listen reads every frame of a v12 WebSocket of g into d until the connection ends.
func (d *deliveries) listen(t *testing.T, g *gatewayProc) {
	c := dialWSV12(t, g, "tok")
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				d.add(m)
			}
		}
	}()
}

// readyBots returns the bots /readyz of g lists (nil when it does not answer).
func readyBots(g *gatewayProc) []string {
	code, rep := readyz(g)
	if code == 0 {
		return nil
	}
	var out []string
	for _, b := range rep.Bots {
		out = append(out, b.UserID)
	}
	return out
}

// Three gateways (GATEWAY_CLUSTER) on one PostgreSQL share thirty bots, three of them in encrypted
// rooms, while messages stream into every bot's room from Synapse. One gateway is killed with
// SIGKILL, then a second: the survivors take the bots over, resuming from the stored sync
// position with the same device and crypto state. Every message reaches a OneBot client (a
// WebSocket on each gateway), no message is delivered twice unless marked replayed, the encrypted
// ones arrive decrypted. Each gateway reaches Synapse through its own recording proxy
// (fakes.FakeSyncRecorder), so the homeserver side shows that no bot ever had a /sync in flight
// from two gateways at once, and that every bot of a killed gateway synced again from a survivor.
func TestClusterFailover(t *testing.T) {
	db := postgres.ForTest(t).DatabaseForTest(t)
	js := startJSClient(t)
	alice := newHuman(t, "alice")
	jsAlice := newBotUser(t)
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(jsAlice), "password": jsAlice.Password})

	const plain, encrypted = 27, 3
	var bots []*harnessUser
	for i := range plain + encrypted {
		bots = append(bots, &harnessUser{User: newBotUser(t), e2ee: i >= plain})
	}
	// Each gateway reaches Synapse through its own recording proxy: the homeserver's view of
	// which instance syncs which bot, and when.
	rec := fakes.NewFakeSyncRecorder(t, hs.URL())
	var gws []*gatewayProc
	for g := range 3 {
		proxy := rec.Proxy(t, fmt.Sprint("gateway ", g))
		var entries []string
		for _, b := range bots {
			entries = append(entries, botJSON(b.User, map[string]any{"auto_accept_invites": true, "homeserver": proxy}))
		}
		gws = append(gws, startGateway(t, t.TempDir(), map[string]string{
			"MATRIX_BOTS": botList(t, entries...), "GATEWAY_ACCESS_TOKEN": "tok", "GATEWAY_DATABASE": db,
			"GATEWAY_PICKLE_KEY": "e2e-cluster-pickle-key", "GATEWAY_CLUSTER": "true", "GATEWAY_START_JITTER": "0s",
		}))
	}
	all := func(live []*gatewayProc) bool {
		n := 0
		for _, g := range live {
			code, _ := readyz(g)
			if code != http.StatusOK {
				return false
			}
			n += len(readyBots(g))
		}
		return n == len(bots)
	}
	waitFor(t, "the three gateways to run the thirty bots between them", func() bool { return all(gws) })

	d := &deliveries{seen: map[string][]map[string]any{}}
	for _, g := range gws {
		d.listen(t, g)
	}
	rooms := make([]string, len(bots))
	for i, b := range bots {
		if b.e2ee {
			rooms[i] = encryptedRoomFor(js, b.User)
			js.do("wait_member", map[string]any{"client": "alice", "room_id": rooms[i], "user_id": b.UserID})
		} else {
			rooms[i] = string(alice.roomWith(b.User, false))
			alice.waitJoined(id.RoomID(rooms[i]), b.User)
		}
	}
	var sent []string
	texts := map[string]string{}
	round := 0
	sendRound := func() {
		round++
		for i, b := range bots {
			text := fmt.Sprintf("round %d to bot %d", round, i)
			var evt string
			if b.e2ee {
				evt = js.sendText(rooms[i], text)
			} else {
				evt = string(alice.send(id.RoomID(rooms[i]), text))
			}
			sent = append(sent, evt)
			texts[evt] = text
		}
	}
	sendRound()
	waitFor(t, "the first round at the clients", func() bool { return len(d.missing(sent)) == 0 })

	// Kill a gateway, then a second: messages keep coming while the others take the bots over.
	kills := make([]time.Time, 2)
	last := gws[len(gws)-1]
	var lastRan, lastTook float64 // the last survivor's cluster_bots and takeovers before the second kill
	for k := range 2 {
		victim := gws[k]
		if k == 1 {
			_, m := scrape(t, last, "tok")
			lastRan, lastTook = m["onebot_gateway_cluster_bots"], m["onebot_gateway_cluster_takeovers_total"]
		}
		if err := syscall.Kill(victim.proc.PID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		kills[k] = killed
		tick := time.NewTicker(time.Second)
		limit := time.After(2 * deadline)
		for !all(gws[k+1:]) {
			sendRound()
			select {
			case <-tick.C:
			case <-limit:
				t.Fatalf("the surviving gateways did not run every bot after the kill %d", k+1)
			}
		}
		tick.Stop()
		t.Logf("kill %d: the surviving gateways run every bot %v later", k+1, time.Since(killed).Round(100*time.Millisecond))
		sendRound()
	}
	waitFor(t, "every message at a OneBot client", func() bool { return len(d.missing(sent)) == 0 })

	// The last survivor's /metrics: it runs every bot, never lost its own lock, and took over
	// from the second gateway it killed no more bots than it did not run then (at least one).
	_, m := scrape(t, last, "tok")
	took := m["onebot_gateway_cluster_takeovers_total"] - lastTook
	if m["onebot_gateway_cluster_bots"] != float64(len(bots)) || m["onebot_gateway_cluster_lock_lost_total"] != 0 ||
		took < 1 || took > float64(len(bots))-lastRan {
		t.Errorf("the last gateway's /metrics: cluster_bots %v (want %d), cluster_lock_lost_total %v (want 0), %v takeovers after the second kill (want 1 to %v)",
			m["onebot_gateway_cluster_bots"], len(bots), m["onebot_gateway_cluster_lock_lost_total"], took, float64(len(bots))-lastRan)
	}
	t.Logf("the last gateway ran %v bots before the second kill and took %v over after it", lastRan, took)

	d.mu.Lock()
	defer d.mu.Unlock()
	for _, msg := range sent {
		first := d.seen[msg]
		if got := first[0]["alt_message"]; got != texts[msg] || first[0]["matrix.msgtype"] == "m.bad.encrypted" {
			t.Errorf("message %s arrived as %v (%v), want %q", msg, got, first[0]["matrix.msgtype"], texts[msg])
		}
		for _, again := range first[1:] {
			if again["matrix.replayed"] != true {
				t.Errorf("message %s (%q) delivered %d times, a repeat not marked replayed", msg, texts[msg], len(first))
				break
			}
		}
	}
	t.Logf("%d messages in %d rounds, each delivered", len(sent), round)

	// The homeserver's side: no bot had a /sync in flight from two gateways at once, and every
	// bot a killed gateway had synced went on syncing from a survivor after the kill.
	if overlaps := rec.Overlaps(); len(overlaps) > 0 {
		t.Errorf("%d times a bot synced from two gateways at once: %v", len(overlaps), overlaps[:min(len(overlaps), 5)])
	}
	for k, killed := range kills {
		victim, survivors := fmt.Sprint("gateway ", k), []string{}
		for g := k + 1; g < len(gws); g++ {
			survivors = append(survivors, fmt.Sprint("gateway ", g))
		}
		taken := 0
		for _, b := range bots {
			if !slices.Contains(rec.Instances(b.AccessToken), victim) {
				continue
			}
			taken++
			if !rec.SyncedSince(b.AccessToken, killed, survivors...) {
				t.Errorf("%s synced via %s but not via %v after kill %d", b.UserID, victim, survivors, k+1)
			}
		}
		if taken == 0 {
			t.Errorf("%s synced no bot before kill %d", victim, k+1)
		}
		t.Logf("kill %d: %d bots of %s synced from the survivors afterwards", k+1, taken, victim)
	}
	t.Logf("%d /sync requests recorded", len(rec.Syncs()))
}

// harnessUser is a bot user of the failover proof: encrypted room or not.
type harnessUser struct {
	*harness.User
	e2ee bool
}
