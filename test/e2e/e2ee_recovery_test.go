package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

func localpart(u *harness.User) string {
	return strings.TrimPrefix(strings.SplitN(u.UserID, ":", 2)[0], "@")
}

// e2eePeers logs the bot in on another device of the JS client (which sets up cross-signing,
// secret storage and a key backup, and returns the recovery key), logs alice in, and creates an
// encrypted room of alice's with the bot joined.
func e2eePeers(t *testing.T, js *jsClient, bot, alice *harness.User) (recoveryKey, backupVersion, room string) {
	t.Helper()
	js.do("login", map[string]any{"client": "botjs", "homeserver": hs.URL(), "user": localpart(bot), "password": bot.Password})
	boot := js.do("bootstrap", map[string]any{"client": "botjs"})
	recoveryKey, backupVersion = str(boot, "recovery_key"), str(boot, "backup_version")
	if recoveryKey == "" || backupVersion == "" {
		t.Fatalf("bootstrap gave no recovery key or backup: %v", boot)
	}
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	room = str(js.do("create_room", map[string]any{"client": "alice", "invite": []string{bot.UserID}, "encrypted": true}), "room_id")
	js.do("join", map[string]any{"client": "botjs", "room_id": room})
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})
	return recoveryKey, backupVersion, room
}

func (js *jsClient) sendText(room, body string) string {
	js.t.Helper()
	return str(js.do("send", map[string]any{"client": "alice", "room_id": room, "content": map[string]any{"msgtype": "m.text", "body": body}}), "event_id")
}

// wantDecrypted fails unless msg is the message id with the text body, decrypted.
func wantDecrypted(t *testing.T, msg map[string]any, id, body string) {
	t.Helper()
	if msg["message_id"] != id || msg["alt_message"] != body || msg["matrix.msgtype"] == "m.bad.encrypted" {
		t.Fatalf("want %s decrypted (%q), got %v", id, body, msg)
	}
}

// storedDevice reads the bot's device from the seed-format token store file.
func storedDevice(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var entries map[string]map[string]any
	if err := json.Unmarshal(b, &entries); err != nil || len(entries) != 1 {
		t.Fatalf("token store: %v, %d entries", err, len(entries))
	}
	for _, e := range entries {
		return str(e, "device_id")
	}
	return ""
}

// A lost crypto store (the database and its pickle key are gone; the token store file survives,
// so the bot comes back on its old device, whose keys it no longer has) is recovered without the
// operator: with login_user/login_password and the recovery key the gateway logs in as a new
// device, has it cross-signed, restores the room keys from the backup, and says so. Messages sent
// before the loss and while the gateway was down decrypt, and so do new ones.
func TestE2EELostStoreRecoversOnNewDevice(t *testing.T) {
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	recoveryKey, _, room := e2eePeers(t, js, bot, alice)

	dir, storeDir := t.TempDir(), t.TempDir()
	tokenStore := filepath.Join(storeDir, "tokens.json")
	raw, _ := json.Marshal([]any{map[string]any{
		"homeserver": hs.URL(), "user_id": bot.UserID, "login_user": bot.UserID, "login_password": bot.Password,
		"recovery_key": recoveryKey, "auto_accept_invites": true,
	}})
	env := map[string]string{
		"MATRIX_BOTS": string(raw), "MATRIX_TOKEN_STORE_PATH": tokenStore,
		"GATEWAY_ACCESS_TOKEN": "tok", "MATRIX_HANDLE_OLD_EVENTS": "true",
	}
	g := startGateway(t, dir, env)
	ob := dialV12(t, g, "tok")
	oldDevice := storedDevice(t, tokenStore)
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})
	first := js.sendText(room, "before the loss")
	wantDecrypted(t, ob.nextMessage(), first, "before the loss")
	g.stop()

	// The data directory is lost: the database (with the crypto store) and the pickle key.
	for _, f := range []string{"gateway.db", "gateway.db-wal", "gateway.db-shm", "gateway.db.pickle-key"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "gateway.db")); !os.IsNotExist(err) {
		t.Fatalf("the database is still there: %v", err)
	}
	// Sent while the gateway is down: its key reaches only the lost device and the bot's other
	// device (which backs it up).
	during := js.sendText(room, "while the store was lost")
	js.do("wait_event", map[string]any{"client": "botjs", "room_id": room, "body": "while the store was lost"})

	g = startGateway(t, dir, env)
	ob = dialV12(t, g, "tok")
	newDevice := storedDevice(t, tokenStore)
	if newDevice == "" || newDevice == oldDevice {
		t.Fatalf("the token store must hold a new device: old %s, now %s", oldDevice, newDevice)
	}
	re := regexp.MustCompile(`level=WARN msg="crypto store lost: logged in as new device ` + regexp.QuoteMeta(newDevice) + ` and restored (\d+) keys from the backup"`)
	m := re.FindStringSubmatch(readLog(t, g))
	if m == nil {
		t.Fatalf("the gateway must say it recovered on device %s:\n%s", newDevice, tail(readLog(t, g), 4000))
	}
	t.Logf("%s", m[0])
	if m[1] == "0" {
		t.Fatalf("no keys restored from the backup: %s", m[0])
	}
	// The old messages decrypt with keys from the backup (the database with the sync position
	// was lost, so MATRIX_HANDLE_OLD_EVENTS hands them over again).
	got := map[string]map[string]any{}
	for len(got) < 2 {
		msg := ob.nextMessage()
		got[str(msg, "message_id")] = msg
	}
	wantDecrypted(t, got[first], first, "before the loss")
	wantDecrypted(t, got[during], during, "while the store was lost")
	// The new device is cross-signed and gets new room keys.
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})
	status := js.do("device_status", map[string]any{"client": "alice", "user_id": bot.UserID, "device_id": newDevice})
	if status["signed_by_owner"] != true {
		t.Errorf("alice must see the new device signed by its owner: %v", status)
	}
	after := js.sendText(room, "after the recovery")
	wantDecrypted(t, ob.nextMessage(), after, "after the recovery")

	// Another restart keeps the new device: no second recovery.
	g.stop()
	g = startGateway(t, dir, env)
	if d := storedDevice(t, tokenStore); d != newDevice {
		t.Fatalf("the restart moved the bot from %s to %s", newDevice, d)
	}
	if log := readLog(t, g); strings.Count(log, "crypto store lost: logged in") != 1 {
		t.Fatalf("a restart after the recovery must not recover again:\n%s", tail(log, 3000))
	}
}

// logLines returns the lines of a gateway log with message msg about the event evID.
func logLines(log, msg, evID string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `msg="`+msg+`"`) && strings.Contains(l+" ", " event_id="+evID+" ") {
			out = append(out, l)
		}
	}
	return out
}

// backupSession does one request on a room key in the bot's key backup.
func backupSession(t *testing.T, cli *mautrix.Client, method, version, room, session string, body any) (map[string]any, error) {
	t.Helper()
	var out map[string]any
	u := cli.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "room_keys", "keys", room, session}, map[string]string{"version": version})
	_, err := cli.MakeRequest(testCtx(t), method, u, body, &out)
	return out, err
}

// An event whose room key the gateway did not get is held, and delivered decrypted, once, when
// the key reaches the key backup later (another device of the bot uploads it): the message is
// sent before the gateway's device exists, and its key is kept out of the backup until the
// gateway has held the event.
func TestE2EEHeldEventDeliveredWhenKeyArrives(t *testing.T) {
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	recoveryKey, version, room := e2eePeers(t, js, bot, alice)
	held := js.sendText(room, "held until its key arrives")
	js.do("wait_event", map[string]any{"client": "botjs", "room_id": room, "body": "held until its key arrives"})

	gwUser, err := hs.Login(testCtx(t), localpart(bot), bot.Password)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := hs.Client(gwUser)
	if err != nil {
		t.Fatal(err)
	}
	evt, err := cli.GetEvent(testCtx(t), id.RoomID(room), id.EventID(held))
	if err != nil {
		t.Fatal(err)
	}
	session, _ := evt.Content.Raw["session_id"].(string)
	// The bot's other device backs the key up; take it out until the gateway holds the event.
	var saved map[string]any
	waitFor(t, "the room key in the backup", func() bool {
		saved, err = backupSession(t, cli, http.MethodGet, version, room, session, nil)
		return err == nil
	})
	if _, err := backupSession(t, cli, http.MethodDelete, version, room, session, nil); err != nil {
		t.Fatal(err)
	}

	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":                botJSON(gwUser, map[string]any{"recovery_key": recoveryKey, "auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN":       "tok",
		"MATRIX_HANDLE_OLD_EVENTS":   "true",
		"GATEWAY_UNDECRYPTABLE_WAIT": "10m",
	})
	ob := dialV12(t, g, "tok")
	const holding = "holding an event until its room key arrives"
	waitFor(t, "the gateway to hold the event", func() bool { return len(logLines(readLog(t, g), holding, held)) == 1 })
	if log := readLog(t, g); strings.Contains(log, "decrypted a held event") || strings.Contains(log, "as undecryptable") {
		t.Fatalf("the event must still be held:\n%s", tail(log, 3000))
	}

	// The key arrives in the backup; the gateway finds it there and hands the event over.
	if _, err := backupSession(t, cli, http.MethodPut, version, room, session, saved); err != nil {
		t.Fatal(err)
	}
	wantDecrypted(t, ob.nextMessage(), held, "held until its key arrives")
	// The line is written after the event was handed over.
	waitFor(t, "the delivery logged", func() bool { return len(logLines(readLog(t, g), "decrypted a held event", held)) > 0 })
	log := readLog(t, g)
	lines := logLines(log, "decrypted a held event", held)
	if len(lines) != 1 || len(logLines(log, holding, held)) != 1 {
		t.Fatalf("want one hold and one delivery logged:\n%s", tail(log, 3000))
	}
	if !strings.Contains(lines[0], "e2ee.held=1 e2ee.recovered=1 e2ee.undecryptable=0") {
		t.Fatalf("the counters must show one event held and recovered: %s", lines[0])
	}
	if !regexp.MustCompile(`msg="a held event's room key arrived in the key backup" .*session_id=` + regexp.QuoteMeta(session) + `\n`).MatchString(log) {
		t.Fatalf("the key must have come from the backup:\n%s", tail(log, 3000))
	}
	// Exactly once: the next message is the next one alice sends.
	next := js.sendText(room, "the next one")
	wantDecrypted(t, ob.nextMessage(), next, "the next one")
}

// Without a recovery key a lost crypto store is not recovered: the bot stays on its device and
// is stopped with one clear error that says what to do.
func TestE2EELostStoreWithoutRecoveryKeyIsOneClearError(t *testing.T) {
	lostWithoutRecoveryKey(t, func(dir string) {
		for _, f := range []string{"gateway.db", "gateway.db-wal", "gateway.db-shm", "gateway.db.pickle-key"} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
	}, "the crypto store of this device is lost: device ", "recovery_key") // ErrStoreLost, with what to do
}

// lostWithoutRecoveryKey starts a password bot without a recovery key, stops it, loses its crypto
// state with lose, and starts it again: the error (want) is logged, /readyz shows the bot stopped
// naming every one of readyzWants, and the bot stays on its device. It returns the gateway.
func lostWithoutRecoveryKey(t *testing.T, lose func(dir string), want string, readyzWants ...string) *gatewayProc {
	t.Helper()
	bot := newBotUser(t)
	dir := t.TempDir()
	tokenStore := filepath.Join(t.TempDir(), "tokens.json")
	raw, _ := json.Marshal([]any{map[string]any{
		"homeserver": hs.URL(), "user_id": bot.UserID, "login_user": bot.UserID, "login_password": bot.Password,
	}})
	env := map[string]string{"MATRIX_BOTS": string(raw), "MATRIX_TOKEN_STORE_PATH": tokenStore}
	g := startGateway(t, dir, env)
	device := storedDevice(t, tokenStore)
	g.stop()
	lose(dir)

	g = launchGateway(t, dir, env)
	waitFor(t, "the error: "+want, func() bool { return strings.Contains(readLog(t, g), want) })
	waitFor(t, "readyz to show the bot stopped with what to set", func() bool {
		resp, err := http.Get(g.url + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, w := range readyzWants {
			if !strings.Contains(string(b), w) {
				return false
			}
		}
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if d := storedDevice(t, tokenStore); d != device {
		t.Fatalf("without a recovery key the bot must stay on %s, not move to %s", device, d)
	}
	if strings.Contains(readLog(t, g), "logging in as a new device") {
		t.Fatal("no new device without a recovery key")
	}
	return g
}
