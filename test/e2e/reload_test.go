package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/coder/websocket"
)

// writeBots writes GATEWAY_ENV_FILE holding MATRIX_BOTS with the bots' entries (botJSON's).
func writeBots(t *testing.T, path string, entries ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("MATRIX_BOTS='"+botList(t, entries...)+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// readyzHas reports whether /readyz is ready and lists user.
func readyzHas(g *gatewayProc, user string) bool {
	code, rep := readyz(g)
	if code != http.StatusOK {
		return false
	}
	for _, b := range rep.Bots {
		if b.UserID == user {
			return true
		}
	}
	return false
}

// A bot added to GATEWAY_ENV_FILE starts at SIGHUP and relays a message from Synapse to its
// OneBot client; removed again, it stops at the next SIGHUP: its WebSocket client gets a close
// frame with the reason and requests naming it get "no bot". The other bot runs on throughout.
func TestSIGHUPAddsAndRemovesABot(t *testing.T) {
	first, added := newBotUser(t), newBotUser(t)
	alice := newHuman(t, "alice")
	accept := map[string]any{"auto_accept_invites": true, "auto_accept_whitelist": []string{alice.user.UserID}}
	firstEntry := botJSON(first, accept)
	addedEntry := botJSON(added, map[string]any{"auto_accept_invites": true, "auto_accept_whitelist": []string{alice.user.UserID}, "onebot_self_id": 4242})
	dir := t.TempDir()
	envFile := filepath.Join(dir, "gateway.env")
	writeBots(t, envFile, firstEntry)
	g := startGateway(t, dir, map[string]string{"GATEWAY_ENV_FILE": envFile, "GATEWAY_ACCESS_TOKEN": "e2e-token"})
	hup := func() {
		t.Helper()
		if err := syscall.Kill(g.proc.PID(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	writeBots(t, envFile, firstEntry, addedEntry)
	hup()
	waitFor(t, "the added bot in /readyz, ready", func() bool { return readyzHas(g, added.UserID) })
	room := alice.roomWith(added, false)
	alice.waitJoined(room, added)

	c := dialWS(t, g, "/onebot/v11/4242/", "e2e-token")
	frames := make(chan map[string]any, 64)
	ended := make(chan error, 1)
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				ended <- err
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				frames <- m
			}
		}
	}()
	alice.send(room, "hello, new bot")
	waitFor(t, "the message at the added bot's v11 client", func() bool {
		for {
			select {
			case f := <-frames:
				if f["post_type"] == "message" && f["raw_message"] == "hello, new bot" {
					return true
				}
			default:
				return false
			}
		}
	})

	writeBots(t, envFile, firstEntry)
	hup()
	var err error
	waitFor(t, "the removed bot's WebSocket to end", func() bool {
		select {
		case err = <-ended:
			return true
		default:
			return false
		}
	})
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || !strings.HasPrefix(ce.Reason, "bot removed") {
		t.Fatalf("the removed bot's WebSocket ended with %v; want close 1001 \"bot removed: …\"", err)
	}
	req, _ := http.NewRequest(http.MethodPost, g.url+"/onebot/v11/4242/get_login_info", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer e2e-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "no bot with self_id 4242") {
		t.Fatalf("a request for the removed bot: %d %s; want 404 no bot with self_id 4242", resp.StatusCode, body)
	}
	waitFor(t, "/readyz without the removed bot", func() bool { return readyzHas(g, first.UserID) && !readyzHas(g, added.UserID) })
	if !strings.Contains(g.proc.Log(), "configuration reloaded") {
		t.Fatal("the log does not say the configuration was reloaded")
	}
}
