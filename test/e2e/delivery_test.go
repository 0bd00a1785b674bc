package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"maunium.net/go/mautrix/event"
)

// actionV12 runs a v12 action over HTTP and returns the response.
func (g *gatewayProc) actionV12(token, action string, params any) map[string]any {
	g.t.Helper()
	body, _ := json.Marshal(map[string]any{"action": action, "params": params})
	req, _ := http.NewRequest(http.MethodPost, g.url+"/onebot/v12/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		g.t.Fatalf("%s: %d %s", action, resp.StatusCode, raw)
	}
	return out
}

// A limited timeline (more events than the filter's limit arrived while the gateway was down) is
// filled in from /messages: every message is delivered, in order, none twice. On Synapse and on
// Dendrite (whose /messages pages past a sync token given as `to`, back to the room's creation).
func TestLimitedTimelineGapIsFilled(t *testing.T) {
	onEachHomeserver(t, testLimitedTimelineGapIsFilled)
}

func testLimitedTimelineGapIsFilled(t *testing.T) {
	dir := t.TempDir()
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	env := map[string]string{
		"MATRIX_BOTS": botJSON(bot, map[string]any{
			"auto_accept_invites": true,
			"sync_filter":         map[string]any{"room": map[string]any{"timeline": map[string]any{"limit": 2}}},
		}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
	}
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	ob := dialV12(t, g, "e2e-token")
	alice.send(room, "before")
	if m := ob.nextMessage(); m["alt_message"] != "before" {
		t.Fatalf("got %v", m["alt_message"])
	}
	g.stop()

	var sent []string
	for i := range 7 {
		sent = append(sent, string(alice.send(room, fmt.Sprintf("gap %d", i))))
	}
	g = startGateway(t, dir, env)
	ob = dialV12(t, g, "e2e-token")
	for i, want := range sent {
		m := ob.nextMessage()
		if m["message_id"] != want {
			t.Fatalf("message %d after restart: got %v (%v), want %s", i, m["message_id"], m["alt_message"], want)
		}
	}
	marker := alice.send(room, "marker")
	if m := ob.nextMessage(); m["message_id"] != string(marker) {
		t.Fatalf("after the gap came %v (%v), want the marker", m["message_id"], m["alt_message"])
	}
	if !bytes.Contains([]byte(g.proc.Log()), []byte("filled a timeline gap")) {
		t.Fatal("the gateway did not report filling the gap: the filter limit did not take effect")
	}
}

// Direct rooms are private chats: a message there is message.private with the sender as user_id,
// and send_message private to a user lands in that same direct room. The bot's own messages do
// not come back as events.
func TestDirectRoomIsPrivateChat(t *testing.T) {
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
	})
	dm := alice.roomWith(bot, true)
	alice.waitJoined(dm, bot)
	ob := dialV12(t, g, "e2e-token")
	waitFor(t, "the bot to record the direct room", func() bool {
		return bytes.Contains([]byte(g.proc.Log()), []byte("direct=true"))
	})
	alice.send(dm, "psst")
	m := ob.nextMessage()
	if m["detail_type"] != "private" || m["user_id"] != alice.user.UserID || m["matrix.room_id"] != string(dm) {
		t.Fatalf("direct message arrived as %v", m)
	}
	resp := g.actionV12("e2e-token", "send_message", map[string]any{
		"detail_type": "private", "user_id": alice.user.UserID,
		"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": "hello in private"}}},
	})
	if resp["retcode"] != float64(0) {
		t.Fatalf("send_message private: %v", resp)
	}
	evt := alice.waitMessage(dm, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "hello in private" })
	if evt.ID.String() != resp["data"].(map[string]any)["message_id"] {
		t.Fatalf("message_id %v is not the event %s", resp["data"], evt.ID)
	}
	// The bot's own message is not an event; the next one alice sends is.
	next := alice.send(dm, "after")
	if m := ob.nextMessage(); m["message_id"] != string(next) {
		t.Fatalf("got %v (%v), want alice's next message: the bot's own message came back", m["message_id"], m["alt_message"])
	}
}
