package e2e

import (
	"fmt"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"

	"github.com/matrix-onebot/gateway/test/harness"
)

// NoneBot2 over OneBot v11 HTTP POST: the gateway POSTs events with X-Self-ID and X-Signature
// (NoneBot checks the HMAC-SHA1 with ONEBOT_V11_SECRET and answers 403 when it is wrong), and
// NoneBot calls actions over the gateway's HTTP API. "/echo hi" from a Matrix user comes back.
func TestNoneBotEchoV11HTTPPost(t *testing.T) {
	const token, secret, selfID = "nonebot-token", "nonebot-secret", 5151
	bot, alice := newBotUser(t), newHuman(t, "alice")
	listen := freeAddr(t)
	nb := harness.NoneBotForTest(t, harness.NoneBotOptions{AccessToken: token, ExtraEnv: map[string]string{
		"DRIVER":               "~fastapi+~httpx",
		"ONEBOT_V11_SECRET":    secret,
		"ONEBOT_V11_API_ROOTS": fmt.Sprintf(`{"%d": "http://%s/onebot/v11/"}`, selfID, listen),
	}})
	startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":            botJSON(bot, map[string]any{"auto_accept_invites": true, "onebot_self_id": selfID}),
		"GATEWAY_LISTEN":         listen,
		"GATEWAY_ACCESS_TOKEN":   token,
		"GATEWAY_V11_HTTP_POST":  nb.V11HTTPPostURL(),
		"GATEWAY_WEBHOOK_SECRET": secret,
	})
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	alice.send(room, "/echo hi")
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "hi" })
	if strings.Contains(nb.Log(), "Signature") {
		t.Errorf("NoneBot complained about a signature:\n%s", nb.LogTail(40))
	}
}

// NoneBot2 over the OneBot v12 webhook: events are POSTed with X-OneBot-Version, X-Impl and the
// access token; NoneBot learns the bot from status_update and calls actions over HTTP.
func TestNoneBotEchoV12Webhook(t *testing.T) {
	const token = "nonebot-token"
	bot, alice := newBotUser(t), newHuman(t, "alice")
	listen := freeAddr(t)
	nb := harness.NoneBotForTest(t, harness.NoneBotOptions{AccessToken: token, ExtraEnv: map[string]string{
		"DRIVER":               "~fastapi+~httpx",
		"ONEBOT_V12_API_ROOTS": fmt.Sprintf(`{"%s": "http://%s/onebot/v12/"}`, bot.UserID, listen),
	}})
	startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":               botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_LISTEN":            listen,
		"GATEWAY_ACCESS_TOKEN":      token,
		"GATEWAY_PUSH_ACCESS_TOKEN": token, // NoneBot checks ONEBOT_V12_ACCESS_TOKEN on the webhook too
		"GATEWAY_V12_WEBHOOK":       nb.V12WebhookURL(),
	})
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	alice.send(room, "/echo hi")
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "hi" })
}
