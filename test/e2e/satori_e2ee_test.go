package e2e

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"maunium.net/go/mautrix"

	"github.com/matrix-onebot/gateway/test/harness"
)

// Satori reaction.list in an end-to-end encrypted room lists the reactions that went over the
// wire encrypted (the gateway decrypts them) as well as plain ones, and reaction.delete finds an
// encrypted reaction to redact. Before the fix the relations were read for m.reaction only, so
// an encrypted reaction (m.room.encrypted on the wire) was never listed.
func TestSatoriReactionListInEncryptedRoom(t *testing.T) {
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	// No client reads events here: the sync must not wait for one.
	g, cli := startSatoriE2EE(t, js, bot, alice, map[string]string{"GATEWAY_DROP_EVENTS_WITHOUT_CLIENT": "true"})
	room := joinedEncryptedRoom(js, bot)
	hers := js.sendText(room, "react to me")
	waitFor(t, "the gateway to decrypt alice's message", func() bool {
		return g.actionV12(satoriToken, "matrix.get_message", map[string]any{"message_id": hers})["retcode"] == float64(0)
	})

	// The bot's 🔒 goes over the wire encrypted; alice's 👍 as her client sends it.
	enc := okData(t, g, satoriToken, "matrix.react", map[string]any{"group_id": room, "message_id": hers, "key": "🔒", "encrypted": true})
	if typ := wire(t, cli, room, str(enc, "message_id")); typ != "m.room.encrypted" {
		t.Fatalf("the reaction asked encrypted went as %s", typ)
	}
	js.do("send", map[string]any{"client": "alice", "room_id": room, "type": "m.reaction",
		"content": map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": hers, "key": "👍"}}})

	reacted := func(key string) []string {
		var l struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if st := satoriCall(t, g, bot, "reaction.list", map[string]any{"channel_id": room, "message_id": hers, "emoji_id": key}, &l); st != 200 {
			t.Fatalf("reaction.list: %d", st)
		}
		var ids []string
		for _, u := range l.Data {
			ids = append(ids, u.ID)
		}
		return ids
	}
	waitFor(t, "alice's 👍 to be listed", func() bool { return slices.Equal(reacted("👍"), []string{alice.UserID}) })
	if got := reacted("🔒"); !slices.Equal(got, []string{bot.UserID}) {
		t.Fatalf("reaction.list of the encrypted 🔒: %v, want the bot", got)
	}
	if st := satoriCall(t, g, bot, "reaction.delete", map[string]any{"channel_id": room, "message_id": hers, "emoji_id": "🔒"}, nil); st != 200 {
		t.Fatalf("reaction.delete of the encrypted 🔒: %d, want 200", st)
	}
	waitFor(t, "the encrypted 🔒 to be gone", func() bool { return len(reacted("🔒")) == 0 })
	if got := reacted("👍"); !slices.Equal(got, []string{alice.UserID}) {
		t.Fatalf("after deleting 🔒, 👍 is listed as %v", got)
	}
}

// NoneBot2 (nonebot-adapter-satori) and Koishi (@satorijs/adapter-satori) in an end-to-end
// encrypted room: alice's command goes over the wire encrypted, the gateway decrypts it for the
// Satori client, and the client's reply goes out encrypted, which alice's client (matrix-js-sdk,
// an encryption independent of mautrix) decrypts.
func TestSatoriNoneBotEncrypted(t *testing.T) { testSatoriClientEncrypted(t, "nonebot") }

func TestSatoriKoishiEncrypted(t *testing.T) { testSatoriClientEncrypted(t, "koishi") }

func testSatoriClientEncrypted(t *testing.T, which string) {
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	g, cli := startSatoriE2EE(t, js, bot, alice, nil)
	c := harness.SatoriClientForTest(t, which, harness.SatoriClientOptions{Endpoint: g.url + "/satori", Token: satoriToken})
	room := joinedEncryptedRoom(js, bot)
	hers := js.sendText(room, "/echo secret <b>&amp;")
	if typ := wire(t, cli, room, hers); typ != "m.room.encrypted" {
		t.Fatalf("alice's command went over the wire as %s", typ)
	}
	wantDecryptedFrom(t, js, bot, room, "secret <b>&amp;")
	// The echo is the client's: its log has the command's text, decrypted by the gateway.
	echoed := false
	for _, line := range strings.Split(c.Log(), "\n") {
		echoed = echoed || strings.Contains(line, "harness: echo") && strings.Contains(line, "secret")
	}
	if !echoed {
		t.Fatalf("the %s client did not log the echo of the decrypted command:\n%s", which, c.Log())
	}
}

// startSatoriE2EE logs alice in on js and starts a gateway for bot (auto-accepting invites,
// GATEWAY_ACCESS_TOKEN the Satori token, and env); it returns the gateway and the bot's own
// Matrix client, which tells what went over the wire.
func startSatoriE2EE(t *testing.T, js *jsClient, bot, alice *harness.User, env map[string]string) (*gatewayProc, *mautrix.Client) {
	t.Helper()
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	all := map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": satoriToken,
	}
	maps.Copy(all, env)
	g := startGateway(t, t.TempDir(), all)
	cli, err := hs.Client(bot)
	if err != nil {
		t.Fatal(err)
	}
	return g, cli
}

// joinedEncryptedRoom is an encrypted room that alice (logged in on js) made and u has joined.
func joinedEncryptedRoom(js *jsClient, u *harness.User) string {
	js.t.Helper()
	room := encryptedRoomFor(js, u)
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": u.UserID})
	return room
}
