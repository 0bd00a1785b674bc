package e2e

import (
	"regexp"
	"testing"
)

// With encryption_sharing_strategy cross_signed_only, the bot's room keys follow the trust of
// the other side's devices: alice's second device is withheld from while she has not
// cross-signed it, decrypts the bot's next message once she has, and is withheld from again
// after she resets her cross-signing keys (the device is no longer signed by her identity).
func TestE2EECrossSignedOnlyFollowsTrustChanges(t *testing.T) {
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	// alice has cross-signing (her first device is signed) and a second device she has not signed.
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	js.do("bootstrap", map[string]any{"client": "alice"})
	second := str(js.do("login", map[string]any{"client": "alice2", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password}), "device_id")
	room := str(js.do("create_room", map[string]any{"client": "alice", "invite": []string{bot.UserID}, "encrypted": true}), "room_id")

	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"encryption_sharing_strategy": "cross_signed_only", "auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "tok",
	})
	ob := dialV12(t, g, "tok")
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})
	js.do("wait_member", map[string]any{"client": "alice2", "room_id": room, "user_id": bot.UserID})
	// The gateway has synced the room (and knows it is encrypted) once it delivers a message.
	hello := js.sendText(room, "hello bot")
	if msg := ob.nextMessage(); msg["message_id"] != hello {
		t.Fatalf("want alice's message, got %v", msg)
	}

	// Not cross-signed: the second device is told the key is withheld; the first one decrypts.
	first := botSays(t, g, room, "before cross-signing")
	js.do("wait_event", map[string]any{"client": "alice", "room_id": room, "sender": bot.UserID, "body": "before cross-signing"})
	if got := js.do("wait_decryption", map[string]any{"client": "alice2", "room_id": room, "event_id": first}); got["decrypted"] != false {
		t.Fatalf("the unsigned device must not get the room key: %v", got)
	}

	// alice cross-signs it. Once the gateway has synced past that (it delivers alice's next
	// message), its next message reaches the second device.
	js.do("cross_sign_device", map[string]any{"client": "alice", "device_id": second})
	marker := js.sendText(room, "I signed my other device")
	if msg := ob.nextMessage(); msg["message_id"] != marker {
		t.Fatalf("want alice's message, got %v", msg)
	}
	after := botSays(t, g, room, "after cross-signing")
	got := js.do("wait_decryption", map[string]any{"client": "alice2", "room_id": room, "event_id": after})
	content, _ := got["content"].(map[string]any)
	if got["decrypted"] != true || got["encrypted"] != true || content["body"] != "after cross-signing" {
		t.Fatalf("the device must decrypt the bot's message once it is cross-signed: %v", got)
	}
	rotated := regexp.MustCompile(`level=INFO msg="room key rotated: devices' trust changed" .* now_trusted=\S*/` + regexp.QuoteMeta(second) + `[ ,]`)
	waitFor(t, "the rotation logged", func() bool { return rotated.MatchString(readLog(t, g)) })

	// alice resets her cross-signing keys: the device is no longer signed by her identity, and the
	// bot's next room key is withheld from it.
	js.do("reset_cross_signing", map[string]any{"client": "alice"})
	marker = js.sendText(room, "I reset my cross-signing")
	if msg := ob.nextMessage(); msg["message_id"] != marker {
		t.Fatalf("want alice's message, got %v", msg)
	}
	reset := botSays(t, g, room, "after the reset")
	if got := js.do("wait_decryption", map[string]any{"client": "alice2", "room_id": room, "event_id": reset}); got["decrypted"] != false {
		t.Fatalf("a device that lost its cross-signing must not get the next room key: %v", got)
	}
	untrusted := regexp.MustCompile(`level=INFO msg="room key rotated: devices' trust changed" .* no_longer_trusted=\S*/` + regexp.QuoteMeta(second) + `(,|\n)`)
	waitFor(t, "the rotation logged", func() bool { return untrusted.MatchString(readLog(t, g)) })
}

// With verified_only, alice's device gets the bot's room keys only once the bot's account has
// verified her (its user-signing key signed her identity, here from the bot's other device):
// the bot's next message then reaches her, without a membership or device change.
func TestE2EEVerifiedOnlyFollowsVerification(t *testing.T) {
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	recoveryKey, _, room := e2eePeers(t, js, bot, alice)
	js.do("bootstrap", map[string]any{"client": "alice"}) // alice's identity, her device signed by it

	gwUser, err := hs.Login(testCtx(t), localpart(bot), bot.Password)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS": botJSON(gwUser, map[string]any{"recovery_key": recoveryKey, "encryption_sharing_strategy": "verified_only",
			"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "tok",
	})
	ob := dialV12(t, g, "tok")
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})
	hello := js.sendText(room, "hello bot")
	if msg := ob.nextMessage(); msg["message_id"] != hello {
		t.Fatalf("want alice's message, got %v", msg)
	}

	// alice is cross-signed but not verified by the bot: withheld.
	first := botSays(t, g, room, "before the verification")
	if got := js.do("wait_decryption", map[string]any{"client": "alice", "room_id": room, "event_id": first}); got["decrypted"] != false {
		t.Fatalf("a user the bot has not verified must not get the room key: %v", got)
	}

	// The bot's account verifies alice; once the gateway has synced past that, its next message
	// reaches her.
	js.do("verify_user", map[string]any{"client": "botjs", "user_id": alice.UserID})
	marker := js.sendText(room, "you verified me")
	if msg := ob.nextMessage(); msg["message_id"] != marker {
		t.Fatalf("want alice's message, got %v", msg)
	}
	after := botSays(t, g, room, "after the verification")
	got := js.do("wait_decryption", map[string]any{"client": "alice", "room_id": room, "event_id": after})
	if content, _ := got["content"].(map[string]any); got["decrypted"] != true || got["encrypted"] != true || content["body"] != "after the verification" {
		t.Fatalf("alice must decrypt the bot's message once the bot verified her: %v", got)
	}
}
