package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// BenchmarkRelay measures, message by message, how long a Matrix message takes from just before
// the sender's send call to
//
//   - a OneBot v12 forward-WebSocket client of the gateway (message event with message_id equal
//     to the event ID), and
//   - a plain Matrix client of another member of the room, long-polling /sync on the same
//     homeserver (timeline event with the same ID).
//
// Both observers watch the same messages at once. Messages are sent one at a time, each after
// the previous one has arrived at both, so the numbers are latencies, not queueing. The gateway
// long-polls with MATRIX_SYNC_TIMEOUT=30000 as in production, and so does the plain client.
// It reports p50/p99 of both in ms and the p50 ratio gateway/sync; there is no assertion on
// timing, only that every message arrives (within deadline) and reaches the OneBot client once.
//
// Run it with `make bench` (200 messages).
func BenchmarkRelay(b *testing.B) {
	const token = "bench-token"
	bot := newBotUser(b)
	alice := newHuman(b, "alice") // sends
	bob := newHuman(b, "bob")     // the plain /sync observer
	g := startGateway(b, b.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true, "auto_accept_whitelist": []string{alice.user.UserID}}),
		"GATEWAY_ACCESS_TOKEN": token,
		"MATRIX_SYNC_TIMEOUT":  "30000",
		"GATEWAY_LOG_LEVEL":    "info",
	})

	ctx := b.Context() // canceled when the benchmark ends, before the cleanups run
	created, err := alice.cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "private_chat", Invite: []id.UserID{id.UserID(bot.UserID), id.UserID(bob.user.UserID)},
	})
	if err != nil {
		b.Fatal(err)
	}
	room := created.RoomID
	if _, err := bob.cli.JoinRoomByID(ctx, room); err != nil {
		b.Fatalf("bob joins %s: %v", room, err)
	}
	alice.waitJoined(room, bot)

	arr := newRelayArrivals()
	errc := make(chan error, 2)
	go observeOneBot(ctx, dialWSV12(b, g, token), arr, errc)
	go observeSync(ctx, bob.cli, room, arr, errc)

	// send sends one message and waits until it has arrived at both observers.
	send := func(body string) (gw, plain time.Duration) {
		sendCtx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		start := time.Now()
		resp, err := alice.cli.SendText(sendCtx, room, body)
		if err != nil {
			b.Fatalf("sending %q: %v", body, err)
		}
		ob, sy, err := arr.wait(resp.EventID, deadline, errc)
		if err != nil {
			b.Fatalf("message %q (%s): %v", body, resp.EventID, err)
		}
		return ob.Sub(start), sy.Sub(start)
	}
	nonce := fmt.Sprintf("%x", time.Now().UnixNano())
	// Warm-up: both long-polls are running and the WebSocket client is registered.
	send("relay warm-up " + nonce)

	var gwLat, syncLat []time.Duration
	n := 0
	for b.Loop() { // resets the timer on the first call and stops it when done; runs setup once
		n++
		gw, plain := send(fmt.Sprintf("relay %d %s", n, nonce))
		gwLat = append(gwLat, gw)
		syncLat = append(syncLat, plain)
	}
	b.StopTimer()
	// A marker after the last message: delivery is in order, so a repeat of any measured message
	// would have reached the OneBot client before it.
	send("relay marker " + nonce)
	if dups := arr.duplicates(); len(dups) > 0 {
		b.Fatalf("%d message(s) arrived more than once at the OneBot client: %v", len(dups), dups)
	}

	slices.Sort(gwLat)
	slices.Sort(syncLat)
	gw50, gw99 := percentile(gwLat, 50), percentile(gwLat, 99)
	sy50, sy99 := percentile(syncLat, 50), percentile(syncLat, 99)
	ratio := float64(gw50) / float64(sy50)
	b.ReportMetric(ms(gw50), "gw-p50-ms")
	b.ReportMetric(ms(gw99), "gw-p99-ms")
	b.ReportMetric(ms(sy50), "sync-p50-ms")
	b.ReportMetric(ms(sy99), "sync-p99-ms")
	b.ReportMetric(ratio, "gw/sync-p50")
	b.Logf("relay latency over %d messages (send call → arrival), ms:\n"+
		"  %-34s %8s %8s %8s %8s\n"+
		"  %-34s %8.2f %8.2f %8.2f %8.2f\n"+
		"  %-34s %8.2f %8.2f %8.2f %8.2f\n"+
		"  p50 ratio gateway/sync: %.2f",
		len(gwLat),
		"observer", "min", "p50", "p99", "max",
		"gateway (OneBot v12 forward WS)", ms(gwLat[0]), ms(gw50), ms(gw99), ms(gwLat[len(gwLat)-1]),
		"plain Matrix /sync (30 s poll)", ms(syncLat[0]), ms(sy50), ms(sy99), ms(syncLat[len(syncLat)-1]),
		ratio)
}

// The two observers of BenchmarkRelay.
const (
	viaOneBot = iota
	viaSync
)

// relayArrivals records when each event ID first reached each observer.
type relayArrivals struct {
	mu   sync.Mutex
	seen [2]map[id.EventID]time.Time
	dups []id.EventID // repeated at the OneBot client
	wake chan struct{}
}

func newRelayArrivals() *relayArrivals {
	return &relayArrivals{
		seen: [2]map[id.EventID]time.Time{make(map[id.EventID]time.Time), make(map[id.EventID]time.Time)},
		wake: make(chan struct{}, 1),
	}
}

func (a *relayArrivals) record(via int, ev id.EventID, at time.Time) {
	a.mu.Lock()
	if _, ok := a.seen[via][ev]; !ok {
		a.seen[via][ev] = at
	} else if via == viaOneBot {
		a.dups = append(a.dups, ev)
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *relayArrivals) duplicates() []id.EventID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.dups)
}

// wait returns the arrival times of ev at both observers, or an error if an observer failed,
// a message arrived twice at the OneBot client, or ev has not arrived at both within limit.
func (a *relayArrivals) wait(ev id.EventID, limit time.Duration, errc <-chan error) (ob, sy time.Time, err error) {
	timeout := time.NewTimer(limit)
	defer timeout.Stop()
	for {
		a.mu.Lock()
		ob, okOB := a.seen[viaOneBot][ev]
		sy, okSync := a.seen[viaSync][ev]
		dups := len(a.dups)
		a.mu.Unlock()
		switch {
		case dups > 0:
			return ob, sy, fmt.Errorf("message(s) arrived more than once at the OneBot client: %v", a.duplicates())
		case okOB && okSync:
			return ob, sy, nil
		}
		select {
		case <-a.wake:
		case err := <-errc:
			return ob, sy, err
		case <-timeout.C:
			return ob, sy, fmt.Errorf("not arrived within %v (OneBot client: %t, plain /sync: %t)", limit, okOB, okSync)
		}
	}
}

// observeOneBot reads the gateway's frames and records message events by message_id, timed
// as soon as the frame is read.
func observeOneBot(ctx context.Context, c *websocket.Conn, arr *relayArrivals, errc chan<- error) {
	for {
		_, data, err := c.Read(ctx)
		at := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				errc <- fmt.Errorf("OneBot connection: %w", err)
			}
			return
		}
		var f struct {
			Type      string `json:"type"`
			MessageID string `json:"message_id"`
		}
		if json.Unmarshal(data, &f) == nil && f.Type == "message" && strings.HasPrefix(f.MessageID, "$") {
			arr.record(viaOneBot, id.EventID(f.MessageID), at)
		}
	}
}

// observeSync long-polls /sync (30 s, like the gateway) and records the room's message events
// by event ID, timed when the response has been read.
func observeSync(ctx context.Context, cli *mautrix.Client, room id.RoomID, arr *relayArrivals, errc chan<- error) {
	since := ""
	for {
		resp, err := cli.SyncRequest(ctx, 30000, since, "", false, "")
		at := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				errc <- fmt.Errorf("plain /sync: %w", err)
			}
			return
		}
		since = resp.NextBatch
		if r, ok := resp.Rooms.Join[room]; ok {
			for _, evt := range r.Timeline.Events {
				if evt.Type == event.EventMessage {
					arr.record(viaSync, evt.ID, at)
				}
			}
		}
	}
}

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
