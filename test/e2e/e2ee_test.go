package e2e

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/signatures"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

// jsClient drives test/clients/e2ee/client.mjs: matrix-js-sdk with the Rust crypto, an
// end-to-end encryption implementation independent of mautrix-go.
type jsClient struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	nextID int
	lines  chan map[string]any
}

func startJSClient(t *testing.T) *jsClient {
	t.Helper()
	ctx := testCtx(t)
	dir, err := harness.EnsureNodeModules(ctx, "e2ee", "test/clients/e2ee")
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(t.TempDir(), "e2ee-client.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(dir, "client.mjs"))
	cmd.Stderr = logFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &jsClient{t: t, cmd: cmd, stdin: stdin, lines: make(chan map[string]any, 16)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				c.lines <- m
			}
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("e2ee client log:\n%s", b)
		}
		logFile.Close()
	})
	if ready := c.read(); ready["ready"] != true {
		t.Fatalf("e2ee client did not start: %v", ready)
	}
	return c
}

func (c *jsClient) read() map[string]any {
	c.t.Helper()
	select {
	case m, ok := <-c.lines:
		if !ok {
			c.t.Fatal("the e2ee client exited")
		}
		return m
	case <-testCtx(c.t).Done():
		c.t.Fatal("the e2ee client did not answer in time")
	}
	return nil
}

// do runs one command and returns its answer; a failed command fails the test.
func (c *jsClient) do(cmd string, args map[string]any) map[string]any {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	req := map[string]any{"id": c.nextID, "cmd": cmd}
	for k, v := range args {
		req[k] = v
	}
	b, _ := json.Marshal(req)
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		c.t.Fatal(err)
	}
	resp := c.read()
	if resp["ok"] != true {
		c.t.Fatalf("e2ee client %s: %v", cmd, resp["error"])
	}
	return resp
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// olmSessions counts the gateway's Olm sessions with the device whose identity key is key.
func olmSessions(t *testing.T, dbPath, key string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM crypto_olm_session WHERE sender_key = ?`, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// segData finds the first segment of a type in a v12 message event.
func segData(msg map[string]any, typ string) map[string]any {
	segs, _ := msg["message"].([]any)
	for _, s := range segs {
		seg, _ := s.(map[string]any)
		if seg["type"] == typ {
			d, _ := seg["data"].(map[string]any)
			return d
		}
	}
	return nil
}

// tinyPNG is a 1×1 PNG.
var tinyPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")

// An encrypted room works like a plain one, against matrix-js-sdk's Rust crypto as the other
// side: a message sent before the gateway's device existed is decrypted from the key backup that
// the other client created (with cross-signing and the recovery key); text and an image arrive
// decrypted at the OneBot client; the bot's text, image and reaction reach the user encrypted and
// decrypt; the device is cross-signed; new room keys go to the backup; a restart keeps the Olm
// sessions (the user's next room key is decrypted over the old one, no new Olm session).
func TestE2EEWithIndependentClient(t *testing.T) {
	js := startJSClient(t)
	bot := newBotUser(t)
	alice := newBotUser(t) // any registered user with a password

	// The bot's account gets cross-signing, secret storage and a key backup from another device.
	js.do("login", map[string]any{"client": "botjs", "homeserver": hs.URL(), "user": localpart(bot), "password": bot.Password})
	boot := js.do("bootstrap", map[string]any{"client": "botjs"})
	recoveryKey := str(boot, "recovery_key")
	if recoveryKey == "" || str(boot, "backup_version") == "" {
		t.Fatalf("bootstrap gave no recovery key or backup: %v", boot)
	}
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	aliceKeys := js.do("identity", map[string]any{"client": "alice"})
	room := str(js.do("create_room", map[string]any{"client": "alice", "invite": []string{bot.UserID}, "encrypted": true}), "room_id")
	js.do("join", map[string]any{"client": "botjs", "room_id": room})
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})

	// Before the gateway's device exists: only the bot's other device gets this room key.
	before := str(js.do("send", map[string]any{"client": "alice", "room_id": room, "content": map[string]any{"msgtype": "m.text", "body": "sent before the gateway"}}), "event_id")
	js.do("wait_event", map[string]any{"client": "botjs", "room_id": room, "body": "sent before the gateway"})
	js.do("wait_backed_up", map[string]any{"client": "botjs"})

	// The gateway gets a device of its own and the recovery key.
	gwUser, err := hs.Login(testCtx(t), localpart(bot), bot.Password)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := map[string]string{
		"MATRIX_BOTS":              botJSON(gwUser, map[string]any{"recovery_key": recoveryKey, "auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN":     "tok",
		"MATRIX_HANDLE_OLD_EVENTS": "true",
	}
	g := startGateway(t, dir, env)
	ob := dialV12(t, g, "tok")

	msg := ob.nextMessage()
	if msg["message_id"] != before || msg["alt_message"] != "sent before the gateway" {
		t.Fatalf("the message sent before the gateway existed, decrypted from the backup: got %v", msg)
	}

	// The device is cross-signed with the keys from secret storage: other users see it verified.
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})
	status := js.do("device_status", map[string]any{"client": "alice", "user_id": bot.UserID, "device_id": gwUser.DeviceID})
	if status["signed_by_owner"] != true {
		t.Errorf("other users must see the gateway's device signed by its owner: %v", status)
	}
	status = js.do("device_status", map[string]any{"client": "botjs", "user_id": bot.UserID, "device_id": gwUser.DeviceID})
	if status["cross_signing_verified"] != true {
		t.Errorf("the bot's other device must see the gateway's device verified: %v", status)
	}

	// Text and an image from the user arrive decrypted.
	hello := str(js.do("send", map[string]any{"client": "alice", "room_id": room, "content": map[string]any{"msgtype": "m.text", "body": "hello encrypted"}}), "event_id")
	msg = ob.nextMessage()
	if msg["message_id"] != hello || msg["alt_message"] != "hello encrypted" {
		t.Fatalf("want the decrypted text, got %v", msg)
	}
	js.do("send_image", map[string]any{"client": "alice", "room_id": room, "data_base64": base64.StdEncoding.EncodeToString(tinyPNG)})
	msg = ob.nextMessage()
	img := segData(msg, "image")
	if img == nil {
		t.Fatalf("want an image segment, got %v", msg)
	}
	got := g.actionV12("tok", "get_file", map[string]any{"file_id": img["file_id"], "type": "data"})
	data, _ := got["data"].(map[string]any)
	if raw, _ := base64.StdEncoding.DecodeString(str(data, "data")); !bytes.Equal(raw, tinyPNG) {
		t.Fatalf("get_file must return the decrypted image: %v", got)
	}

	// The bot answers with text, an image and a reaction; the user decrypts all three.
	r := g.actionV12("tok", "send_message", map[string]any{"detail_type": "group", "group_id": room,
		"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": "reply from the bot"}}}})
	if r["status"] != "ok" {
		t.Fatalf("send_message: %v", r)
	}
	ev := js.do("wait_event", map[string]any{"client": "alice", "room_id": room, "sender": bot.UserID, "body": "reply from the bot"})
	if ev["wire_type"] != "m.room.encrypted" || ev["decryption_failure"] == true {
		t.Fatalf("the bot's text must be encrypted and decryptable: %v", ev)
	}
	r = g.actionV12("tok", "send_message", map[string]any{"detail_type": "group", "group_id": room,
		"message": []any{map[string]any{"type": "image", "data": map[string]any{"file_id": img["file_id"]}}}})
	if r["status"] != "ok" {
		t.Fatalf("send_message image: %v", r)
	}
	ev = js.do("wait_event", map[string]any{"client": "alice", "room_id": room, "sender": bot.UserID, "type": "m.room.message", "msgtype": "m.image"})
	content, _ := ev["content"].(map[string]any)
	if ev["wire_type"] != "m.room.encrypted" || content["file"] == nil {
		t.Fatalf("the bot's image must be an encrypted event with an encrypted attachment: %v", ev)
	}
	dl := js.do("download", map[string]any{"client": "alice", "content": content})
	if raw, _ := base64.StdEncoding.DecodeString(str(dl, "data_base64")); !bytes.Equal(raw, tinyPNG) {
		t.Fatalf("the user must decrypt the bot's image to the same bytes")
	}
	r = g.actionV12("tok", "matrix.react", map[string]any{"message_id": hello, "key": "👍", "encrypted": true}) // unencrypted by default
	if r["status"] != "ok" {
		t.Fatalf("matrix.react: %v", r)
	}
	ev = js.do("wait_event", map[string]any{"client": "alice", "room_id": room, "sender": bot.UserID, "type": "m.reaction"})
	wire, _ := ev["wire_content"].(map[string]any)
	rel, _ := wire["m.relates_to"].(map[string]any)
	if ev["wire_type"] != "m.room.encrypted" || rel["event_id"] != hello {
		t.Fatalf("the reaction must be encrypted with m.relates_to outside the ciphertext: %v", ev)
	}

	// New inbound room keys are uploaded to the backup.
	cli, err := hs.Client(gwUser)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's room key in the backup", func() bool {
		keys, err := cli.GetKeyBackup(testCtx(t), id.KeyBackupVersion(str(boot, "backup_version")))
		return err == nil && len(keys.Rooms[id.RoomID(room)].Sessions) >= 1
	})

	// Restart: the Olm session with alice's device survives; her next room key uses it.
	dbPath := filepath.Join(dir, "gateway.db")
	olmBefore := olmSessions(t, dbPath, str(aliceKeys, "curve25519"))
	if olmBefore == 0 {
		t.Fatal("no Olm session with alice's device before the restart")
	}
	g.stop()
	g = startGateway(t, dir, env)
	ob = dialV12(t, g, "tok")
	js.do("discard_session", map[string]any{"client": "alice", "room_id": room})
	after := str(js.do("send", map[string]any{"client": "alice", "room_id": room, "content": map[string]any{"msgtype": "m.text", "body": "after the restart"}}), "event_id")
	msg = ob.nextMessage()
	if msg["message_id"] != after || msg["alt_message"] != "after the restart" {
		t.Fatalf("want the message after the restart decrypted, got %v", msg)
	}
	if n := olmSessions(t, dbPath, str(aliceKeys, "curve25519")); n != olmBefore {
		t.Fatalf("Olm sessions with alice's device: %d before the restart, %d after (a new one was created)", olmBefore, n)
	}
}

// Restarts keep the device and its keys: 100 restarts of the binary, 0 new devices, the same
// identity key on the server.
func TestE2EERestartsKeepTheDevice(t *testing.T) {
	bot := newBotUser(t)
	cli, err := hs.Client(bot)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := map[string]string{"MATRIX_BOTS": botJSON(bot, nil), "MATRIX_SYNC_TIMEOUT": "0"}
	identity := func() id.Ed25519 {
		resp, err := cli.QueryKeys(testCtx(t), &mautrix.ReqQueryKeys{DeviceKeys: map[id.UserID]mautrix.DeviceIDList{id.UserID(bot.UserID): {}}})
		if err != nil {
			t.Fatal(err)
		}
		keys := resp.DeviceKeys[id.UserID(bot.UserID)][id.DeviceID(bot.DeviceID)]
		return keys.Keys.GetEd25519(id.DeviceID(bot.DeviceID))
	}
	devices := func() int {
		resp, err := cli.GetDevicesInfo(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Devices)
	}
	g := startGateway(t, dir, env)
	g.stop()
	key, before := identity(), devices()
	if key == "" {
		t.Fatal("the gateway uploaded no device keys")
	}
	for i := range 100 {
		g := startGateway(t, dir, env)
		g.stop()
		if i%25 == 24 {
			if k := identity(); k != key {
				t.Fatalf("restart %d: the device's identity key changed from %s to %s", i+1, key, k)
			}
		}
	}
	if n := devices(); n != before {
		t.Fatalf("100 restarts made %d new devices", n-before)
	}
	if k := identity(); k != key {
		t.Fatalf("the device's identity key changed from %s to %s", key, k)
	}
}

// e2eeRoom is a new bot with E2EE on, alice in a room with it that it has joined, its gateway
// (started from env in dir, to be restarted the same way) and a v12 client of it.
type e2eeRoom struct {
	bot  *harness.User
	h    *human
	room id.RoomID
	dir  string
	env  map[string]string
	g    *gatewayProc
	ob   *obClient
}

// startE2EERoom starts an e2eeRoom whose gateway holds an undecryptable event for wait
// (GATEWAY_UNDECRYPTABLE_WAIT) and syncs with a 1 s long poll.
func startE2EERoom(t *testing.T, wait string) e2eeRoom {
	t.Helper()
	r := e2eeRoom{bot: newBotUser(t), h: newHuman(t, "alice"), dir: t.TempDir()}
	r.room = r.h.roomWith(r.bot, false)
	r.env = map[string]string{
		"MATRIX_BOTS":                botJSON(r.bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN":       "tok",
		"GATEWAY_UNDECRYPTABLE_WAIT": wait,
		"MATRIX_SYNC_TIMEOUT":        "1000",
	}
	r.g = startGateway(t, r.dir, r.env)
	r.ob = dialV12(t, r.g, "tok")
	r.h.waitJoined(r.room, r.bot)
	return r
}

// An event whose room key never arrives is held (the sync moves on), kept across a restart, and
// after GATEWAY_UNDECRYPTABLE_WAIT delivered as a message marked undecryptable, never dropped.
func TestE2EEUndecryptableIsDeliveredMarked(t *testing.T) {
	s := startE2EERoom(t, "1h")
	h, room, dir, env, g, ob := s.h, s.room, s.dir, s.env, s.g, s.ob
	// A well-formed Megolm event of a session nobody will ever share with the bot.
	keyless := sendKeyless(t, h.cli, room, 0x6b)
	const holding = "holding an event until its room key arrives"
	ev := string(keyless)
	waitFor(t, "the gateway to hold the event", func() bool { return len(logLines(readLog(t, g), holding, ev)) == 1 })
	if line := logLines(readLog(t, g), holding, ev)[0]; !strings.Contains(line, "e2ee.held=1") || !strings.Contains(line, "e2ee.undecryptable=0") {
		t.Fatalf("the counters must show the event held: %s", line)
	}
	// Held, not delivered: a plain message sent after it arrives first.
	plain := h.send(room, "plain after the held one")
	if msg := ob.nextMessage(); msg["message_id"] != string(plain) {
		t.Fatalf("want the plain message while the encrypted one is held, got %v", msg)
	}

	// A restart while it is held keeps it; with a short wait it is then delivered marked.
	g.stop()
	env["GATEWAY_UNDECRYPTABLE_WAIT"] = "2s"
	g = startGateway(t, dir, env)
	ob = dialV12(t, g, "tok")
	msg := ob.nextMessage()
	if msg["message_id"] != ev || msg["matrix.msgtype"] != "m.bad.encrypted" {
		t.Fatalf("want the held event delivered marked undecryptable, got %v", msg)
	}
	const delivered = "delivered an event as undecryptable"
	waitFor(t, "the delivery logged", func() bool { return len(logLines(readLog(t, g), delivered, ev)) == 1 })
	if line := logLines(readLog(t, g), delivered, ev)[0]; !strings.Contains(line, "e2ee.undecryptable=1") {
		t.Fatalf("the counters must show the event delivered undecryptable: %s", line)
	}
	if n := len(logLines(readLog(t, g), holding, ev)); n != 1 {
		t.Fatalf("after the restart the event must come from the database, not be held again (held %d times)", n)
	}
}

// A token whose device already has keys from another client gives one clear error that says
// what to do; the process keeps running (no crash loop) and the bot is shown stopped.
func TestE2EECopiedTokenIsOneClearError(t *testing.T) {
	bot := newBotUser(t)
	cli, err := hs.Client(bot)
	if err != nil {
		t.Fatal(err)
	}
	// Another client's keys for the bot's device (their content does not matter to the server).
	_, err = cli.UploadKeys(testCtx(t), &mautrix.ReqUploadKeys{DeviceKeys: &mautrix.DeviceKeys{
		UserID: id.UserID(bot.UserID), DeviceID: id.DeviceID(bot.DeviceID),
		Algorithms: []id.Algorithm{id.AlgorithmOlmV1, id.AlgorithmMegolmV1},
		Keys: map[id.DeviceKeyID]string{
			id.NewDeviceKeyID(id.KeyAlgorithmEd25519, id.DeviceID(bot.DeviceID)):    "aGVsbG9oZWxsb2hlbGxvaGVsbG9oZWxsb2hlbGxvaGVsbG8",
			id.NewDeviceKeyID(id.KeyAlgorithmCurve25519, id.DeviceID(bot.DeviceID)): "aGVsbG9oZWxsb2hlbGxvaGVsbG9oZWxsb2hlbGxvaGVsbG8",
		},
		Signatures: signatures.NewSingleSignature(id.UserID(bot.UserID), id.KeyAlgorithmEd25519, bot.DeviceID, "c2lnbmF0dXJl"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listen := freeAddr(t)
	environ := []string{"MATRIX_BOTS=" + botJSON(bot, nil), "GATEWAY_LISTEN=" + listen,
		"GATEWAY_DATABASE=" + filepath.Join(dir, "gateway.db"), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	proc, err := harness.StartProcess(harness.ProcessOptions{Name: "gateway", Path: gatewayBin, Env: environ, Dir: dir, LogPath: filepath.Join(dir, "gateway.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Stop() })
	const want = "was set up by another client"
	waitFor(t, "the error about the copied token", func() bool { return strings.Contains(proc.LogTail(100), want) })
	// The bot is reported stopped with the reason, and the error is not repeated.
	waitFor(t, "readyz to show the reason", func() bool {
		resp, err := http.Get("http://" + listen + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(b), want)
	})
	errorLines := 0
	for _, line := range strings.Split(proc.LogTail(200), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, want) {
			errorLines++
		}
	}
	if errorLines != 1 {
		t.Fatalf("the error was logged %d times, want once:\n%s", errorLines, proc.LogTail(40))
	}
	select {
	case <-proc.Done():
		t.Fatal("the gateway exited; it must keep running and report the bot stopped")
	default:
	}
}
