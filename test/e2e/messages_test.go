package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

// testPNG is the 1x1 PNG of test/clients/nonebot/plugins/messages.py.
var testPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

// Real NoneBot2 with the messages plugin, over v11 and v12 reverse WebSocket: a mention and a
// reply come out as Matrix pills and m.in_reply_to; a pill to the bot is to_me; the bot sends an
// image the Matrix user downloads intact; a Matrix reply makes the plugin read the original
// through get_msg (v11, called by the adapter) or matrix.get_message (v12); an image from the
// Matrix user reaches the plugin with a link it downloads without a Matrix token. On Synapse
// and on Dendrite.
func TestNoneBotMessagesV11(t *testing.T) {
	onEachHomeserver(t, func(t *testing.T) { testNoneBotMessages(t, 11) })
}

func TestNoneBotMessagesV12(t *testing.T) {
	onEachHomeserver(t, func(t *testing.T) { testNoneBotMessages(t, 12) })
}

func testNoneBotMessages(t *testing.T, version int) {
	_, bot, alice, room := noneBotRoom(t, version)
	messageProofs(t, bot, alice, room, "original text")
}

// messageProofs are what every proofs plugin of a real client answers (NoneBot2's messages.py
// over OneBot, its proofs.py over Satori, Koishi's bot.js over Satori), checked in room: a
// mention is a pill and an intentional mention, a reply is m.in_reply_to the command, a pill to
// the bot is to_me, the client's image is an m.image with its bytes intact, a Matrix reply to
// original makes the client read the original back through the gateway, and a Matrix image
// reaches the client with a link that needs no token.
func messageProofs(t *testing.T, bot *harness.User, alice *human, room id.RoomID, original string) {
	t.Helper()
	fromBot := func(what string, pred func(*event.MessageEventContent) bool) *event.MessageEventContent {
		t.Helper()
		evt := alice.waitMessage(room, bot.UserID, pred)
		t.Logf("%s: %s", what, evt.Content.VeryRaw)
		return evt.Content.AsMessage()
	}

	// A mention is a pill and an intentional mention.
	alice.send(room, "/mention")
	c := fromBot("mention", func(c *event.MessageEventContent) bool { return strings.HasSuffix(c.Body, " hi") })
	if c.Mentions == nil || !slices.Contains(c.Mentions.UserIDs, id.UserID(alice.user.UserID)) ||
		!strings.Contains(c.FormattedBody, `href="https://matrix.to/#/`+alice.user.UserID+`"`) {
		t.Fatalf("mention sent as %+v", c)
	}

	// A reply (Satori: the client's quote) is m.in_reply_to the command.
	cmd := alice.send(room, "/reply")
	fromBot("reply", func(c *event.MessageEventContent) bool {
		return c.Body == "replied" && c.RelatesTo != nil && c.RelatesTo.InReplyTo != nil && c.RelatesTo.InReplyTo.EventID == cmd
	})

	// A pill to the bot at the start of a message is to_me (Satori: <at> of the bot's own user).
	alice.sendContent(room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "bot: hello", Format: event.FormatHTML,
		FormattedBody: `<a href="https://matrix.to/#/` + bot.UserID + `">bot</a>: hello`,
		Mentions:      &event.Mentions{UserIDs: []id.UserID{id.UserID(bot.UserID)}},
	})
	fromBot("to_me", func(c *event.MessageEventContent) bool { return c.Body == "to_me ok" })

	// The client sends an image: an m.image with its size and dimensions, bytes intact.
	alice.send(room, "/img")
	c = fromBot("image", func(c *event.MessageEventContent) bool { return c.MsgType == event.MsgImage })
	if c.Info == nil || c.Info.MimeType != "image/png" || c.Info.Width != 1 || c.Info.Height != 1 || c.Info.Size != len(testPNG) {
		t.Fatalf("image info = %+v", c.Info)
	}
	got, err := alice.cli.DownloadBytes(testCtx(t), c.URL.ParseOrIgnore())
	if err != nil || !bytes.Equal(got, testPNG) {
		t.Fatalf("downloaded %d bytes (%v), want the client's PNG", len(got), err)
	}

	// A Matrix reply to an earlier message: the client reads the original through the gateway
	// (get_msg, matrix.get_message, Satori's message.get; Satori: it sees <quote>).
	orig := alice.send(room, original)
	alice.sendContent(room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "/quote", RelatesTo: &event.RelatesTo{InReplyTo: &event.InReplyTo{EventID: orig}},
	})
	c = fromBot("quote", func(c *event.MessageEventContent) bool { return strings.HasPrefix(c.Body, "quoted: ") })
	if c.Body != "quoted: "+original {
		t.Fatalf("the client got %q, want %q read back through the gateway", c.Body, "quoted: "+original)
	}

	// An image from Matrix reaches the client with a link that needs no token.
	up, err := alice.cli.UploadBytesWithName(testCtx(t), testPNG, "image/png", "dot.png")
	if err != nil {
		t.Fatal(err)
	}
	alice.sendContent(room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgImage, Body: "dot.png", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "image/png", Size: len(testPNG), Width: 1, Height: 1},
	})
	c = fromBot("image received", func(c *event.MessageEventContent) bool { return strings.HasPrefix(c.Body, "image ") })
	fields := strings.Fields(c.Body)
	sum := sha256.Sum256(testPNG)
	if len(fields) != 3 || fields[1] != hex.EncodeToString(sum[:]) {
		t.Fatalf("the client got other bytes: %q", c.Body)
	}
	resp, err := http.Get(fields[2]) // no Authorization: the link is signed
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, testPNG) {
		t.Fatalf("GET %s: %d, %d bytes", fields[2], resp.StatusCode, len(body))
	}
}
