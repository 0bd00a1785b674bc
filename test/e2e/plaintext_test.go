package e2e

import (
	"slices"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

// An unencrypted message in an encrypted room (anyone who can inject an event, such as a hostile
// homeserver, could have forged it) is not delivered to a bot with E2EE on: it is counted in
// e2ee_plaintext_dropped_total and logged once with the variable that delivers it, and an
// encrypted event sent after it is what the client gets next. With
// GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS=true such a message is delivered.
func TestE2EEPlaintextInEncryptedRoomIsDropped(t *testing.T) {
	s := startE2EERoom(t, "1s") // e2ee_test.go
	bot, h, room, dir, env, g, ob := s.bot, s.h, s.room, s.dir, s.env, s.g, s.ob
	if _, err := h.cli.SendStateEvent(testCtx(t), room, event.StateEncryption, "",
		&event.EncryptionEventContent{Algorithm: "m.megolm.v1.aes-sha2"}); err != nil {
		t.Fatal(err)
	}

	// alice's client does not encrypt: her text goes out as a plain m.room.message.
	forged := h.send(room, "forged in the clear")
	// Then an encrypted event of a session nobody shares with the bot: after
	// GATEWAY_UNDECRYPTABLE_WAIT it is delivered, marked undecryptable.
	keyless := sendKeyless(t, h.cli, room, 0x6c)
	if msg := ob.nextMessage(); msg["message_id"] != string(keyless) || msg["matrix.msgtype"] != "m.bad.encrypted" {
		t.Fatalf("want the encrypted event (marked undecryptable), not the unencrypted one (%s) before it; got %v", forged, msg)
	}
	if n := e2eeCounter(t, g, bot, "e2ee_plaintext_dropped_total", ""); n != 1 {
		t.Errorf("e2ee_plaintext_dropped_total = %v, want 1", n)
	}
	var logged []string
	for _, l := range strings.Split(readLog(t, g), "\n") {
		if strings.Contains(l, "dropped an unencrypted message in an encrypted room") && strings.Contains(l, string(forged)) {
			logged = append(logged, l)
		}
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS=true") {
		t.Errorf("want one log line naming the drop and GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS=true, got %q", logged)
	}

	// Nor is it in the message index (get_message) or the history (Satori message.list).
	if r := g.actionV12("tok", "matrix.get_message", map[string]any{"message_id": forged}); r["status"] == "ok" {
		t.Errorf("matrix.get_message of the dropped message: %v, want a failure", r)
	}
	if ids := historyIDs(t, g, bot, room); slices.Contains(ids, string(forged)) {
		t.Errorf("message.list shows the dropped message: %v", ids)
	}

	// Opted in: the next unencrypted message is delivered.
	g.stop()
	env["GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS"] = "true"
	g = startGateway(t, dir, env)
	ob = dialV12(t, g, "tok")
	plain := h.send(room, "plain, opted in")
	if msg := ob.nextMessage(); msg["message_id"] != string(plain) || msg["alt_message"] != "plain, opted in" {
		t.Fatalf("with GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS=true want the unencrypted message, got %v", msg)
	}
	if r := g.actionV12("tok", "matrix.get_message", map[string]any{"message_id": plain}); r["status"] != "ok" {
		t.Errorf("matrix.get_message of the delivered message: %v", r)
	}
	if ids := historyIDs(t, g, bot, room); !slices.Contains(ids, string(forged)) || !slices.Contains(ids, string(plain)) {
		t.Errorf("opted in, message.list shows %v; want both unencrypted messages", ids)
	}
}

// historyIDs are the message IDs of room's latest page of Satori message.list.
func historyIDs(t *testing.T, g *gatewayProc, bot *harness.User, room id.RoomID) []string {
	t.Helper()
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if st := satoriCallWith(t, g, "tok", bot, "message.list", map[string]any{"channel_id": room, "limit": 20}, &page); st != 200 {
		t.Fatalf("message.list: %d", st)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	return ids
}
