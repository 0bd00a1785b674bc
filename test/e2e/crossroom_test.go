package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// sendReply sends a text in room replying to target, as h.
func (h *human) sendReply(room id.RoomID, target id.EventID, text string) id.EventID {
	h.t.Helper()
	content := &event.MessageEventContent{MsgType: event.MsgText, Body: text,
		RelatesTo: &event.RelatesTo{InReplyTo: &event.InReplyTo{EventID: target}}}
	resp, err := h.cli.SendMessageEvent(testCtx(h.t), room, event.EventMessage, content)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.EventID
}

// v11Reply is the reply segment of a v11 message event or get_msg answer, or nil.
func v11Reply(m map[string]any) map[string]any {
	segs, _ := m["message"].([]any)
	for _, s := range segs {
		if seg, _ := s.(map[string]any); seg["type"] == "reply" {
			return seg
		}
	}
	return nil
}

// Mallory shares room A with the bot; alice shares a private room B with it. A reply Mallory
// sends in A to an event of B (one the bot saw, and one from before the bot joined B) reaches
// the client without a reply segment, so NoneBot-style clients never call get_msg on B's event
// for room A; get_msg of Mallory's message shows no reply either. A reply within A keeps its
// segment, also to a message from before the bot joined A. Once the bot is out of B, get_msg and
// matrix.get_message refuse B's message.
func TestReplyAcrossRoomsIsNeverResolved(t *testing.T) {
	bot := newBotUser(t)
	alice, mallory := newHuman(t, "alice"), newHuman(t, "mallory")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": authToken,
	})
	v11 := dialV11(t, g)
	byEvent := func(e id.EventID) map[string]any {
		return v11.waitFrame("the event "+string(e), func(f map[string]any) bool { return f["matrix_event_id"] == string(e) })
	}

	// Room B: one message from before the bot joined, one it sees.
	created, err := alice.cli.CreateRoom(testCtx(t), &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	roomB := created.RoomID
	before := alice.send(roomB, "said before the bot came")
	if _, err := alice.cli.InviteUser(testCtx(t), roomB, &mautrix.ReqInviteUser{UserID: id.UserID(bot.UserID)}); err != nil {
		t.Fatal(err)
	}
	alice.waitJoined(roomB, bot)
	secret := alice.send(roomB, "the secret of room B")
	secretNum := byEvent(secret)["message_id"].(float64)

	// Room A: one message from before the bot joined, which the gateway may not have indexed:
	// the homeserver shows it is in A, so a reply to it keeps its segment.
	createdA, err := mallory.cli.CreateRoom(testCtx(t), &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	roomA := createdA.RoomID
	early := mallory.send(roomA, "said in A before the bot came")
	if _, err := mallory.cli.InviteUser(testCtx(t), roomA, &mautrix.ReqInviteUser{UserID: id.UserID(bot.UserID)}); err != nil {
		t.Fatal(err)
	}
	mallory.waitJoined(roomA, bot)
	hello := mallory.send(roomA, "hello")
	helloNum := byEvent(hello)["message_id"].(float64)

	ok := byEvent(mallory.sendReply(roomA, hello, "a reply within room A"))
	if r := v11Reply(ok); r == nil || r["data"].(map[string]any)["id"] != fmt.Sprint(int64(helloNum)) {
		t.Fatalf("reply within room A: segment %v, want one to message %v", r, helloNum)
	}
	if r := v11Reply(byEvent(mallory.sendReply(roomA, early, "a reply to A's message from before the bot came"))); r == nil || r["data"].(map[string]any)["id"] == nil {
		t.Fatalf("reply within room A to a message from before the bot joined: segment %v, want one", r)
	}
	ask := mallory.sendReply(roomA, secret, "what did alice say in B?")
	askFrame := byEvent(ask)
	if r := v11Reply(askFrame); r != nil {
		t.Fatalf("reply in A to B's message: segment %v handed to the client", r)
	}
	if r := v11Reply(byEvent(mallory.sendReply(roomA, before, "and before the bot came?"))); r != nil {
		t.Fatalf("reply in A to B's message from before the bot joined: segment %v handed to the client", r)
	}

	getMsg := func(n float64) map[string]any {
		resp, err := http.Get(fmt.Sprintf("%s/onebot/v11/get_msg?message_id=%d&access_token=%s", g.url, int64(n), authToken))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("get_msg: %s", body)
		}
		return out
	}
	got := getMsg(askFrame["message_id"].(float64))
	if d, _ := got["data"].(map[string]any); got["status"] != "ok" || v11Reply(d) != nil {
		t.Fatalf("get_msg of Mallory's reply = %v, want it without a reply segment", got)
	}
	if got := getMsg(secretNum); got["status"] != "ok" { // the bot is in B: its client may read B
		t.Fatalf("get_msg of B's message while the bot is in B = %v", got)
	}

	if _, err := alice.cli.KickUser(testCtx(t), roomB, &mautrix.ReqKickUser{UserID: id.UserID(bot.UserID)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "get_msg of B's message to be refused once the bot is out of B", func() bool {
		return getMsg(secretNum)["status"] == "failed"
	})
	if r := g.actionV12(authToken, "matrix.get_message", map[string]any{"message_id": string(secret)}); r["status"] != "failed" || r["data"] != nil {
		t.Fatalf("matrix.get_message of B's message after the bot left B = %v", r)
	}
}
