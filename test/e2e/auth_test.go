package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/harness"
)

// Token lifetimes of the Synapse the token-lifecycle tests share: access tokens expire after a
// few seconds, so the bot refreshes many times during one test.
const (
	authAccessLifetime  = "3s"
	authRefreshLifetime = "15s"
	authToken           = "auth-e2e-token"
)

// TestTokenLifecycle runs the token tests against one dedicated Synapse with short-lived,
// refreshable access tokens.
func TestTokenLifecycle(t *testing.T) {
	server := harness.SynapseForTest(t, harness.SynapseOptions{ExtraConfig: map[string]any{
		"refreshable_access_token_lifetime": authAccessLifetime,
		"refresh_token_lifetime":            authRefreshLifetime,
	}})
	t.Run("RefreshesWhileMessagesFlow", func(t *testing.T) { testRefreshesWhileMessagesFlow(t, server) })
	t.Run("RefreshFailure5xxKeepsTokens", func(t *testing.T) { testRefresh5xxKeepsTokens(t, server) })
	t.Run("SoftLogoutLogsInOnSameDevice", func(t *testing.T) { testSoftLogoutRelogin(t, server) })
	t.Run("RevokedGoesOfflineUntilLogin", func(t *testing.T) { testRevokedOfflineThenLogin(t, server) })
}

// passwordBot registers a bot account and returns it with its MATRIX_BOTS entry for password
// login on device, through homeserverURL (the server itself or a proxy in front of it).
func passwordBot(t *testing.T, server *harness.Homeserver, homeserverURL string, device string) (*harness.User, map[string]any) {
	t.Helper()
	bot, err := server.RegisterUniqueUser(testCtx(t), "bot")
	if err != nil {
		t.Fatal(err)
	}
	return bot, map[string]any{
		"homeserver": homeserverURL, "access_token": "", "login_user": bot.UserID, "login_password": bot.Password,
		"device_id": device, "auto_accept_invites": true,
	}
}

func authEnv(bots ...map[string]any) map[string]string {
	raw, _ := json.Marshal(bots)
	return map[string]string{"MATRIX_BOTS": string(raw), "GATEWAY_ACCESS_TOKEN": authToken, "MATRIX_RETRY_INTERVAL": "0.2"}
}

// roundTrip checks one message each way: the human's reaches the OneBot client (and is the
// next message it gets: none lost, none repeated), the bot's answer reaches the human.
func roundTrip(t *testing.T, g *gatewayProc, ob *obClient, h *human, bot *harness.User, room id.RoomID, text string) {
	t.Helper()
	sent := h.send(room, "ping "+text)
	if m := ob.nextMessage(); m["message_id"] != string(sent) || m["alt_message"] != "ping "+text {
		t.Fatalf("the OneBot client got %v (%v), want ping %s (%s)", m["message_id"], m["alt_message"], text, sent)
	}
	resp := g.actionV12(authToken, "send_message", map[string]any{
		"detail_type": "group", "group_id": string(room),
		"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": "pong " + text}}},
	})
	if resp["retcode"] != float64(0) {
		t.Fatalf("send_message pong %s: %v", text, resp)
	}
	h.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "pong "+text })
}

// storedTokens reads the bot's session from the gateway's database (the default token store).
func storedTokens(t *testing.T, dir, homeserver, botKey string) storage.TokenRecord {
	t.Helper()
	db, err := storage.Open(testCtx(t), filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec, err := db.Tokens().Token(testCtx(t), homeserver, botKey, "")
	if err != nil {
		t.Fatalf("no stored session: %v", err)
	}
	return rec
}

// The bot stays connected through many refreshes of its access token while messages flow both
// ways; none is lost or repeated, and the device never changes.
func testRefreshesWhileMessagesFlow(t *testing.T, server *harness.Homeserver) {
	proxy := fakes.NewFakeFaultProxy(t, server.URL())
	proxy.Watch("/refresh")
	bot, entry := passwordBot(t, server, proxy.URL, "REFRESHDEV")
	alice := humanOn(t, server, "alice")
	dir := t.TempDir()
	store := filepath.Join(dir, "tokens.json")
	env := authEnv(entry)
	env["MATRIX_TOKEN_STORE_PATH"] = store
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	ob := dialV12(t, g, authToken)

	const refreshes = 6
	i := 0
	for n, _ := proxy.Counts("/refresh"); n < refreshes || i < 3; n, _ = proxy.Counts("/refresh") {
		i++
		roundTrip(t, g, ob, alice, bot, room, fmt.Sprint(i))
	}
	t.Logf("%d messages each way over %d refreshes", i, refreshes)

	// /metrics counts every refresh the homeserver got, none failed, and the /refresh requests.
	fwd, _ := proxy.Counts("/refresh")
	okRefresh := series("token_refreshes_total", map[string]string{"bot": bot.UserID, "result": "ok"})
	hsRefresh := series("homeserver_requests_total", map[string]string{"bot": bot.UserID, "method": "POST", "status": "200",
		"endpoint": "/_matrix/client/v3/refresh"})
	var m map[string]float64
	waitFor(t, "the refreshes in /metrics", func() bool {
		_, m = scrape(t, g, authToken)
		return m[okRefresh] >= float64(fwd) && m[hsRefresh] >= float64(fwd)
	})
	if failed := m[series("token_refreshes_total", map[string]string{"bot": bot.UserID, "result": "failed"})]; failed != 0 {
		t.Errorf("/metrics shows %v failed refreshes, want 0", failed)
	}

	// The store is the seed's JSON file, private, with the refreshed session on the same device.
	info, err := os.Stat(store)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("token store mode %v, want 0600", info.Mode().Perm())
	}
	raw, _ := os.ReadFile(store)
	var file map[string]map[string]any
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("token store is not the seed's format: %v", err)
	}
	key := fmt.Sprintf(`{"homeserver": %q, "user_id": %q}`, proxy.URL, bot.UserID)
	e, ok := file[key]
	if !ok {
		t.Fatalf("token store has no entry %s", key)
	}
	if e["device_id"] != "REFRESHDEV" || e["session_type"] != "legacy_login" || e["refresh_token"] == nil || e["access_token_expires_at_ms"] == nil {
		t.Errorf("stored entry %v", redactEntry(e))
	}
	if strings.Contains(readLog(t, g), bot.Password) {
		t.Error("the password appears in the gateway's log")
	}
}

func redactEntry(e map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range e {
		if strings.HasSuffix(k, "_token") && v != nil {
			v = "…"
		}
		out[k] = v
	}
	return out
}

func readLog(t *testing.T, g *gatewayProc) string {
	t.Helper()
	b, err := os.ReadFile(g.proc.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// loginWithRefresh logs u in with refresh_token: true and returns the session.
func loginWithRefresh(t *testing.T, server *harness.Homeserver, u *harness.User) (access, refresh string, device string, expiresInMS int64) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": u.UserID},
		"password": u.Password, "refresh_token": true,
	})
	resp, err := http.Post(server.URL()+"/_matrix/client/v3/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		DeviceID     string `json:"device_id"`
		ExpiresInMS  int64  `json:"expires_in_ms"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.RefreshToken == "" {
		t.Fatalf("login with refresh_token: %d %v", resp.StatusCode, err)
	}
	return out.AccessToken, out.RefreshToken, out.DeviceID, out.ExpiresInMS
}

// A 5xx from /refresh keeps the tokens: the bot (which has no password to fall back on) keeps
// its refresh token through the failures and uses it once /refresh works again.
func testRefresh5xxKeepsTokens(t *testing.T, server *harness.Homeserver) {
	proxy := fakes.NewFakeFaultProxy(t, server.URL())
	bot, err := server.RegisterUniqueUser(testCtx(t), "bot")
	if err != nil {
		t.Fatal(err)
	}
	access, refresh, device, expiresIn := loginWithRefresh(t, server, bot)
	alice := humanOn(t, server, "alice")
	dir := t.TempDir()
	g := startGateway(t, dir, authEnv(map[string]any{
		"homeserver": proxy.URL, "user_id": bot.UserID, "access_token": access, "refresh_token": refresh,
		"access_token_expires_at_ms": time.Now().Add(time.Duration(expiresIn) * time.Millisecond).UnixMilli(),
		"device_id":                  device, "auto_accept_invites": true,
	}))
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	ob := dialV12(t, g, authToken)
	roundTrip(t, g, ob, alice, bot, room, "before")

	proxy.Fail("/refresh", http.StatusServiceUnavailable)
	waitFor(t, "two refused refreshes", func() bool { _, failed := proxy.Counts("/refresh"); return failed >= 2 })
	kept := storedTokens(t, dir, proxy.URL, bot.UserID)
	st := g.actionV12(authToken, "get_status", map[string]any{})
	bots := st["data"].(map[string]any)["bots"].([]any)
	if b := bots[0].(map[string]any); b["online"] != true {
		t.Errorf("a 5xx from /refresh showed the bot offline: %v", b)
	}
	waitFor(t, "a third refused refresh", func() bool { _, failed := proxy.Counts("/refresh"); return failed >= 3 })
	if now := storedTokens(t, dir, proxy.URL, bot.UserID); now.RefreshToken != kept.RefreshToken || now.AccessToken != kept.AccessToken {
		t.Fatal("the stored tokens changed while /refresh failed")
	}

	proxy.Pass("/refresh")
	waitFor(t, "a refresh with the kept refresh token", func() bool {
		now := storedTokens(t, dir, proxy.URL, bot.UserID)
		return now.RefreshToken != kept.RefreshToken
	})
	roundTrip(t, g, ob, alice, bot, room, "after")
	if rec := storedTokens(t, dir, proxy.URL, bot.UserID); rec.DeviceID != device {
		t.Errorf("device %s after the refresh, want %s", rec.DeviceID, device)
	}
}

// refreshExpired reports whether Synapse now refuses rt as expired. A refresh that succeeds
// makes a new token pair that is never used, so rt itself stays valid until it expires.
func refreshExpired(t *testing.T, server *harness.Homeserver, rt string) bool {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"refresh_token": rt})
	resp, err := http.Post(server.URL()+"/_matrix/client/v3/refresh", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		ErrCode string `json:"errcode"`
		Error   string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode == http.StatusForbidden && strings.Contains(e.Error, "expired")
}

// When /refresh has been failing until the refresh token expired, the access token's rejection
// carries soft_logout: the bot logs in again with its password on the same device.
func testSoftLogoutRelogin(t *testing.T, server *harness.Homeserver) {
	proxy := fakes.NewFakeFaultProxy(t, server.URL())
	bot, entry := passwordBot(t, server, proxy.URL, "SOFTDEV")
	alice := humanOn(t, server, "alice")
	dir := t.TempDir()
	g := startGateway(t, dir, authEnv(entry))
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	ob := dialV12(t, g, authToken)
	roundTrip(t, g, ob, alice, bot, room, "before")

	proxy.Fail("/refresh", http.StatusBadGateway)
	waitFor(t, "a refused refresh", func() bool { _, failed := proxy.Counts("/refresh"); return failed >= 1 })
	stale := storedTokens(t, dir, proxy.URL, bot.UserID)
	waitLong(t, "the stored refresh token to expire", 2*time.Minute, func() bool { return refreshExpired(t, server, stale.RefreshToken) })
	logins, _ := proxy.Counts("/login")
	proxy.Watch("/login")
	proxy.Pass("/refresh")

	waitFor(t, "a new session", func() bool {
		return storedTokens(t, dir, proxy.URL, bot.UserID).AccessToken != stale.AccessToken
	})
	if n, _ := proxy.Counts("/login"); n <= logins {
		t.Fatal("the session came back without a password login")
	}
	if rec := storedTokens(t, dir, proxy.URL, bot.UserID); rec.DeviceID != "SOFTDEV" || rec.SessionType != "legacy_login" {
		t.Fatalf("after the re-login: device %s, type %s; want SOFTDEV, legacy_login", rec.DeviceID, rec.SessionType)
	}
	if !strings.Contains(readLog(t, g), "logging in again with the password on the same device") {
		t.Error("the log does not say the bot logged in again")
	}
	roundTrip(t, g, ob, alice, bot, room, "after")
}

// waitLong is waitFor with its own limit, polling every half second.
func waitLong(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(limit)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
	}
}

// v11Conn is a OneBot v11 forward WebSocket client recording every frame.
type v11Conn struct {
	t      *testing.T
	frames chan map[string]any
}

func dialV11(t *testing.T, g *gatewayProc) *v11Conn {
	t.Helper()
	return &v11Conn{t: t, frames: readFrames(dialWS(t, g, "/onebot/v11/", authToken))}
}

// waitFrame returns the first frame that matches, skipping others.
func (v *v11Conn) waitFrame(what string, match func(map[string]any) bool) map[string]any {
	v.t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case f, ok := <-v.frames:
			if !ok {
				v.t.Fatalf("v11 connection closed while waiting for %s", what)
			}
			if match(f) {
				return f
			}
		case <-timeout:
			v.t.Fatalf("no %s within the deadline", what)
		}
	}
}

func lifecycle(sub string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["meta_event_type"] == "lifecycle" && f["sub_type"] == sub }
}

// A revoked session (not a soft logout) is tried once more, then the bot is shown offline to
// every OneBot client and the log says what to do; `gateway login` brings it back while the
// gateway runs.
func testRevokedOfflineThenLogin(t *testing.T, server *harness.Homeserver) {
	bot, entry := passwordBot(t, server, server.URL(), "REVOKEDEV")
	alice := humanOn(t, server, "alice")
	dir := t.TempDir()
	env := authEnv(entry)
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	ob := dialV12(t, g, authToken)
	v11 := dialV11(t, g)
	roundTrip(t, g, ob, alice, bot, room, "before")

	// Another login of the account ends every session, the bot's included.
	other, err := server.Login(testCtx(t), bot.UserID, bot.Password)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, server.URL()+"/_matrix/client/v3/logout/all", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+other.AccessToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("logout/all: %v %v", resp, err)
	}

	v11.waitFrame("lifecycle disable", lifecycle("disable"))
	hb := v11.waitFrame("a heartbeat", func(f map[string]any) bool { return f["meta_event_type"] == "heartbeat" })
	if st := hb["status"].(map[string]any); st["online"] != false || st["good"] != false {
		t.Errorf("v11 heartbeat of an offline bot: %v", st)
	}
	st := g.actionV12(authToken, "get_status", map[string]any{})
	if b := st["data"].(map[string]any)["bots"].([]any)[0].(map[string]any); b["online"] != false {
		t.Errorf("get_status of an offline bot: %v", b)
	}
	waitFor(t, "a v12 status_update with the bot offline", func() bool {
		for {
			select {
			case f := <-ob.frames:
				if f["detail_type"] == "status_update" {
					if b := f["status"].(map[string]any)["bots"].([]any)[0].(map[string]any); b["online"] == false {
						return true
					}
				}
			default:
				return false
			}
		}
	})
	log := readLog(t, g)
	if !strings.Contains(log, "the bot is offline") || !strings.Contains(log, "gateway login 0") {
		t.Errorf("the log does not tell the operator what to do:\n%s", tail(log, 20))
	}
	resp := g.actionV12(authToken, "send_message", map[string]any{
		"detail_type": "group", "group_id": string(room),
		"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": "while offline"}}},
	})
	if resp["retcode"] == float64(0) {
		t.Error("send_message succeeded while the bot is offline")
	}

	// The operator logs the bot in again from another process; the running gateway takes it.
	cmd := exec.Command(gatewayBin, "login", "0")
	for k, v := range g.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"), "HOME="+os.Getenv("HOME"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "logged in as "+bot.UserID+" on device REVOKEDEV") {
		t.Fatalf("gateway login: %v\n%s", err, out)
	}
	if strings.Contains(string(out), bot.Password) {
		t.Error("gateway login printed the password")
	}
	v11.waitFrame("lifecycle enable", lifecycle("enable"))
	roundTrip(t, g, ob, alice, bot, room, "after")
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
