package e2e

import (
	"fmt"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

// Koishi 4.18 with koishi-plugin-adapter-onebot 6.9.4 drives a Matrix bot over each of its
// protocols: a Matrix user writes "/echo hi", Koishi answers "hi", and it appears in the room.

const koishiSelfID = 4242 // below 2^32: Koishi sends only such numbers as numbers

func TestKoishiEchoForwardWS(t *testing.T) {
	const token = "koishi-token"
	bot, alice := newBotUser(t), newHuman(t, "alice")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true, "onebot_self_id": koishiSelfID}),
		"GATEWAY_ACCESS_TOKEN": token,
	})
	k := harness.KoishiForTest(t, harness.KoishiOptions{Protocol: "ws", SelfID: koishiSelfID, Endpoint: g.wsURL("/onebot/v11/"), Token: token})
	koishiEcho(t, k, bot, alice)
}

func TestKoishiEchoReverseWS(t *testing.T) {
	const token = "koishi-token"
	bot, alice := newBotUser(t), newHuman(t, "alice")
	k := harness.KoishiForTest(t, harness.KoishiOptions{Protocol: "ws-reverse", SelfID: koishiSelfID, Token: token})
	startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":               botJSON(bot, map[string]any{"auto_accept_invites": true, "onebot_self_id": koishiSelfID}),
		"GATEWAY_PUSH_ACCESS_TOKEN": token, // Koishi checks its token on the reverse WebSocket
		"GATEWAY_V11_REVERSE_WS":    k.ReverseWSURL(),
	})
	koishiEcho(t, k, bot, alice)
}

// Over HTTP, Koishi calls actions at the gateway and takes events POSTed to it, signed: Koishi
// checks the HMAC over JSON.stringify of the parsed body, so a message with U+2028 (which Go's
// JSON encoder escapes) proves the bytes agree. test/clients/koishi/bot.js works around a bug of
// the pinned adapter 6.9.4 + plugin-server 3.2.9 (the event is read from the response body).
func TestKoishiEchoHTTP(t *testing.T) {
	const token, secret = "koishi-token", "koishi-secret"
	bot, alice := newBotUser(t), newHuman(t, "alice")
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":            botJSON(bot, map[string]any{"auto_accept_invites": true, "onebot_self_id": koishiSelfID}),
		"GATEWAY_ACCESS_TOKEN":   token,
		"GATEWAY_V11_HTTP_POST":  fmt.Sprintf("http://127.0.0.1:%d/onebot", port),
		"GATEWAY_WEBHOOK_SECRET": secret,
	})
	k := harness.KoishiForTest(t, harness.KoishiOptions{
		Protocol: "http", SelfID: koishiSelfID, Endpoint: g.url + "/onebot/v11", Token: token, Secret: secret, Port: port,
	})
	room := koishiEcho(t, k, bot, alice)
	alice.send(room, "/echo line\u2028two")
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return strings.Contains(c.Body, "two") })
}

func koishiEcho(t *testing.T, k *harness.Koishi, bot *harness.User, alice *human) (room id.RoomID) {
	t.Helper()
	room = alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	waitFor(t, "Koishi to log the bot in", func() bool { return strings.Contains(k.Log(), "harness: login 4242 status=1") })
	alice.send(room, "/echo hi")
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "hi" })
	return room
}
