package e2e

import (
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

// A person writes "/echo hi" in a Matrix room; a real NoneBot2 app attached to the gateway over
// OneBot reverse WebSocket answers, and "hi" from the bot appears in the room. On Synapse and
// on Dendrite.
func TestNoneBotEchoV11ReverseWS(t *testing.T) {
	onEachHomeserver(t, func(t *testing.T) { testNoneBotEcho(t, 11) })
}

func TestNoneBotEchoV12ReverseWS(t *testing.T) {
	onEachHomeserver(t, func(t *testing.T) { testNoneBotEcho(t, 12) })
}

// noneBotRoom starts the NoneBot2 test app, a gateway whose bot connects to it over reverse
// WebSocket in the given OneBot version, and a room where alice and the bot are joined.
func noneBotRoom(t *testing.T, version int) (*harness.NoneBot, *harness.User, *human, id.RoomID) {
	t.Helper()
	const token = "nonebot-token"
	nb := harness.NoneBotForTest(t, harness.NoneBotOptions{AccessToken: token})
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	env := map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": token,
		// NoneBot checks its ONEBOT_V1x_ACCESS_TOKEN on the reverse WebSocket the gateway opens.
		"GATEWAY_PUSH_ACCESS_TOKEN": token,
	}
	if version == 11 {
		env["GATEWAY_V11_REVERSE_WS"] = nb.V11ReverseWSURL()
	} else {
		env["GATEWAY_V12_REVERSE_WS"] = nb.V12ReverseWSURL()
	}
	startGateway(t, t.TempDir(), env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	waitFor(t, "NoneBot to see the bot connect", func() bool { return strings.Contains(nb.Log(), "connected") })
	return nb, bot, alice, room
}

func testNoneBotEcho(t *testing.T, version int) {
	_, bot, alice, room := noneBotRoom(t, version)

	alice.send(room, "/echo hi")
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "hi" })
}
