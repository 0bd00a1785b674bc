package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A message is kept for GATEWAY_MESSAGE_RETENTION: get_msg works within it; past it get_msg
// fails naming the variable, and the gateway's own pruner (nobody calls it) deletes the row,
// so that the message text is no longer in the database file or its WAL.
func TestMessageRetention(t *testing.T) {
	dir := t.TempDir()
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	g := startGateway(t, dir, map[string]string{
		"MATRIX_BOTS":                      botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN":             authToken,
		"GATEWAY_MESSAGE_RETENTION":        "15s",
		"GATEWAY_ENCRYPTED_BODY_RETENTION": "15s",
	})
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	v11 := dialV11(t, g)
	marker := randomMarker("retention-marker-")
	evt := alice.send(room, marker)
	f := v11.waitFrame("the message", func(f map[string]any) bool { return f["matrix_event_id"] == string(evt) })
	msgID := int64(f["message_id"].(float64))

	getMsg := func() map[string]any {
		resp, err := http.Get(fmt.Sprintf("%s/onebot/v11/get_msg?message_id=%d&access_token=%s", g.url, msgID, authToken))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("get_msg: %s", body)
		}
		return out
	}
	if got := getMsg(); got["status"] != "ok" || got["data"].(map[string]any)["raw_message"] != marker {
		t.Fatalf("get_msg within the retention = %v", got)
	}
	waitFor(t, "get_msg to fail past the retention", func() bool { return getMsg()["status"] == "failed" })
	if got := getMsg(); !strings.Contains(fmt.Sprint(got["msg"]), "GATEWAY_MESSAGE_RETENTION") {
		t.Fatalf("get_msg past the retention = %v; want a message naming GATEWAY_MESSAGE_RETENTION", got)
	}
	v12 := g.actionV12(authToken, "matrix.get_message", map[string]any{"message_id": string(evt)})
	if code := v12["retcode"]; code != float64(35001) && code != float64(35002) {
		t.Fatalf("matrix.get_message past the retention = %v; want 35001 (pruned) or 35002 (expired)", v12)
	}
	waitGoneFromDB(t, dir, "the message text to leave gateway.db and its WAL", marker)
	// The pruner logs its pass after the delete and the checkpoint, so the file can be clean a
	// moment before the line is written.
	waitFor(t, "the gateway log to show the pruner's pass (pruned expired data)", func() bool {
		return strings.Contains(g.proc.LogTail(400), "pruned expired data")
	})
}

// In an end-to-end encrypted room (the other side is matrix-js-sdk's Rust crypto), the
// decrypted body is kept for GATEWAY_ENCRYPTED_BODY_RETENTION only: then matrix.get_message
// answers 35002 naming the variable, the decrypted text is gone from gateway.db and its WAL,
// and the row stays: a reply to the message still names its sender.
func TestEncryptedBodyRetention(t *testing.T) {
	js := startJSClient(t)
	bot := newBotUser(t)
	alice := newBotUser(t) // any registered user with a password
	dir := t.TempDir()
	g := startGateway(t, dir, map[string]string{
		"MATRIX_BOTS":                      botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN":             "tok",
		"GATEWAY_ENCRYPTED_BODY_RETENTION": "15s",
	})
	ob := dialV12(t, g, "tok")
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	room := str(js.do("create_room", map[string]any{"client": "alice", "invite": []string{bot.UserID}, "encrypted": true}), "room_id")
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})

	marker := randomMarker("e2ee-retention-marker-")
	sent := str(js.do("send", map[string]any{"client": "alice", "room_id": room, "content": map[string]any{"msgtype": "m.text", "body": marker}}), "event_id")
	if msg := ob.nextMessage(); msg["message_id"] != sent || msg["alt_message"] != marker {
		t.Fatalf("want the decrypted message, got %v", msg)
	}
	get := func() map[string]any {
		return g.actionV12("tok", "matrix.get_message", map[string]any{"message_id": sent})
	}
	if r := get(); r["retcode"] != float64(0) {
		t.Fatalf("matrix.get_message within the retention = %v", r)
	}
	waitFor(t, "the decrypted body to expire", func() bool { return get()["retcode"] == float64(35002) })
	if r := get(); !strings.Contains(fmt.Sprint(r["message"]), "GATEWAY_ENCRYPTED_BODY_RETENTION") {
		t.Fatalf("matrix.get_message past the body retention = %v; want it to name GATEWAY_ENCRYPTED_BODY_RETENTION", r)
	}
	waitGoneFromDB(t, dir, "the decrypted text to leave gateway.db and its WAL", marker)

	// The row stays: alice's reply to the expired message reaches the client with the
	// replied-to sender.
	js.do("send", map[string]any{"client": "alice", "room_id": room, "content": map[string]any{
		"msgtype": "m.text", "body": "a reply", "m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": sent}},
	}})
	msg := ob.nextMessage()
	reply := segData(msg, "reply")
	if reply == nil || reply["message_id"] != sent || reply["user_id"] != alice.UserID {
		t.Fatalf("the reply to the expired message = %v; want a reply segment naming %s", msg, alice.UserID)
	}
}

// GATEWAY_ENCRYPTED_BODY_RETENTION bounds the Satori event stream too: its frames are kept in
// the outbox after delivery (for clients that resume with an sn), and a frame of an encrypted
// room holds the decrypted text. Past the retention the text leaves gateway.db and its WAL,
// although GATEWAY_OUTBOX_MAX_AGE (24 h) would keep the frame.
func TestEncryptedBodyRetentionCoversTheSatoriStream(t *testing.T) {
	js := startJSClient(t)
	bot := newBotUser(t)
	alice := newBotUser(t)
	dir := t.TempDir()
	g := startGateway(t, dir, map[string]string{
		"MATRIX_BOTS":                      botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN":             satoriToken,
		"GATEWAY_ENCRYPTED_BODY_RETENTION": "15s",
	})
	sat := dialSatori(t, g.wsURL("/satori/v1/events"), satoriToken, nil)
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	room := str(js.do("create_room", map[string]any{"client": "alice", "invite": []string{bot.UserID}, "encrypted": true}), "room_id")
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})

	marker := randomMarker("satori-retention-marker-")
	js.do("send", map[string]any{"client": "alice", "room_id": room, "content": map[string]any{"msgtype": "m.text", "body": marker}})
	sat.message(marker) // decrypted, delivered, and kept for resumes

	waitGoneFromDB(t, dir, "the decrypted text of the Satori frame to leave gateway.db and its WAL", marker)
}

// With GATEWAY_ENCRYPTED_BODY_RETENTION=0 the Satori stream keeps no decrypted text after
// delivery: a client that resumes from before an encrypted room's message gets the plain events
// kept around it, not that message.
func TestNoEncryptedBodyRetentionSatoriResumeSkipsDecryptedEvents(t *testing.T) {
	js := startJSClient(t)
	bot := newBotUser(t)
	alice := newBotUser(t)
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":                      botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN":             satoriToken,
		"GATEWAY_ENCRYPTED_BODY_RETENTION": "0",
	})
	url := g.wsURL("/satori/v1/events")
	sat := dialSatori(t, url, satoriToken, nil)
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	encrypted := str(js.do("create_room", map[string]any{"client": "alice", "invite": []string{bot.UserID}, "encrypted": true}), "room_id")
	plain := str(js.do("create_room", map[string]any{"client": "alice", "invite": []string{bot.UserID}, "encrypted": false}), "room_id")
	js.do("wait_member", map[string]any{"client": "alice", "room_id": encrypted, "user_id": bot.UserID})
	js.do("wait_member", map[string]any{"client": "alice", "room_id": plain, "user_id": bot.UserID})

	send := func(room, body string) {
		js.do("send", map[string]any{"client": "alice", "room_id": room, "content": map[string]any{"msgtype": "m.text", "body": body}})
	}
	send(plain, "plain before")
	before := sat.message("plain before").SN
	marker := randomMarker("no-retention-marker-")
	send(encrypted, marker)
	sat.message(marker) // decrypted and delivered live
	send(plain, "plain after")
	sat.message("plain after")

	again := dialSatori(t, url, satoriToken, &before)
	for {
		ev, _ := again.event()
		if ev.Message == nil {
			continue
		}
		if ev.Message.Content == marker {
			t.Fatalf("the resume replayed the decrypted message (sn %d) although GATEWAY_ENCRYPTED_BODY_RETENTION=0", ev.SN)
		}
		if ev.Message.Content == "plain after" {
			break
		}
	}
}

// randomMarker is prefix and 16 random hex digits: a text that is nowhere else in the database.
func randomMarker(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// waitGoneFromDB waits (saying what) until marker is in neither gateway.db nor its WAL in dir.
func waitGoneFromDB(t *testing.T, dir, what, marker string) {
	t.Helper()
	db := filepath.Join(dir, "gateway.db")
	waitFor(t, what, func() bool {
		for _, p := range []string{db, db + "-wal"} {
			data, err := os.ReadFile(p)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte(marker)) {
				return false
			}
		}
		return true
	})
}
