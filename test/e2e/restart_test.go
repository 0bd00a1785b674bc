package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/test/harness/postgres"
)

// obClient is a plain OneBot v12 forward-WebSocket client that records message events.
type obClient struct {
	t      testing.TB
	conn   *websocket.Conn
	frames chan map[string]any
}

// dialWS opens a OneBot WebSocket to the gateway at path, closed at the end of the test.
func dialWS(t testing.TB, g *gatewayProc, path, token string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	c, _, err := websocket.Dial(ctx, g.wsURL(path), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	c.SetReadLimit(1 << 24)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// dialWSV12 opens a OneBot v12 forward WebSocket to the gateway.
func dialWSV12(t testing.TB, g *gatewayProc, token string) *websocket.Conn {
	return dialWS(t, g, "/onebot/v12/", token)
}

// readFrames decodes every JSON frame of c into the returned channel, closed when c ends.
func readFrames(c *websocket.Conn) chan map[string]any {
	frames := make(chan map[string]any, 1024)
	go func() {
		defer close(frames)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				frames <- m
			}
		}
	}()
	return frames
}

func dialV12(t testing.TB, g *gatewayProc, token string) *obClient {
	t.Helper()
	c := dialWSV12(t, g, token)
	return &obClient{t: t, conn: c, frames: readFrames(c)}
}

// nextMessage returns the next message event, skipping meta events.
func (c *obClient) nextMessage() map[string]any {
	c.t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatal("OneBot connection closed while waiting for a message")
			}
			if f["type"] == "message" {
				return f
			}
		case <-timeout:
			c.t.Fatal("no message event within the deadline")
		}
	}
}

// Stopping the gateway between two messages loses neither and repeats neither: the second
// message, sent while the gateway is down, is delivered exactly once after the restart. On
// Synapse and on Dendrite with a SQLite file, and on Synapse with a PostgreSQL database
// (GATEWAY_DATABASE=postgres://…, on a throwaway cluster the harness starts).
func TestRestartDeliversExactlyOnce(t *testing.T) {
	onEachHomeserver(t, func(t *testing.T) { testRestartDeliversExactlyOnce(t, nil) })
	t.Run("synapse-postgres", func(t *testing.T) {
		db := postgres.ForTest(t).DatabaseForTest(t)
		testRestartDeliversExactlyOnce(t, map[string]string{"GATEWAY_DATABASE": db, "GATEWAY_PICKLE_KEY": "e2e-pickle-key-for-postgres"})
		// The state was in PostgreSQL, not in a file: the bot's sync position is there.
		pool, err := sql.Open("postgres", db)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pool.Close() }()
		var positions int
		if err := pool.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM gateway_sync WHERE next_batch <> ''`).Scan(&positions); err != nil || positions != 1 {
			t.Errorf("sync positions in PostgreSQL: %d, %v; want 1", positions, err)
		}
	})
}

func testRestartDeliversExactlyOnce(t *testing.T, dbEnv map[string]string) {
	dir := t.TempDir()
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	env := map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true, "auto_accept_whitelist": []string{alice.user.UserID}}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
	}
	maps.Copy(env, dbEnv)
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)

	ob := dialV12(t, g, "e2e-token")
	first := alice.send(room, "first")
	if m := ob.nextMessage(); m["message_id"] != string(first) || m["alt_message"] != "first" || m["group_id"] != string(room) {
		t.Fatalf("first message arrived as %v", m)
	}
	g.stop()

	second := alice.send(room, "second while down")

	g = startGateway(t, dir, env)
	ob = dialV12(t, g, "e2e-token")
	if m := ob.nextMessage(); m["message_id"] != string(second) {
		t.Fatalf("after restart the first message event was %v, want %s", m["message_id"], second)
	}
	// A marker sent now is the very next message: nothing was repeated in between.
	marker := alice.send(room, "marker")
	if m := ob.nextMessage(); m["message_id"] != string(marker) {
		t.Fatalf("after the second message came %v (%v), want the marker %s", m["message_id"], m["alt_message"], marker)
	}
	if _, err := os.Stat(filepath.Join(dir, "gateway.db")); dbEnv != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a SQLite file was made beside the PostgreSQL database (%v)", err)
	}
}
