// Package ratelimit proves the paced send queue against a Synapse that allows about one
// message per second: every message a OneBot client sends arrives, in order. It has its own
// homeserver (rate limits on) and runs for minutes, so it is its own package, which `go test
// ./...` runs in parallel with the others.
package ratelimit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

var (
	gatewayBin string
	hs         *harness.Homeserver
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "gateway-ratelimit-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	root, err := harness.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	gatewayBin = filepath.Join(tmp, "gateway")
	build := exec.Command("go", "build", "-tags", "goolm", "-o", gatewayBin, "./cmd/gateway")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "failed to build the gateway:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
	defer cancel()
	hs, err = harness.StartSynapse(ctx, harness.SynapseOptions{
		Dir: filepath.Join(tmp, "synapse"),
		// About one message per second per user, as a strict public homeserver would allow.
		ExtraConfig: map[string]any{"rc_message": map[string]any{"per_second": 1, "burst_count": 5}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "failed to start Synapse:", err)
		return 1
	}
	defer hs.Stop()
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "last lines of Synapse's log:\n%s\n", hs.LogTail(30))
	}
	return code
}

const messages = 500

// A OneBot client sends 500 messages one after the other as fast as the gateway answers; the
// homeserver allows about one per second and answers the rest 429. Every message arrives
// exactly once and in order, because the gateway waits retry_after_ms and sends the same
// transaction again instead of failing the action. (The bot is not a homeserver admin: Synapse
// exempts admins from rate limits.)
func TestPacedQueueDeliversEverythingInOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bot, err := hs.RegisterUniqueUser(ctx, "bot")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := hs.RegisterUniqueUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := hs.Client(alice)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	bots, _ := json.Marshal([]map[string]any{{"homeserver": hs.URL(), "access_token": bot.AccessToken, "user_id": bot.UserID,
		"device_id": bot.DeviceID, "auto_accept_invites": true}})
	env := []string{
		"GATEWAY_LISTEN=" + addr, "GATEWAY_DATABASE=" + filepath.Join(dir, "gateway.db"), "GATEWAY_ACCESS_TOKEN=rl-token",
		"MATRIX_BOTS=" + string(bots), "MATRIX_SYNC_TIMEOUT=5000", "GATEWAY_DROP_EVENTS_WITHOUT_CLIENT=true",
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
	}
	proc, err := harness.StartProcess(harness.ProcessOptions{Name: "gateway", Path: gatewayBin, Env: env, Dir: dir, LogPath: filepath.Join(dir, "gateway.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", proc.LogTail(60))
		}
		_ = proc.Stop()
	})
	base := "http://" + addr
	readyCtx, readyCancel := context.WithTimeout(ctx, time.Minute)
	defer readyCancel()
	if err := proc.WaitReady(readyCtx, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %d", resp.StatusCode)
		}
		return nil
	}); err != nil {
		t.Fatalf("gateway not ready: %v", err)
	}

	created, err := cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{id.UserID(bot.UserID)}})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	waitJoined(ctx, t, cli, room, bot.UserID)

	var ids []string
	for i := range messages {
		data := action(ctx, t, base, "send_message", map[string]any{"detail_type": "group", "group_id": room,
			"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": fmt.Sprintf("paced %d", i)}}}})
		ids = append(ids, data["message_id"].(string))
	}
	if !bytes.Contains([]byte(proc.Log()), []byte("rate limited by the homeserver")) {
		t.Fatal("the homeserver never rate-limited the bot: the test proved nothing (is the bot an admin?)")
	}

	// Read the room from the start as alice: the bot's messages, in timeline order.
	var got []string
	var bodies []string
	from := ""
	for {
		page, err := cli.Messages(ctx, room, from, "", mautrix.DirectionForward, nil, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, evt := range page.Chunk {
			if evt.Type != event.EventMessage || string(evt.Sender) != bot.UserID {
				continue
			}
			_ = evt.Content.ParseRaw(evt.Type)
			got = append(got, string(evt.ID))
			bodies = append(bodies, evt.Content.AsMessage().Body)
		}
		if page.End == "" || len(page.Chunk) == 0 {
			break
		}
		from = page.End
	}
	if len(got) != messages {
		t.Fatalf("%d of %d messages arrived", len(got), messages)
	}
	for i := range got {
		if got[i] != ids[i] || bodies[i] != fmt.Sprintf("paced %d", i) {
			t.Fatalf("message %d in the room is %s %q, want %s %q", i, got[i], bodies[i], ids[i], fmt.Sprintf("paced %d", i))
		}
	}
}

func action(ctx context.Context, t *testing.T, base, name string, params any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"action": name, "params": params})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/onebot/v12/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer rl-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || out["retcode"] != float64(0) {
		t.Fatalf("%s: %d %s", name, resp.StatusCode, raw)
	}
	data, _ := out["data"].(map[string]any)
	return data
}

func waitJoined(ctx context.Context, t *testing.T, cli *mautrix.Client, room id.RoomID, user string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(time.Minute)
	for {
		var m event.MemberEventContent
		if cli.StateEvent(ctx, room, event.StateMember, user, &m) == nil && m.Membership == event.MembershipJoin {
			return
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("%s did not join %s", user, room)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
