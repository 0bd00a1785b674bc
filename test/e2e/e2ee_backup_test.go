package e2e

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/backup"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

// logSize is how much the gateway has logged in dir so far: a start's own lines come after it.
func logSize(t *testing.T, dir string) int {
	t.Helper()
	st, err := os.Stat(filepath.Join(dir, "gateway.log"))
	if os.IsNotExist(err) {
		return 0
	} else if err != nil {
		t.Fatal(err)
	}
	return int(st.Size())
}

// logSince returns what the gateway logged after offset.
func logSince(t *testing.T, g *gatewayProc, offset int) string {
	t.Helper()
	return readLog(t, g)[offset:]
}

// sessionOf returns the Megolm session an encrypted event was sent with.
func sessionOf(t *testing.T, cli *mautrix.Client, room, eventID string) string {
	t.Helper()
	evt, err := cli.GetEvent(testCtx(t), id.RoomID(room), id.EventID(eventID))
	if err != nil {
		t.Fatal(err)
	}
	session, _ := evt.Content.Raw["session_id"].(string)
	if session == "" {
		t.Fatalf("event %s has no session_id: %v", eventID, evt.Content.Raw)
	}
	return session
}

// plantInBackup puts a room key that the JS client exported into the bot's key backup, with the
// flags an older gateway gave a key that another user forwarded to it.
func plantInBackup(t *testing.T, cli *mautrix.Client, version, room string, key map[string]any, forwarder string) {
	t.Helper()
	info, err := cli.GetKeyBackupLatestVersion(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(string(info.AuthData.PublicKey), "="))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ecdh.X25519().NewPublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	claimed, _ := key["sender_claimed_keys"].(map[string]any)
	enc, err := backup.EncryptSessionDataWithPubkey(pub, backup.MegolmSessionData{
		Algorithm: id.AlgorithmMegolmV1, ForwardingKeyChain: []string{forwarder},
		SenderClaimedKeys: backup.SenderClaimedKeys{Ed25519: id.Ed25519(str(claimed, "ed25519"))},
		SenderKey:         id.SenderKey(str(key, "sender_key")), SessionKey: str(key, "session_key"),
	})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(enc)
	body := mautrix.ReqKeyBackupData{FirstMessageIndex: 0, ForwardedCount: 1, IsVerified: false, SessionData: data}
	if _, err := backupSession(t, cli, http.MethodPut, version, room, str(key, "session_id"), body); err != nil {
		t.Fatal(err)
	}
}

// A room key that another user forwards to the bot is refused, and stays refused everywhere: it
// is not uploaded to the key backup, the message it would decrypt is delivered as undecryptable
// saying what happened (also after a restart), and after a lost crypto store the new device
// does not take such a key from the backup (as an older gateway put it there) as a good one.
// Crypto debug lines follow GATEWAY_LOG_LEVEL: the bot sharing its room key is logged at debug;
// at info no debug line is.
func TestE2EERefusedKeyIsNotLaunderedThroughTheBackup(t *testing.T) {
	js := startJSClient(t)
	bot, alice, mallory := newBotUser(t), newBotUser(t), newBotUser(t)
	// The bot's other device sets up cross-signing and the key backup, and then goes quiet: no
	// trusted copy of the room key reaches the gateway or the backup through it.
	js.do("login", map[string]any{"client": "botjs", "homeserver": hs.URL(), "user": localpart(bot), "password": bot.Password})
	boot := js.do("bootstrap", map[string]any{"client": "botjs"})
	recoveryKey, version := str(boot, "recovery_key"), str(boot, "backup_version")
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	js.do("login", map[string]any{"client": "mallory", "homeserver": hs.URL(), "user": localpart(mallory), "password": mallory.Password})
	room := str(js.do("create_room", map[string]any{"client": "alice", "invite": []string{bot.UserID, mallory.UserID}, "encrypted": true}), "room_id")
	js.do("join", map[string]any{"client": "botjs", "room_id": room})
	js.do("join", map[string]any{"client": "mallory", "room_id": room})
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": mallory.UserID})
	js.do("stop", map[string]any{"client": "botjs"})

	// Sent before the gateway's device exists: mallory gets the key, the gateway never does.
	secret := js.sendText(room, "laundered secret")
	js.do("wait_event", map[string]any{"client": "mallory", "room_id": room, "body": "laundered secret"})

	dir, tokenStore := t.TempDir(), filepath.Join(t.TempDir(), "tokens.json")
	raw, _ := json.Marshal([]any{map[string]any{
		"homeserver": hs.URL(), "user_id": bot.UserID, "login_user": bot.UserID, "login_password": bot.Password,
		"recovery_key": recoveryKey, "auto_accept_invites": true,
	}})
	env := map[string]string{
		"MATRIX_BOTS": string(raw), "MATRIX_TOKEN_STORE_PATH": tokenStore, "GATEWAY_ACCESS_TOKEN": "tok",
		"MATRIX_HANDLE_OLD_EVENTS": "true", "GATEWAY_UNDECRYPTABLE_WAIT": "10m", "GATEWAY_LOG_LEVEL": "debug",
	}
	g := startGateway(t, dir, env)
	ob := dialV12(t, g, "tok")
	const holding = "holding an event until its room key arrives"
	waitFor(t, "the gateway to hold the message", func() bool { return len(logLines(readLog(t, g), holding, secret)) == 1 })
	cli, err := hs.Client(bot)
	if err != nil {
		t.Fatal(err)
	}
	session := sessionOf(t, cli, room, secret)

	// mallory forwards the room key to the gateway's device.
	device := storedDevice(t, tokenStore)
	js.do("forward_room_key", map[string]any{"client": "mallory", "room_id": room, "session_id": session, "to_user": bot.UserID, "to_device": device})
	// A later message with a new room key, which the gateway gets from alice and backs up: once
	// it is in the backup, anything received before it would be too.
	js.do("discard_session", map[string]any{"client": "alice", "room_id": room})
	later := js.sendText(room, "after the forward")
	wantDecrypted(t, ob.nextMessage(), later, "after the forward")
	laterSession := sessionOf(t, cli, room, later)
	waitFor(t, "the later room key in the backup", func() bool {
		_, err := backupSession(t, cli, http.MethodGet, version, room, laterSession, nil)
		return err == nil
	})
	if _, err := backupSession(t, cli, http.MethodGet, version, room, session, nil); err == nil {
		t.Fatal("the room key that mallory forwarded was uploaded to the key backup")
	}
	refusal := regexp.MustCompile(`msg="refused a forwarded room key" .*session_id=` + regexp.QuoteMeta(session) + `.*forwarded_by=` + regexp.QuoteMeta(mallory.UserID))
	waitFor(t, "the refusal logged", func() bool { return refusal.MatchString(readLog(t, g)) })
	// /metrics counts the refusal once, and the upload of the later key.
	waitFor(t, "e2ee_keys_refused_total 1 and e2ee_backup_sessions_total{direction=uploaded} at least 1", func() bool {
		return e2eeCounter(t, g, bot, "e2ee_keys_refused_total", "") == 1 && e2eeCounter(t, g, bot, "e2ee_backup_sessions_total", "uploaded") >= 1
	})

	// The bot shares its own room key: at debug, mautrix's decision is in the log.
	sendBot := func(text string) {
		t.Helper()
		r := g.actionV12("tok", "send_message", map[string]any{"detail_type": "group", "group_id": room,
			"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": text}}}})
		if r["status"] != "ok" {
			t.Fatalf("send_message: %v", r)
		}
		js.do("wait_event", map[string]any{"client": "alice", "room_id": room, "sender": bot.UserID, "body": text})
	}
	sendBot("from the bot at debug")
	sharing := regexp.MustCompile(`level=DEBUG msg="Sharing group session for room" .*component=crypto`)
	waitFor(t, "the key sharing logged at debug", func() bool { return sharing.MatchString(readLog(t, g)) })
	g.stop()

	// A restart at info (the key's wait now over): the message is delivered as undecryptable,
	// saying what happened; no crypto line at debug.
	env["GATEWAY_UNDECRYPTABLE_WAIT"], env["GATEWAY_LOG_LEVEL"] = "1s", "info"
	off := logSize(t, dir)
	g = startGateway(t, dir, env)
	ob = dialV12(t, g, "tok")
	msg := ob.nextMessage()
	reason := str(msg, "alt_message")
	if msg["message_id"] != secret || msg["matrix.msgtype"] != "m.bad.encrypted" {
		t.Fatalf("want the message delivered as undecryptable, got %v", msg)
	}
	for _, want := range []string{"never reached this device from the sender's device", "forwarded by another user, " + mallory.UserID} {
		if !strings.Contains(reason, want) {
			t.Errorf("the undecryptable message must say %q: %s", want, reason)
		}
	}
	sendBot("from the bot at info")
	if log := logSince(t, g, off); strings.Contains(log, "level=DEBUG") {
		t.Fatalf("at GATEWAY_LOG_LEVEL=info there must be no debug lines:\n%s", tail(log, 40))
	}
	g.stop()

	// The backup has the key after all, flagged as forwarded: an older gateway uploaded keys
	// like this one. The crypto store is lost; the new device restores the backup.
	exported := js.do("export_room_key", map[string]any{"client": "mallory", "room_id": room, "session_id": session})
	key, _ := exported["key"].(map[string]any)
	malloryKeys := js.do("identity", map[string]any{"client": "mallory"})
	plantInBackup(t, cli, version, room, key, str(malloryKeys, "curve25519"))
	for _, f := range []string{"gateway.db", "gateway.db-wal", "gateway.db-shm", "gateway.db.pickle-key"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	env["GATEWAY_UNDECRYPTABLE_WAIT"] = "2s"
	off = logSize(t, dir)
	g = startGateway(t, dir, env)
	ob = dialV12(t, g, "tok")
	if d := storedDevice(t, tokenStore); d == device {
		t.Fatalf("the gateway must have moved to a new device, still on %s", d)
	}
	got := map[string]map[string]any{}
	for got[secret] == nil || got[later] == nil {
		m := ob.nextMessage()
		if strings.Contains(str(m, "alt_message"), "laundered secret") {
			t.Fatalf("the refused key came back from the backup and decrypted the message: %v", m)
		}
		got[str(m, "message_id")] = m
	}
	wantDecrypted(t, got[later], later, "after the forward")
	if got[secret]["matrix.msgtype"] != "m.bad.encrypted" {
		t.Fatalf("want the message undecryptable after the restore, got %v", got[secret])
	}
	if reason := str(got[secret], "alt_message"); !strings.Contains(reason, "key backup has a copy, but marked as forwarded") {
		t.Errorf("the undecryptable message must say that the backup's copy is marked forwarded: %s", reason)
	}
	// /metrics of the new device: the backup's forwarded copy refused once, the keys the
	// restore imported counted as its log line says.
	n, line := importedAt(t, g, off)
	imported, _ := strconv.ParseFloat(n, 64)
	if imported < 1 {
		t.Fatalf("the restore must import the later key: %s", line)
	}
	waitFor(t, "e2ee_keys_refused_total 1 and e2ee_backup_sessions_total{direction=imported} "+n, func() bool {
		return e2eeCounter(t, g, bot, "e2ee_keys_refused_total", "") == 1 && e2eeCounter(t, g, bot, "e2ee_backup_sessions_total", "imported") == imported
	})
}

// e2eeCounter reads one of the bot's E2EE counters from /metrics (with the access token "tok");
// direction is the label of e2ee_backup_sessions_total ("" for the others).
func e2eeCounter(t *testing.T, g *gatewayProc, bot *harness.User, name, direction string) float64 {
	t.Helper()
	labels := map[string]string{"bot": bot.UserID}
	if direction != "" {
		labels["direction"] = direction
	}
	code, m := scrape(t, g, "tok")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	return m[series(name, labels)]
}

// restoredLine matches the line each start logs about the key backup, with how many keys it
// imported.
var restoredLine = regexp.MustCompile(`msg="restored room keys from the key backup" .*imported=(\d+).*`)

// importedAt waits for the key backup line of the start whose log begins at offset and returns
// its imported count and the line.
func importedAt(t *testing.T, g *gatewayProc, offset int) (string, string) {
	t.Helper()
	var m []string
	waitFor(t, "the key backup line", func() bool {
		m = restoredLine.FindStringSubmatch(logSince(t, g, offset))
		return m != nil
	})
	return m[1], m[0]
}

// A restart imports only the room keys that are new in the key backup: none when the backup
// did not change, and only the new one when another device backed up one more.
func TestE2EEBackupImportsOnlyNewKeys(t *testing.T) {
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	recoveryKey, _, room := e2eePeers(t, js, bot, alice)
	js.sendText(room, "first")
	js.do("wait_event", map[string]any{"client": "botjs", "room_id": room, "body": "first"})
	js.do("wait_backed_up", map[string]any{"client": "botjs", "count": 1})

	gwUser, err := hs.Login(testCtx(t), localpart(bot), bot.Password)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := map[string]string{
		"MATRIX_BOTS":          botJSON(gwUser, map[string]any{"recovery_key": recoveryKey, "auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "tok",
	}
	g := startGateway(t, dir, env)
	if n, line := importedAt(t, g, 0); n != "1" {
		t.Fatalf("the first start must import the one key: %s", line)
	}
	// /metrics counts the imports of this process as the log line does.
	if v := e2eeCounter(t, g, gwUser, "e2ee_backup_sessions_total", "imported"); v != 1 {
		t.Fatalf("e2ee_backup_sessions_total{direction=imported} after the first start = %v, want 1", v)
	}
	g.stop()

	off := logSize(t, dir)
	g = startGateway(t, dir, env)
	if n, line := importedAt(t, g, off); n != "0" {
		t.Fatalf("a restart with an unchanged backup must import nothing: %s", line)
	}
	if v := e2eeCounter(t, g, gwUser, "e2ee_backup_sessions_total", "imported"); v != 0 {
		t.Fatalf("e2ee_backup_sessions_total{direction=imported} after a restart that imported nothing = %v, want 0", v)
	}
	g.stop()

	// While the gateway is down another device backs up a new room key.
	js.do("discard_session", map[string]any{"client": "alice", "room_id": room})
	js.sendText(room, "second")
	js.do("wait_event", map[string]any{"client": "botjs", "room_id": room, "body": "second"})
	js.do("wait_backed_up", map[string]any{"client": "botjs", "count": 2})
	off = logSize(t, dir)
	g = startGateway(t, dir, env)
	n, line := importedAt(t, g, off)
	if n != "1" || !strings.Contains(line, "already_had=1") {
		t.Fatalf("a restart must import only the new key: %s", line)
	}
	if v := e2eeCounter(t, g, gwUser, "e2ee_backup_sessions_total", "imported"); v != 1 {
		t.Fatalf("e2ee_backup_sessions_total{direction=imported} after importing the new key = %v, want 1", v)
	}
}
