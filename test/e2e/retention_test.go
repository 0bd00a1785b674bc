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
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	marker := "retention-marker-" + hex.EncodeToString(b)
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
	db := filepath.Join(dir, "gateway.db")
	waitFor(t, "the message text to leave gateway.db and its WAL", func() bool {
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
	if log := g.proc.LogTail(400); !strings.Contains(log, "pruned expired data") {
		t.Errorf("the gateway log does not show the pruner's pass:\n%s", log)
	}
}
