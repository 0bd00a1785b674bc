package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

// botSays sends text into room through the gateway's v12 API and returns the event ID.
func botSays(t *testing.T, g *gatewayProc, room, text string) string {
	t.Helper()
	r := g.actionV12("tok", "send_message", map[string]any{"detail_type": "group", "group_id": room,
		"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": text}}}})
	data, _ := r["data"].(map[string]any)
	if r["status"] != "ok" || str(data, "message_id") == "" {
		t.Fatalf("send_message %q: %v", text, r)
	}
	return str(data, "message_id")
}

// sendKeylessEvent sends, as u, a keyless Megolm event (sendKeyless) and returns its event ID.
func sendKeylessEvent(t *testing.T, u *harness.User, room string) string {
	t.Helper()
	session, err := hs.Login(testCtx(t), localpart(u), u.Password)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := hs.Client(session)
	if err != nil {
		t.Fatal(err)
	}
	return string(sendKeyless(t, cli, id.RoomID(room), 0x6c))
}

// sendKeyless sends with cli a well-formed Megolm event (version 3, message index 0, 16 bytes
// of ciphertext, MAC and signature) of a session that nobody will ever share: its ID is 32
// bytes of fill. It returns the event's ID.
func sendKeyless(t testing.TB, cli *mautrix.Client, room id.RoomID, fill byte) id.EventID {
	t.Helper()
	payload := append([]byte{3, 8, 0, 0x12, 16}, bytes.Repeat([]byte{0x5a}, 16+8+64)...)
	resp, err := cli.SendMessageEvent(testCtx(t), room, event.EventEncrypted, map[string]any{
		"algorithm": "m.megolm.v1.aes-sha2", "sender_key": "Xf9NiI6+LsfpKYdBLKDVwCvYzNnF/FGKhcJp8JzHsm4",
		"device_id": "NOSUCHDEVICE", "session_id": base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, 32)),
		"ciphertext": base64.RawStdEncoding.EncodeToString(payload),
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.EventID
}

// replacePickleKey overwrites the generated pickle key file next to the database in dir, as
// when the file was lost and a new one was generated.
func replacePickleKey(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "gateway.db.pickle-key")
	old, err := os.ReadFile(path)
	if err != nil || len(strings.TrimSpace(string(old))) == 0 {
		t.Fatalf("no pickle key file: %v", err)
	}
	if err := os.WriteFile(path, []byte("a-new-pickle-key-that-the-database-was-not-written-with\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A lost pickle key (the key file next to the database was replaced; the database and the
// session stay) is recovered like a lost store: with login_user/login_password and the recovery
// key the gateway logs in as a new device, restores the room keys from the backup, says what
// happened and what to back up, and then decrypts and sends again. Another restart keeps the
// new device.
func TestE2EELostPickleKeyRecoversOnNewDevice(t *testing.T) {
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	recoveryKey, _, room := e2eePeers(t, js, bot, alice)

	dir := t.TempDir()
	tokenStore := filepath.Join(t.TempDir(), "tokens.json")
	raw, _ := json.Marshal([]any{map[string]any{
		"homeserver": hs.URL(), "user_id": bot.UserID, "login_user": bot.UserID, "login_password": bot.Password,
		"recovery_key": recoveryKey, "auto_accept_invites": true,
	}})
	env := map[string]string{
		"MATRIX_BOTS": string(raw), "MATRIX_TOKEN_STORE_PATH": tokenStore, "GATEWAY_ACCESS_TOKEN": "tok",
		"GATEWAY_UNDECRYPTABLE_WAIT": "1h",
	}
	g := startGateway(t, dir, env)
	ob := dialV12(t, g, "tok")
	oldDevice := storedDevice(t, tokenStore)
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})
	first := js.sendText(room, "before the key was lost")
	wantDecrypted(t, ob.nextMessage(), first, "before the key was lost")
	js.do("wait_backed_up", map[string]any{"client": "botjs"})
	// An event whose key never comes is held by the old device when the key is lost.
	held := sendKeylessEvent(t, alice, room)
	waitFor(t, "the gateway to hold the event", func() bool {
		return len(logLines(readLog(t, g), "holding an event until its room key arrives", held)) == 1
	})
	// /metrics: one event held, the first decrypted, the device's one-time keys counted.
	e2eeKind := func(kind string) string {
		return series("e2ee_events_total", map[string]string{"bot": bot.UserID, "kind": kind})
	}
	var m0 map[string]float64
	waitFor(t, "the held event in /metrics", func() bool { _, m0 = scrape(t, g, "tok"); return m0[e2eeKind("held")] >= 1 })
	if m0[e2eeKind("held")] != 1 || m0[e2eeKind("decrypted")] < 1 || m0[e2eeKind("undecryptable")] != 0 {
		t.Errorf("/metrics e2ee: held %v (want 1), decrypted %v (want >= 1), undecryptable %v (want 0)",
			m0[e2eeKind("held")], m0[e2eeKind("decrypted")], m0[e2eeKind("undecryptable")])
	}
	if otk, ok := m0[series("e2ee_one_time_keys", map[string]string{"bot": bot.UserID})]; !ok || otk < 1 {
		t.Errorf("/metrics e2ee_one_time_keys = %v (present %v), want the device's keys on the server", otk, ok)
	}
	g.stop()

	keyFile := replacePickleKey(t, dir)
	env["GATEWAY_UNDECRYPTABLE_WAIT"] = "2s"
	g = startGateway(t, dir, env)
	ob = dialV12(t, g, "tok")
	// The new device took the held event over: it is handed over (marked, its wait is over), not
	// left in the database for the old device.
	if msg := ob.nextMessage(); msg["message_id"] != held || msg["matrix.msgtype"] != "m.bad.encrypted" {
		t.Fatalf("want the event held by the old device delivered marked undecryptable, got %v", msg)
	}
	waitFor(t, "the undecryptable event in /metrics", func() bool {
		_, m1 := scrape(t, g, "tok")
		return m1[e2eeKind("undecryptable")] == 1
	})
	newDevice := storedDevice(t, tokenStore)
	if newDevice == "" || newDevice == oldDevice {
		t.Fatalf("the bot must be on a new device: old %s, now %s", oldDevice, newDevice)
	}
	log := readLog(t, g)
	what := regexp.MustCompile(`level=WARN msg="the crypto store of this device cannot be decrypted with the current pickle key \(it was changed or lost\); ` +
		`logging in as a new device and restoring keys from the backup" .*device_id=` + regexp.QuoteMeta(oldDevice) + ` `)
	if !what.MatchString(log) {
		t.Fatalf("the gateway must say what happened:\n%s", tail(log, 4000))
	}
	done := regexp.MustCompile(`level=WARN msg="crypto store unreadable with this pickle key: logged in as new device ` + regexp.QuoteMeta(newDevice) +
		` and restored (\d+) keys from the backup" .*held_events_taken_over=1 advice="back up the pickle key together with the database \([^"]*` + regexp.QuoteMeta(keyFile))
	m := done.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("the gateway must say it recovered on %s and what to back up:\n%s", newDevice, tail(log, 4000))
	}
	t.Logf("%s", m[0])
	if m[1] == "0" {
		t.Fatalf("no keys restored from the backup: %s", m[0])
	}

	// The new device is cross-signed, decrypts and sends.
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})
	if status := js.do("device_status", map[string]any{"client": "alice", "user_id": bot.UserID, "device_id": newDevice}); status["signed_by_owner"] != true {
		t.Errorf("alice must see the new device signed by its owner: %v", status)
	}
	after := js.sendText(room, "after the recovery")
	wantDecrypted(t, ob.nextMessage(), after, "after the recovery")
	reply := botSays(t, g, room, "the bot on its new device")
	got := js.do("wait_decryption", map[string]any{"client": "alice", "room_id": room, "event_id": reply})
	if content, _ := got["content"].(map[string]any); got["decrypted"] != true || got["encrypted"] != true || content["body"] != "the bot on its new device" {
		t.Fatalf("alice must decrypt the bot's message from its new device: %v", got)
	}

	// Another restart keeps the new device and the new key: no second recovery.
	g.stop()
	g = startGateway(t, dir, env)
	if d := storedDevice(t, tokenStore); d != newDevice {
		t.Fatalf("the restart moved the bot from %s to %s", newDevice, d)
	}
	if log := readLog(t, g); strings.Count(log, "logged in as new device") != 1 {
		t.Fatalf("a restart after the recovery must not recover again:\n%s", tail(log, 3000))
	}
}

// Without a recovery key a lost pickle key is one clear error naming what to set: the bot stays
// on its device, is shown stopped with the reason, and the error is logged once (no retry loop).
func TestE2EELostPickleKeyWithoutRecoveryKeyIsOneClearError(t *testing.T) {
	const want = "were written with another pickle key" // ErrPickleKey
	g := lostWithoutRecoveryKey(t, func(dir string) { replacePickleKey(t, dir) }, want, "GATEWAY_PICKLE_KEY", "recovery_key")
	errorLines := 0
	for _, line := range strings.Split(readLog(t, g), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, want) {
			errorLines++
		}
	}
	if errorLines != 1 {
		t.Fatalf("the error was logged %d times, want once:\n%s", errorLines, tail(readLog(t, g), 3000))
	}
}
