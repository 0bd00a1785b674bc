package e2e

import (
	"database/sql"
	"testing"

	"github.com/matrix-onebot/gateway/test/harness/postgres"
)

// End-to-end encryption with GATEWAY_DATABASE=postgres://… (a throwaway cluster): mautrix's crypto
// store lives in PostgreSQL. The bot decrypts alice's message and its reply reaches her
// encrypted; after a restart (the same device, its Olm and Megolm sessions read back from
// PostgreSQL) it decrypts her next message in the same session and replies encrypted again.
func TestE2EEOnPostgres(t *testing.T) {
	db := postgres.ForTest(t).DatabaseForTest(t)
	js := startJSClient(t)
	bot, alice := newBotUser(t), newBotUser(t)
	js.do("login", map[string]any{"client": "alice", "homeserver": hs.URL(), "user": localpart(alice), "password": alice.Password})
	room := encryptedRoomFor(js, bot)
	dir := t.TempDir()
	env := map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "tok",
		"GATEWAY_DATABASE":     db,
		"GATEWAY_PICKLE_KEY":   "e2e-pickle-key-for-postgres",
	}
	g := startGateway(t, dir, env)
	js.do("wait_member", map[string]any{"client": "alice", "room_id": room, "user_id": bot.UserID})
	ob := dialV12(t, g, "tok")

	first := js.sendText(room, "before the restart")
	wantDecrypted(t, ob.nextMessage(), first, "before the restart")
	okData(t, g, "tok", "send_message", map[string]any{"detail_type": "group", "group_id": room, "message": textMsg("reply one")})
	wantDecryptedFrom(t, js, bot, room, "reply one")

	g.stop()
	g = startGateway(t, dir, env)
	ob = dialV12(t, g, "tok")
	second := js.sendText(room, "after the restart")
	wantDecrypted(t, ob.nextMessage(), second, "after the restart")
	okData(t, g, "tok", "send_message", map[string]any{"detail_type": "group", "group_id": room, "message": textMsg("reply two")})
	wantDecryptedFrom(t, js, bot, room, "reply two")

	// The crypto state is in PostgreSQL: the bot's account, alice's room key, its own room key.
	pool, err := sql.Open("postgres", db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pool.Close() }()
	for query, want := range map[string]int{
		`SELECT COUNT(*) FROM crypto_account`:                      1,
		`SELECT COUNT(*) FROM crypto_megolm_inbound_session`:       2, // alice's and the bot's own
		`SELECT COUNT(*) FROM crypto_megolm_outbound_session`:      1,
		`SELECT COUNT(*) FROM gateway_sync WHERE next_batch <> ''`: 1,
	} {
		var n int
		if err := pool.QueryRowContext(t.Context(), query).Scan(&n); err != nil || n < want {
			t.Errorf("%s = %d, %v; want at least %d", query, n, err, want)
		}
	}
}
