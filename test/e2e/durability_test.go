package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

// reverseServer is a OneBot client that the gateway dials (reverse WebSocket): every frame of
// every connection goes to one channel, in order.
func reverseServer(t *testing.T) (url string, frames chan map[string]any) {
	t.Helper()
	frames = make(chan map[string]any, 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 24)
		for {
			_, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				frames <- m
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/onebot/v12/ws", frames
}

// readyz returns /readyz's status code and report.
func readyz(g *gatewayProc) (int, readyReport) {
	var rep readyReport
	resp, err := http.Get(g.url + "/readyz")
	if err != nil {
		return 0, rep
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&rep)
	return resp.StatusCode, rep
}

type readyReport struct {
	Ready bool `json:"ready"`
	Bots  []struct {
		UserID string `json:"user_id"`
		State  string `json:"state"`
		Reason string `json:"reason"`
	} `json:"bots"`
}

// noMessageYet fails the test if a message event is among the frames received so far.
func noMessageYet(t *testing.T, what string, frames chan map[string]any) {
	t.Helper()
	for {
		select {
		case f := <-frames:
			if f["type"] == "message" {
				t.Fatalf("%s got message %v (%v) while its event could not be stored", what, f["message_id"], f["alt_message"])
			}
		default:
			return
		}
	}
}

// With the database's disk full, the messages sent meanwhile are neither lost nor delivered twice:
// the bot stops handing over (the outbox write fails before any connection gets the event, and
// the sync position stays), says why on /readyz, get_status and the log, and resumes by itself
// when space returns: every message then arrives once, in order, on a reverse WebSocket with an
// outbox and on a forward WebSocket.
func TestDiskFullDelaysEventsAndLosesNone(t *testing.T) {
	disk := harness.MountSmallDisk(t, 32<<20)
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	reverseURL, pushed := reverseServer(t)
	env := map[string]string{
		"MATRIX_BOTS":            botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN":   "e2e-token",
		"GATEWAY_V12_REVERSE_WS": reverseURL,
		"GATEWAY_DATABASE":       filepath.Join(disk.Dir, "gateway.db"),
	}
	dir := t.TempDir() // the gateway's log stays off the small disk
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	rev := &obClient{t: t, frames: pushed}
	first := alice.send(room, "before the disk fills")
	if m := rev.nextMessage(); m["message_id"] != string(first) {
		t.Fatalf("reverse WebSocket got %v, want %s", m["message_id"], first)
	}
	// A restart starts a new write-ahead log, so that the writes below need new space (a log
	// that was reset after a checkpoint would first reuse its old space).
	g.stop()
	g = startGateway(t, dir, env)
	ob := dialV12(t, g, "e2e-token")

	disk.Fill()
	var sent []id.EventID
	for i := range 3 {
		sent = append(sent, alice.send(room, fmt.Sprintf("while the disk is full %d", i)))
	}
	waitFor(t, "/readyz to say the database disk is full", func() bool {
		code, rep := readyz(g)
		return code == http.StatusServiceUnavailable && len(rep.Bots) == 1 && rep.Bots[0].State == "backoff" &&
			strings.Contains(rep.Bots[0].Reason, "database disk is full")
	})
	st := g.actionV12("e2e-token", "get_status", nil)
	bots, _ := st["data"].(map[string]any)["bots"].([]any)
	if len(bots) != 1 || !strings.Contains(fmt.Sprint(bots[0].(map[string]any)["matrix.reason"]), "database disk is full") {
		t.Fatalf("get_status does not say the disk is full: %v", st)
	}
	if !strings.Contains(g.proc.Log(), "database disk is full") {
		t.Fatal("the log does not say the database disk is full")
	}
	noMessageYet(t, "the forward WebSocket", ob.frames)
	noMessageYet(t, "the reverse WebSocket", pushed)

	disk.Free()
	for name, c := range map[string]*obClient{"reverse": rev, "forward": ob} {
		for i, want := range sent {
			m := c.nextMessage()
			if m["message_id"] != string(want) || m["matrix.replayed"] != nil {
				t.Fatalf("%s WebSocket: message %d after space returned is %v (%v, replayed %v), want %s once, unmarked",
					name, i, m["message_id"], m["alt_message"], m["matrix.replayed"], want)
			}
		}
	}
	// A marker sent now is the very next message on both: nothing was repeated.
	marker := alice.send(room, "marker")
	for name, c := range map[string]*obClient{"reverse": rev, "forward": ob} {
		if m := c.nextMessage(); m["message_id"] != string(marker) {
			t.Fatalf("%s WebSocket: after the delayed messages came %v (%v), want the marker", name, m["message_id"], m["alt_message"])
		}
	}
	waitFor(t, "/readyz to be ready again", func() bool { code, _ := readyz(g); return code == http.StatusOK })
}

// Many bots on a new database all become ready: the shared tables are created once before any
// bot starts (bots creating them at the same time raced, and the loser stayed dead with /readyz
// saying "starting" and no reason).
func TestManyBotsOnAFreshDatabaseAllBecomeReady(t *testing.T) {
	const n = 50
	var bots []map[string]any
	for range n {
		u := newBotUser(t)
		bots = append(bots, map[string]any{"homeserver": hs.URL(), "access_token": u.AccessToken, "user_id": u.UserID, "device_id": u.DeviceID})
	}
	raw, _ := json.Marshal(bots)
	g := launchGateway(t, t.TempDir(), map[string]string{"MATRIX_BOTS": string(raw), "GATEWAY_ACCESS_TOKEN": "e2e-token"})
	// Fifty bots setting up encryption on two shared cores: a generous deadline for the condition.
	limit := time.After(4 * deadline)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		code, rep := readyz(g)
		if code == http.StatusOK {
			break
		}
		for _, b := range rep.Bots {
			if b.State == "stopped" {
				t.Fatalf("bot %s stopped: %s", b.UserID, b.Reason)
			}
		}
		select {
		case <-tick.C:
		case <-limit:
			t.Fatalf("not every bot became ready: %+v", rep.Bots)
		}
	}
	log := g.proc.Log()
	if strings.Contains(log, "already exists") || strings.Contains(log, "bot stopped") || strings.Contains(log, "bot failed") {
		t.Fatalf("a bot failed on the way:\n%s", g.proc.LogTail(60))
	}
	if got := strings.Count(log, "end-to-end encryption ready"); got != n { // each bot used the shared crypto tables
		t.Fatalf("%d of %d bots set up end-to-end encryption", got, n)
	}
}

// A bot whose start fails is not left dead: a bot added while the database's disk is full shows
// why on /readyz and get_status, retries with backoff, and syncs once space returns; the bot
// that was already there goes on.
func TestBotStartFailureIsShownAndRetried(t *testing.T) {
	disk := harness.MountSmallDisk(t, 32<<20)
	old, added := newBotUser(t), newBotUser(t)
	alice := newHuman(t, "alice")
	dir := t.TempDir()
	entry := func(u *harness.User) map[string]any {
		return map[string]any{"homeserver": hs.URL(), "access_token": u.AccessToken, "user_id": u.UserID, "device_id": u.DeviceID,
			"auto_accept_invites": true}
	}
	env := func(users ...*harness.User) map[string]string {
		var bots []map[string]any
		for _, u := range users {
			bots = append(bots, entry(u))
		}
		raw, _ := json.Marshal(bots)
		return map[string]string{"MATRIX_BOTS": string(raw), "GATEWAY_ACCESS_TOKEN": "e2e-token",
			"GATEWAY_DATABASE": filepath.Join(disk.Dir, "gateway.db")}
	}
	g := startGateway(t, dir, env(old))
	g.stop()

	disk.FillLeaving(40 << 10) // room to open the database (its shared-memory index), not to write
	g = launchGateway(t, dir, env(old, added))
	waitFor(t, "/readyz to show why the added bot cannot start", func() bool {
		_, rep := readyz(g)
		for _, b := range rep.Bots {
			if b.UserID == added.UserID && b.State == "backoff" && strings.Contains(b.Reason, "database disk is full") {
				return true
			}
		}
		return false
	})
	st := g.actionV12("e2e-token", "get_status", nil)
	if !strings.Contains(fmt.Sprint(st["data"]), "database disk is full") {
		t.Fatalf("get_status does not say why the added bot cannot start: %v", st)
	}
	disk.Free()
	waitFor(t, "every bot to be ready once space returns", func() bool { code, _ := readyz(g); return code == http.StatusOK })
	room := alice.roomWith(added, false)
	alice.waitJoined(room, added)
	ob := dialV12(t, g, "e2e-token")
	msg := alice.send(room, "to the bot that started late")
	if m := ob.nextMessage(); m["message_id"] != string(msg) {
		t.Fatalf("got %v, want %s", m["message_id"], msg)
	}
}

// A gateway stopped while the disk of its database is full, and started again once space returns,
// loses nothing and repeats nothing unmarked on a forward WebSocket (no outbox, so handing an
// event over needs no write of its own): no event is handed over before the batch is durably
// recorded as in flight, so while the disk is full none is; after the restart the event arrives
// once. (A run cut off after it handed events over, with the position not saved, hands them over
// again marked matrix.replayed: internal/matrix TestBatchCutOffWhileDiskFullIsReplayedMarked.)
func TestStopWhileDiskFullLosesNothingAndRepeatsNothing(t *testing.T) {
	disk := harness.MountSmallDisk(t, 32<<20)
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	env := map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
		"GATEWAY_DATABASE":     filepath.Join(disk.Dir, "gateway.db"),
	}
	dir := t.TempDir()
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	g.stop()
	g = startGateway(t, dir, env) // a new write-ahead log: the writes below need new space
	ob := dialV12(t, g, "e2e-token")

	disk.Fill()
	msg := alice.send(room, "while the disk is full")
	waitFor(t, "/readyz to say the database disk is full", func() bool {
		_, rep := readyz(g)
		return len(rep.Bots) == 1 && strings.Contains(rep.Bots[0].Reason, "database disk is full")
	})
	noMessageYet(t, "the forward WebSocket", ob.frames)
	g.stop()
	disk.Free()

	g = startGateway(t, dir, env)
	ob = dialV12(t, g, "e2e-token")
	if m := ob.nextMessage(); m["message_id"] != string(msg) || m["matrix.replayed"] != nil {
		t.Fatalf("after the restart came %v (%v, replayed %v), want %s, first delivery", m["message_id"], m["alt_message"], m["matrix.replayed"], msg)
	}
	marker := alice.send(room, "marker")
	if m := ob.nextMessage(); m["message_id"] != string(marker) {
		t.Fatalf("after the message came %v (%v), want the marker: something was repeated", m["message_id"], m["alt_message"])
	}
}
