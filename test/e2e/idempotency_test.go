package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	_ "github.com/matrix-onebot/gateway/internal/storage" // the sqlite3 driver
)

// countBodies counts the messages from sender in room whose body is text, as h reads the
// room's history from the homeserver.
func (h *human) countBodies(room id.RoomID, sender, text string) int {
	h.t.Helper()
	resp, err := h.cli.Messages(testCtx(h.t), room, "", "", mautrix.DirectionBackward, nil, 200)
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, evt := range resp.Chunk {
		if evt.Type != event.EventMessage || string(evt.Sender) != sender {
			continue
		}
		_ = evt.Content.ParseRaw(evt.Type)
		if c, ok := evt.Content.Parsed.(*event.MessageEventContent); ok && c.Body == text {
			n++
		}
	}
	return n
}

// forgetSendResults makes the gateway's database look as if it had stopped after the
// homeserver posted each keyed send but before the gateway recorded the answer (a crash, a lost
// connection): only the transaction IDs stay.
func forgetSendResults(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE gateway_send_txn SET event_id = '', room_id = '', sent_ms = 0`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatal("no keyed send was recorded")
	}
}

// A send retried with the same idempotency key (v12 matrix.txn_id, v11 matrix_txn_id) is posted
// once and answers the first message's ID: at once, after a restart, and after a restart that
// lost the first answer (the stored Matrix transaction ID makes Synapse answer the first event).
// The same key for another message is refused.
func TestSendIdempotencyKey(t *testing.T) {
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	dir := t.TempDir()
	env := map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
	}
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	groupID := actionV11(t, g, "e2e-token", "get_group_list", nil)["data"].([]any)[0].(map[string]any)["group_id"]

	send12 := func(key, text string) map[string]any {
		return g.actionV12("e2e-token", "send_message", map[string]any{"detail_type": "group", "group_id": room,
			"message": textMsg(text), "matrix.txn_id": key})
	}
	send11 := func(key any, text string) map[string]any {
		return actionV11(t, g, "e2e-token", "send_group_msg", map[string]any{"group_id": groupID, "message": text,
			"auto_escape": true, "matrix_txn_id": key})
	}
	first := send12("k-v12", "once v12")
	again := send12("k-v12", "once v12")
	if first["retcode"] != float64(0) || again["retcode"] != float64(0) {
		t.Fatalf("keyed sends: %v / %v", first, again)
	}
	id12 := first["data"].(map[string]any)["message_id"]
	if again["data"].(map[string]any)["message_id"] != id12 || again["data"].(map[string]any)["time"] != first["data"].(map[string]any)["time"] {
		t.Fatalf("a retry answered another message: %v, then %v", first["data"], again["data"])
	}
	first11, again11 := send11(4711, "once v11"), send11("4711", "once v11")
	if first11["retcode"] != float64(0) || again11["retcode"] != float64(0) || again11["data"].(map[string]any)["message_id"] != first11["data"].(map[string]any)["message_id"] {
		t.Fatalf("v11 keyed sends: %v / %v", first11, again11)
	}
	// Another message under a used key is refused, and nothing is posted.
	if resp := send12("k-v12", "something else"); resp["retcode"] != float64(10003) {
		t.Fatalf("reused key: %v", resp)
	}
	if resp := send11(4711, "something else"); resp["retcode"] != float64(1400) {
		t.Fatalf("reused v11 key: %v", resp)
	}
	// Without a key, a send is a new message each time (the key is what makes a retry one).
	send12("", "twice")
	send12("", "twice")

	// After a restart the stored answers come back.
	g.stop()
	g = startGateway(t, dir, env)
	if resp := send12("k-v12", "once v12"); resp["retcode"] != float64(0) || resp["data"].(map[string]any)["message_id"] != id12 {
		t.Fatalf("retry after a restart: %v, want message %v", resp, id12)
	}

	// After a restart that lost the answers, the retry sends with the stored transaction ID and
	// the homeserver answers the event it posted the first time.
	g.stop()
	forgetSendResults(t, dir)
	g = startGateway(t, dir, env)
	if resp := send12("k-v12", "once v12"); resp["retcode"] != float64(0) || resp["data"].(map[string]any)["message_id"] != id12 {
		t.Fatalf("retry after a lost answer: %v, want message %v", resp, id12)
	}
	if resp := send11(4711, "once v11"); resp["retcode"] != float64(0) || resp["data"].(map[string]any)["message_id"] != first11["data"].(map[string]any)["message_id"] {
		t.Fatalf("v11 retry after a lost answer: %v, want %v", resp, first11["data"])
	}

	// matrix.react takes a key too (txn_id): a retried reaction answers the first one.
	hers := alice.send(room, "react to me")
	react := func() map[string]any {
		return g.actionV12("e2e-token", "matrix.react", map[string]any{"group_id": room, "message_id": hers, "key": "👀", "txn_id": "r1"})
	}
	r1, r2 := react(), react()
	if r1["retcode"] != float64(0) || r2["retcode"] != float64(0) || r1["data"].(map[string]any)["message_id"] != r2["data"].(map[string]any)["message_id"] {
		t.Fatalf("keyed reactions: %v / %v", r1, r2)
	}

	for text, want := range map[string]int{"once v12": 1, "once v11": 1, "something else": 0, "twice": 2} {
		if n := alice.countBodies(room, bot.UserID, text); n != want {
			t.Errorf("%q posted %d times, want %d", text, n, want)
		}
	}
}

// matrixCall makes one Client-Server API call with token and decodes the answer into out.
func matrixCall(t *testing.T, method, path, token string, body any, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, hs.URL()+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// What idempotent sends rely on: Synapse remembers a transaction ID per user and device, not per
// access token, so a send retried with the same transaction ID after the gateway refreshed its
// token (same device, new access token) is answered with the first event and posted once.
func TestSynapseDedupesTransactionsAcrossARefreshedToken(t *testing.T) {
	u := newBotUser(t)
	access, refresh, _, _ := loginWithRefresh(t, hs, u)
	var room struct {
		RoomID string `json:"room_id"`
	}
	matrixCall(t, http.MethodPost, "/_matrix/client/v3/createRoom", access, map[string]any{"preset": "private_chat"}, &room)
	send := func(token, body string) string {
		var out struct {
			EventID string `json:"event_id"`
		}
		matrixCall(t, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(room.RoomID)+"/send/m.room.message/onebot_refresh_check",
			token, map[string]any{"msgtype": "m.text", "body": body}, &out)
		return out.EventID
	}
	first := send(access, "first try")
	var renewed struct {
		AccessToken string `json:"access_token"`
	}
	matrixCall(t, http.MethodPost, "/_matrix/client/v3/refresh", "", map[string]any{"refresh_token": refresh}, &renewed)
	if renewed.AccessToken == "" || renewed.AccessToken == access {
		t.Fatalf("refresh gave no new access token: %+v", renewed)
	}
	if again := send(renewed.AccessToken, "retry"); again != first {
		t.Fatalf("the same transaction after a refresh posted %s, the first was %s", again, first)
	}
}
