package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// restartReadyWithin bounds how long a restarted gateway may take to be ready: well under the
// long poll (MATRIX_SYNC_TIMEOUT below), which is what it waited for before.
const restartReadyWithin = 20 * time.Second

// A restarted gateway is ready at once: its first sync catches up with timeout 0 instead of
// long-polling quiet rooms for MATRIX_SYNC_TIMEOUT (rolling restarts and container health
// checks wait on /readyz).
func TestRestartIsReadyWithoutWaitingForTheLongPoll(t *testing.T) {
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	env := map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
		"MATRIX_SYNC_TIMEOUT":  "300000", // five minutes: the restart must not wait for it
	}
	dir := t.TempDir()
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	// Once the bot has handed over a message sent after its join, it has synced past everything
	// so far: the rooms are quiet from then on, and a sync since the saved position has nothing
	// to answer with until the long poll ends.
	ob := dialV12(t, g, "e2e-token")
	before := alice.send(room, "before the restart")
	if m := ob.nextMessage(); m["message_id"] != string(before) {
		t.Fatalf("got %v, want %s", m["message_id"], before)
	}
	// The position after that message is saved once the next long poll has begun: stop, start
	// (catching up with whatever came meanwhile) and stop again, so that the start measured
	// below has nothing to catch up with.
	g.stop()
	g = startGateway(t, dir, env)
	g.stop()

	g = launchGateway(t, dir, env) // the same database: the bot has a sync position
	limit := time.After(restartReadyWithin)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		code, rep := readyz(g)
		if code == http.StatusOK {
			break
		}
		select {
		case <-tick.C:
		case <-limit:
			t.Fatalf("/readyz not ready %v after a restart (MATRIX_SYNC_TIMEOUT is 5 min): %d %+v", restartReadyWithin, code, rep)
		}
	}
	// Ready means syncing: a message sent now arrives.
	ob = dialV12(t, g, "e2e-token")
	sent := alice.send(room, "after the restart")
	if m := ob.nextMessage(); m["message_id"] != string(sent) {
		t.Fatalf("got %v, want %s", m["message_id"], sent)
	}
}

// recordingReverse is a OneBot v12 client the gateway dials (reverse WebSocket): it records the
// frames of its first connection and closes ended when that connection is over.
func recordingReverse(t *testing.T) (url string, frames chan map[string]any, ended chan struct{}) {
	t.Helper()
	frames, ended = make(chan map[string]any, 1024), make(chan struct{})
	first := make(chan struct{}, 1)
	first <- struct{}{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-first:
		default:
			http.Error(w, "only one connection in this test", http.StatusConflict)
			return
		}
		defer close(ended)
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			_, b, err := c.Read(context.Background())
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
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/onebot/v12/ws", frames, ended
}

// botOnline reports whether f is a status_update that lists user with online as given.
func botOnline(f map[string]any, user string, online bool) bool {
	if f["detail_type"] != "status_update" {
		return false
	}
	st, _ := f["status"].(map[string]any)
	bots, _ := st["bots"].([]any)
	for _, b := range bots {
		m, _ := b.(map[string]any)
		self, _ := m["self"].(map[string]any)
		if self["user_id"] == user && m["online"] == online {
			return st["good"] == online
		}
	}
	return false
}

// A clean stop tells the connected OneBot clients that the bot goes offline before it closes
// their connections: the final status_update (good false, the bot offline) reaches a v12 reverse
// WebSocket (which has an outbox), a v12 forward WebSocket and a v12 webhook, and the log has no
// ERROR.
func TestCleanStopSendsFinalStatusWithoutError(t *testing.T) {
	bot := newBotUser(t)
	reverseURL, pushed, ended := recordingReverse(t)
	posted := make(chan map[string]any, 1024) // the v12 webhook's bodies
	webhook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if json.NewDecoder(r.Body).Decode(&m) == nil {
			posted <- m
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(webhook.Close)
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":            botJSON(bot, nil),
		"GATEWAY_ACCESS_TOKEN":   "e2e-token",
		"GATEWAY_V12_REVERSE_WS": reverseURL,
		"GATEWAY_V12_WEBHOOK":    webhook.URL,
	})
	forward := dialV12(t, g, "e2e-token")
	for name, frames := range map[string]chan map[string]any{"reverse": pushed, "forward": forward.frames, "webhook": posted} {
		waitFor(t, name+" to get a status_update with the bot online", func() bool {
			select {
			case f := <-frames:
				return botOnline(f, bot.UserID, true)
			default:
				return false
			}
		})
	}
	g.stop()
	select {
	case <-ended:
	case <-time.After(deadline):
		t.Fatal("the reverse WebSocket was not closed by the stop")
	}
	// Every frame of the reverse WebSocket is in pushed once it has ended; the forward one's
	// channel is closed when its connection ends.
	// The webhook's requests were all answered before the gateway exited.
	for name, frames := range map[string]chan map[string]any{"reverse": pushed, "forward": forward.frames, "webhook": posted} {
		var got []any
		found := false
		for f := range framesUntilEnd(t, frames, name != "forward") {
			got = append(got, f["detail_type"])
			found = found || botOnline(f, bot.UserID, false)
		}
		if !found {
			t.Errorf("%s: no final status_update with the bot offline before the stop; got %v", name, got)
		}
	}
	log := g.proc.Log()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("the stop logged an error: %s", line)
		}
	}
}

// framesUntilEnd yields the frames received: those already queued when complete, else until
// the channel is closed (within the deadline).
func framesUntilEnd(t *testing.T, frames chan map[string]any, complete bool) func(func(map[string]any) bool) {
	return func(yield func(map[string]any) bool) {
		timeout := time.After(deadline)
		for {
			if complete {
				select {
				case f := <-frames:
					if !yield(f) {
						return
					}
				default:
					return
				}
				continue
			}
			select {
			case f, ok := <-frames:
				if !ok || !yield(f) {
					return
				}
			case <-timeout:
				t.Error("the connection was not closed by the stop")
				return
			}
		}
	}
}

// With its only bot not logged in yet (its homeserver cannot be reached), the gateway answers
// v12 and v11 actions that the bot is offline and why, and get_status lists it offline, instead
// of "several bots are served here" and {"good":true,"bots":[]}.
func TestUnreachableHomeserverBotIsOffline(t *testing.T) {
	unreachable := "http://" + freeAddr(t) // nothing listens there
	bots, _ := json.Marshal([]any{map[string]any{"homeserver": unreachable, "login_user": "bot", "login_password": "secret-e2e"}})
	g := launchGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          string(bots),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
	})
	waitFor(t, "/readyz to say why the bot does not start", func() bool {
		code, rep := readyz(g)
		return code == http.StatusServiceUnavailable && len(rep.Bots) == 1 && rep.Bots[0].Reason != "" && rep.Bots[0].Reason != "not logged in yet"
	})
	m := g.actionV12("e2e-token", "send_message", map[string]any{"detail_type": "group", "group_id": "!r:localhost", "message": textMsg("hi")})
	msg, _ := m["message"].(string)
	if m["retcode"] != float64(34002) || !strings.Contains(msg, "offline") || !strings.Contains(msg, "bot") {
		t.Fatalf("v12 send_message: %v, want 34002 saying the bot is offline and why", m)
	}
	st := g.actionV12("e2e-token", "get_status", nil)
	data, _ := st["data"].(map[string]any)
	list, _ := data["bots"].([]any)
	if data["good"] != false || len(list) != 1 || list[0].(map[string]any)["online"] != false || list[0].(map[string]any)["matrix.reason"] == "" {
		t.Fatalf("v12 get_status: %v, want good false and the bot listed offline with a reason", st)
	}
	m = actionV11(t, g, "e2e-token", "send_group_msg", map[string]any{"group_id": 1, "message": "hi"})
	msg, _ = m["msg"].(string)
	if m["status"] != "failed" || !strings.Contains(msg, "offline") {
		t.Fatalf("v11 send_group_msg: %v, want failed saying the bot is offline and why", m)
	}
	m = actionV11(t, g, "e2e-token", "get_status", map[string]any{})
	data, _ = m["data"].(map[string]any)
	if m["status"] != "ok" || data["online"] != false || data["good"] != false || data["matrix_reason"] == "" {
		t.Fatalf("v11 get_status: %v, want the bot offline with a reason", m)
	}
}
