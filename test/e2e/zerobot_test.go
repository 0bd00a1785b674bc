package e2e

import (
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"

	"github.com/matrix-onebot/gateway/test/harness"
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
	z := harness.ZeroBotForTest(t, g.wsURL("/onebot/v11/"), token)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	alice.send(room, "/echo hi")
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "hi" })
	if !strings.Contains(z.Log(), "self_id=777") {
		t.Errorf("ZeroBot did not see self_id 777 on the message:\n%s", z.Log())
	}
}
