package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

// The E2EE send path against Synapse, with matrix-js-sdk's Rust crypto reading what the bot
// sent (alice) and the homeserver's own view (GET /rooms/{room}/event/{id}) telling what event
// type went over the wire.

// wire is the event type the homeserver holds for evt: m.room.encrypted for anything encrypted.
func wire(t *testing.T, cli *mautrix.Client, room string, evt string) string {
	t.Helper()
	e, err := cli.GetEvent(testCtx(t), id.RoomID(room), id.EventID(evt))
	if err != nil {
		t.Fatalf("GET event %s: %v", evt, err)
	}
	return e.Type.Type
}

// okData runs a v12 action and fails unless it succeeded; it returns data as an object.
func okData(t *testing.T, g *gatewayProc, token, action string, params map[string]any) map[string]any {
	t.Helper()
	r := g.actionV12(token, action, params)
	if r["retcode"] != float64(0) {
		t.Fatalf("%s %v: %v", action, params, r)
	}
	d, _ := r["data"].(map[string]any)
	return d
}

// actionV11 runs a v11 action over HTTP and returns the response.
func actionV11(t *testing.T, g *gatewayProc, token, action string, params any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(params)
	req, _ := http.NewRequest(http.MethodPost, g.url+"/onebot/v11/"+action, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %d %v", action, resp.StatusCode, err)
	}
	return out
}

func textMsg(s string) []any {
	return []any{map[string]any{"type": "text", "data": map[string]any{"text": s}}}
}

// encryptedRoomFor has alice (logged in on js) create an encrypted room and invite u.
func encryptedRoomFor(js *jsClient, u *harness.User) string {
	return str(js.do("create_room", map[string]any{"client": "alice", "invite": []string{u.UserID}, "encrypted": true}), "room_id")
}

// wantDecryptedFrom waits until alice reads body from the bot in room, and fails unless it came
// encrypted and decrypted.
func wantDecryptedFrom(t *testing.T, js *jsClient, bot *harness.User, room, body string) map[string]any {
	t.Helper()
	ev := js.do("wait_event", map[string]any{"client": "alice", "room_id": room, "sender": bot.UserID, "body": body})
	if ev["wire_type"] != "m.room.encrypted" || ev["decryption_failure"] == true {
		t.Fatalf("alice got %q not encrypted or undecryptable: %v", body, ev)
	}
	return ev
}

// matrix.join_room on an encrypted room followed at once by send_message, many times: every
// message goes out encrypted and alice decrypts it (before the fix most went out in plaintext:
// the sync had not delivered m.room.encryption yet).
func TestE2EEJoinThenSendIsEncrypted(t *testing.T) {
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	g := startGateway(t, t.TempDir(), map[string]string{"MATRIX_BOTS": botJSON(bot, nil), "GATEWAY_ACCESS_TOKEN": "tok",
		"GATEWAY_DROP_EVENTS_WITHOUT_CLIENT": "true"}) // the sync runs on as it would with a client
	cli, err := hs.Client(bot)
	if err != nil {
		t.Fatal(err)
	}
	const tries = 8
	for i := range tries {
		room := encryptedRoomFor(js, bot)
		okData(t, g, "tok", "matrix.join_room", map[string]any{"room": room})
		body := fmt.Sprintf("right after the join, try %d", i)
		sent := okData(t, g, "tok", "send_message", map[string]any{"detail_type": "group", "group_id": room, "message": textMsg(body)})
		if typ := wire(t, cli, room, str(sent, "message_id")); typ != "m.room.encrypted" {
			t.Fatalf("try %d of %d: the message right after the join went over the wire as %s", i+1, tries, typ)
		}
		wantDecryptedFrom(t, js, bot, room, body)
	}

	// Once the sync has delivered the room (the bot has seen alice's message, so its state store
	// knows the room is encrypted), a reaction still goes unencrypted by default, as in Element.
	room := encryptedRoomFor(js, bot)
	okData(t, g, "tok", "matrix.join_room", map[string]any{"room": room})
	hers := js.sendText(room, "react to me")
	waitFor(t, "the gateway to see alice's message", func() bool {
		return g.actionV12("tok", "matrix.get_message", map[string]any{"message_id": hers})["retcode"] == float64(0)
	})
	r := okData(t, g, "tok", "matrix.react", map[string]any{"message_id": hers, "key": "👍"})
	if typ := wire(t, cli, room, str(r, "message_id")); typ != "m.reaction" {
		t.Fatalf("a reaction in an encrypted room goes unencrypted by default (as in Element); it went as %s", typ)
	}
	ev := js.do("wait_event", map[string]any{"client": "alice", "room_id": room, "sender": bot.UserID, "type": "m.reaction", "relates_to": hers})
	if rel, _ := ev["content"].(map[string]any)["m.relates_to"].(map[string]any); rel["key"] != "👍" || ev["encrypted"] == true {
		t.Fatalf("alice must see the plain reaction: %v", ev)
	}
}

// Every send path right after a join, with a sync filter that never delivers m.room.encryption
// (so the bot can only know by asking the homeserver): text (v12 and v11), an image (encrypted
// attachment), a raw room send, an auto-accepted invite, and reactions, which go unencrypted by
// default (as Element sends them) and encrypted when asked.
func TestE2EEEverySendPathAfterJoinIsEncrypted(t *testing.T) {
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	hide := map[string]any{"not_types": []string{"m.room.encryption"}}
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS": botJSON(bot, map[string]any{
			"auto_accept_invites": true, "auto_accept_whitelist": []string{alice.UserID},
			"sync_filter": map[string]any{"room": map[string]any{"state": hide, "timeline": hide}},
		}),
		"GATEWAY_ACCESS_TOKEN":               "tok",
		"GATEWAY_DROP_EVENTS_WITHOUT_CLIENT": "true", // no OneBot client here: the sync must not wait for one
	})
	cli, err := hs.Client(bot)
	if err != nil {
		t.Fatal(err)
	}

	// An image right after the join: an encrypted event with an encrypted attachment.
	file := okData(t, g, "tok", "upload_file", map[string]any{"type": "data", "name": "dot.png", "data": base64.StdEncoding.EncodeToString(tinyPNG)})
	room := encryptedRoomFor(js, bot)
	okData(t, g, "tok", "matrix.join_room", map[string]any{"room": room})
	sent := okData(t, g, "tok", "send_message", map[string]any{"detail_type": "group", "group_id": room,
		"message": []any{map[string]any{"type": "image", "data": map[string]any{"file_id": file["file_id"]}}}})
	if typ := wire(t, cli, room, str(sent, "message_id")); typ != "m.room.encrypted" {
		t.Fatalf("the image went over the wire as %s", typ)
	}
	ev := js.do("wait_event", map[string]any{"client": "alice", "room_id": room, "sender": bot.UserID, "msgtype": "m.image"})
	content, _ := ev["content"].(map[string]any)
	if ev["wire_type"] != "m.room.encrypted" || content["file"] == nil || content["url"] != nil {
		t.Fatalf("the image must be encrypted, with an encrypted attachment: %v", ev)
	}
	dl := js.do("download", map[string]any{"client": "alice", "content": content})
	if raw, _ := base64.StdEncoding.DecodeString(str(dl, "data_base64")); !bytes.Equal(raw, tinyPNG) {
		t.Fatal("alice must decrypt the attachment to the same bytes")
	}

	// Reactions right after the join: unencrypted by default, encrypted when asked.
	room = encryptedRoomFor(js, bot)
	first, second := js.sendText(room, "react to me"), js.sendText(room, "and to me")
	okData(t, g, "tok", "matrix.join_room", map[string]any{"room": room})
	plain := okData(t, g, "tok", "matrix.react", map[string]any{"group_id": room, "message_id": first, "key": "👍"})
	if typ := wire(t, cli, room, str(plain, "message_id")); typ != "m.reaction" {
		t.Fatalf("a reaction goes unencrypted by default (as in Element); it went as %s", typ)
	}
	enc := okData(t, g, "tok", "matrix.react", map[string]any{"group_id": room, "message_id": second, "key": "🔒", "encrypted": true})
	if typ := wire(t, cli, room, str(enc, "message_id")); typ != "m.room.encrypted" {
		t.Fatalf("a reaction asked encrypted went as %s", typ)
	}
	ev = js.do("wait_event", map[string]any{"client": "alice", "room_id": room, "sender": bot.UserID, "type": "m.reaction", "relates_to": second})
	rel, _ := ev["content"].(map[string]any)["m.relates_to"].(map[string]any)
	if ev["wire_type"] != "m.room.encrypted" || ev["decryption_failure"] == true || rel["key"] != "🔒" {
		t.Fatalf("alice must decrypt the encrypted reaction: %v", ev)
	}

	// A raw room send right after the join is encrypted by the gateway.
	room = encryptedRoomFor(js, bot)
	okData(t, g, "tok", "matrix.join_room", map[string]any{"room": room})
	raw := okData(t, g, "tok", "matrix.raw_request", map[string]any{"method": "PUT",
		"path": "/_matrix/client/v3/rooms/" + room + "/send/m.room.message/raw-1", "body": map[string]any{"msgtype": "m.text", "body": "raw send"}})
	rawID := str(raw["body"].(map[string]any), "event_id")
	if raw["status"] != float64(200) || rawID == "" {
		t.Fatalf("raw send: %v", raw)
	}
	if typ := wire(t, cli, room, rawID); typ != "m.room.encrypted" {
		t.Fatalf("the raw send went over the wire as %s", typ)
	}
	wantDecryptedFrom(t, js, bot, room, "raw send")

	// v11 send_group_msg right after the join.
	room = encryptedRoomFor(js, bot)
	okData(t, g, "tok", "matrix.join_room", map[string]any{"room": room})
	var group any
	for _, gr := range actionV11(t, g, "tok", "get_group_list", nil)["data"].([]any) {
		if gr := gr.(map[string]any); gr["matrix_room_id"] == room {
			group = gr["group_id"]
		}
	}
	if v11 := actionV11(t, g, "tok", "send_group_msg", map[string]any{"group_id": group, "message": "from v11"}); v11["retcode"] != float64(0) {
		t.Fatalf("v11 send_group_msg to %v: %v", group, v11)
	}
	wantDecryptedFrom(t, js, bot, room, "from v11")

	// An auto-accepted invite, then a message as soon as alice sees the bot joined.
	room = encryptedRoomFor(js, bot)
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})
	sent = okData(t, g, "tok", "send_message", map[string]any{"detail_type": "group", "group_id": room, "message": textMsg("after auto-accept")})
	if typ := wire(t, cli, room, str(sent, "message_id")); typ != "m.room.encrypted" {
		t.Fatalf("the message after the auto-accepted invite went over the wire as %s", typ)
	}
	wantDecryptedFrom(t, js, bot, room, "after auto-accept")
}

// A direct room the gateway creates for send_message private is encrypted (as Element makes
// them) and alice reads the first message; matrix.create_room is encrypted by default and not
// with encrypted false.
func TestE2EECreatedRoomsAreEncrypted(t *testing.T) {
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	g := startGateway(t, t.TempDir(), map[string]string{"MATRIX_BOTS": botJSON(bot, nil), "GATEWAY_ACCESS_TOKEN": "tok",
		"GATEWAY_ENCRYPT_REACTIONS": "true"})
	cli, err := hs.Client(bot)
	if err != nil {
		t.Fatal(err)
	}
	encryption := func(room string) (id.Algorithm, error) {
		var c event.EncryptionEventContent
		err := cli.StateEvent(testCtx(t), id.RoomID(room), event.StateEncryption, "", &c)
		return c.Algorithm, err
	}

	sent := okData(t, g, "tok", "send_message", map[string]any{"detail_type": "private", "user_id": alice.UserID, "message": textMsg("hello in private")})
	friends := g.actionV12("tok", "get_friend_list", nil)["data"].([]any)
	if len(friends) != 1 {
		t.Fatalf("get_friend_list: %v", friends)
	}
	dm := str(friends[0].(map[string]any), "matrix.room_id")
	if alg, err := encryption(dm); err != nil || alg != id.AlgorithmMegolmV1 {
		t.Fatalf("the direct room the gateway created must be encrypted: %q %v", alg, err)
	}
	if typ := wire(t, cli, dm, str(sent, "message_id")); typ != "m.room.encrypted" {
		t.Fatalf("the first private message went over the wire as %s", typ)
	}
	js.do("join", map[string]any{"client": "alice", "room_id": dm})
	wantDecryptedFrom(t, js, bot, dm, "hello in private")

	room := str(okData(t, g, "tok", "matrix.create_room", map[string]any{"name": "default", "invite": []string{alice.UserID}}), "group_id")
	if alg, err := encryption(room); err != nil || alg != id.AlgorithmMegolmV1 {
		t.Fatalf("matrix.create_room must make an encrypted room by default: %q %v", alg, err)
	}
	sent = okData(t, g, "tok", "send_message", map[string]any{"detail_type": "group", "group_id": room, "message": textMsg("in a new room")})
	if typ := wire(t, cli, room, str(sent, "message_id")); typ != "m.room.encrypted" {
		t.Fatalf("the message in the new room went over the wire as %s", typ)
	}
	js.do("join", map[string]any{"client": "alice", "room_id": room})
	wantDecryptedFrom(t, js, bot, room, "in a new room")

	// GATEWAY_ENCRYPT_REACTIONS=true: reactions are encrypted by default, and encrypted false
	// sends one unencrypted.
	r := okData(t, g, "tok", "matrix.react", map[string]any{"group_id": room, "message_id": sent["message_id"], "key": "🔒"})
	if typ := wire(t, cli, room, str(r, "message_id")); typ != "m.room.encrypted" {
		t.Fatalf("with GATEWAY_ENCRYPT_REACTIONS=true a reaction went as %s", typ)
	}
	ev := js.do("wait_event", map[string]any{"client": "alice", "room_id": room, "sender": bot.UserID, "type": "m.reaction"})
	if rel, _ := ev["content"].(map[string]any)["m.relates_to"].(map[string]any); ev["wire_type"] != "m.room.encrypted" || rel["key"] != "🔒" {
		t.Fatalf("alice must decrypt the encrypted reaction: %v", ev)
	}
	r = okData(t, g, "tok", "matrix.react", map[string]any{"group_id": room, "message_id": sent["message_id"], "key": "👍", "encrypted": false})
	if typ := wire(t, cli, room, str(r, "message_id")); typ != "m.reaction" {
		t.Fatalf("a reaction with encrypted false went as %s", typ)
	}

	room = str(okData(t, g, "tok", "matrix.create_room", map[string]any{"name": "plain", "encrypted": false}), "group_id")
	if _, err := encryption(room); err == nil {
		t.Fatal("matrix.create_room with encrypted false made an encrypted room")
	}
	sent = okData(t, g, "tok", "send_message", map[string]any{"detail_type": "group", "group_id": room, "message": textMsg("in a plain room")})
	if typ := wire(t, cli, room, str(sent, "message_id")); typ != "m.room.message" {
		t.Fatalf("the message in the unencrypted room went over the wire as %s", typ)
	}
}
