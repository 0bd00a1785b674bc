package e2e

import (
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"

	"github.com/matrix-onebot/gateway/test/harness/zerobot"
)

// ZeroBot v1.8.2 (Go) over the v11 forward WebSocket: it reads self_id from the first frame (the
// lifecycle event) and takes any frame with echo for a response, so events must carry none. A
// Matrix user writes "/echo hi" and ZeroBot's answer appears in the room.
func TestZeroBotEchoForwardWS(t *testing.T) {
	const token = "zerobot-token"
	bot, alice := newBotUser(t), newHuman(t, "alice")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true, "onebot_self_id": 777}),
		"GATEWAY_ACCESS_TOKEN": token,
	})
	z := zerobot.ForTest(t, g.wsURL("/onebot/v11/"), token)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	alice.send(room, "/echo hi")
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "hi" })
	if !strings.Contains(z.Log(), "self_id=777") {
		t.Errorf("ZeroBot did not see self_id 777 on the message:\n%s", z.Log())
	}
}

// A bot with onebot_self_id has that one v11 number everywhere: ZeroBot's
// GetGroupMemberInfo(group, SelfID) and GetStrangerInfo(SelfID) find it, and the member list
// shows it under the same number (issue 9 item 2: the list used to say another number and the
// look-ups "unknown user_id").
func TestZeroBotFindsItselfUnderSelfID(t *testing.T) {
	const token = "zerobot-token"
	bot, alice := newBotUser(t), newHuman(t, "alice")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true, "onebot_self_id": 777}),
		"GATEWAY_ACCESS_TOKEN": token,
	})
	z := zerobot.ForTest(t, g.wsURL("/onebot/v11/"), token)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	alice.send(room, "/whoami")
	got := alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return strings.HasPrefix(c.Body, "whoami ") })
	if body, want := got.Content.AsMessage().Body, "whoami self=777 member=777 stranger=777 in_list=true"; body != want {
		t.Errorf("ZeroBot says %q, want %q\n%s", body, want, z.Log())
	}
}
