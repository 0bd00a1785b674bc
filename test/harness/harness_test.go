package harness_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

func TestSynapseMessageRoundTrip(t *testing.T) {
	hs := harness.SynapseForTest(t, harness.SynapseOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	alice, err := hs.RegisterUser(ctx, "alice", "alicepass", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "@alice:" + hs.ServerName(); alice.UserID != want {
		t.Fatalf("user id = %q, want %q", alice.UserID, want)
	}
	if alice.AccessToken == "" || alice.DeviceID == "" {
		t.Fatalf("registration returned no token or device: %+v", alice.DeviceID)
	}
	bob, err := hs.RegisterUser(ctx, "bob", "bobpass", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hs.RegisterUser(ctx, "bob", "other", false); !errors.Is(err, harness.ErrUserExists) {
		t.Fatalf("registering bob twice: err = %v, want ErrUserExists", err)
	}
	if again, err := hs.EnsureUser(ctx, "bob", "bobpass", false); err != nil || again.UserID != bob.UserID {
		t.Fatalf("EnsureUser(bob) = %v, %v", again, err)
	}

	aliceCli, err := hs.Client(alice)
	if err != nil {
		t.Fatal(err)
	}
	bobCli, err := hs.Client(bob)
	if err != nil {
		t.Fatal(err)
	}

	room, err := aliceCli.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "private_chat",
		Invite: []id.UserID{id.UserID(bob.UserID)},
	})
	if err != nil {
		t.Fatalf("failed to create room: %v", err)
	}
	if _, err := bobCli.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatalf("failed to join room: %v", err)
	}
	const body = "hello from alice"
	sent, err := aliceCli.SendText(ctx, room.RoomID, body)
	if err != nil {
		t.Fatalf("failed to send message: %v", err)
	}

	got := waitForMessage(ctx, t, bobCli, room.RoomID, sent.EventID)
	if got.Body != body {
		t.Fatalf("bob received body %q, want %q", got.Body, body)
	}

	// The default config lifts Synapse's rate limits (room creation allows a
	// burst of 10 by default, messages 10).
	aliceCli.DefaultHTTPRetries = 0
	for i := range 12 {
		if _, err := aliceCli.CreateRoom(ctx, &mautrix.ReqCreateRoom{}); err != nil {
			t.Fatalf("room %d: %v", i, err)
		}
	}
	for i := range 15 {
		if _, err := aliceCli.SendText(ctx, room.RoomID, fmt.Sprint("burst ", i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}

	hs.Stop()
	hs.Stop() // idempotent
	if _, err := http.Get(hs.URL() + "/_matrix/client/versions"); err == nil {
		t.Fatal("synapse still answers after Stop")
	}
}

// waitForMessage syncs as cli until the event arrives in the room.
func waitForMessage(ctx context.Context, t *testing.T, cli *mautrix.Client, roomID id.RoomID, eventID id.EventID) *event.MessageEventContent {
	t.Helper()
	since := ""
	for {
		resp, err := cli.SyncRequest(ctx, 5000, since, "", false, event.PresenceOnline)
		if err != nil {
			t.Fatalf("failed to sync: %v", err)
		}
		since = resp.NextBatch
		if joined := resp.Rooms.Join[roomID]; joined != nil {
			for _, evt := range joined.Timeline.Events {
				if evt.ID != eventID {
					continue
				}
				if err := evt.Content.ParseRaw(evt.Type); err != nil {
					t.Fatalf("failed to parse event: %v", err)
				}
				msg := evt.Content.AsMessage()
				if msg == nil {
					t.Fatalf("event %s is %s, not a message", evt.ID, evt.Type.Type)
				}
				return msg
			}
		}
	}
}

func TestSynapseExtraConfigAndReuse(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
	defer cancel()

	hs, err := harness.StartSynapse(ctx, harness.SynapseOptions{
		Dir:        dir,
		ServerName: "example.test",
		ExtraConfig: map[string]any{
			"rc_login":   map[string]any{"address": map[string]any{"per_second": 1, "burst_count": 7}},
			"rc_message": map[string]any{"per_second": 0.001, "burst_count": 2},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Stop()
	if hs.ServerName() != "example.test" {
		t.Fatalf("server name = %q", hs.ServerName())
	}
	conf, err := os.ReadFile(filepath.Join(dir, "homeserver.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"burst_count": 7`, `"failed_attempts"`, `"rc_message"`} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("homeserver.yaml lacks %s", want)
		}
	}
	u, err := hs.RegisterUser(ctx, "carol", "carolpass", true)
	if err != nil {
		t.Fatal(err)
	}
	if u.UserID != "@carol:example.test" {
		t.Fatalf("user id = %q", u.UserID)
	}

	// ExtraConfig reaches Synapse: the third message of a non-admin is limited.
	dave, err := hs.RegisterUniqueUser(ctx, "dave")
	if err != nil {
		t.Fatal(err)
	}
	daveCli, err := hs.Client(dave)
	if err != nil {
		t.Fatal(err)
	}
	daveCli.DefaultHTTPRetries = 0
	room, err := daveCli.CreateRoom(ctx, &mautrix.ReqCreateRoom{})
	if err != nil {
		t.Fatal(err)
	}
	var limitErr error
	for i := 0; i < 5 && limitErr == nil; i++ {
		_, limitErr = daveCli.SendText(ctx, room.RoomID, "x")
	}
	if !errors.Is(limitErr, mautrix.MLimitExceeded) {
		t.Fatalf("with rc_message burst 2: err = %v, want M_LIMIT_EXCEEDED", limitErr)
	}
	hs.Stop()

	// A second start in the same directory keeps the server and its users.
	hs2, err := harness.StartSynapse(ctx, harness.SynapseOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer hs2.Stop()
	if _, err := hs2.RegisterUser(ctx, "carol", "x", false); !errors.Is(err, harness.ErrUserExists) {
		t.Fatalf("carol after restart: err = %v, want ErrUserExists", err)
	}
	again, err := hs2.EnsureUser(ctx, "carol", "carolpass", false)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := hs2.Client(again)
	if err != nil {
		t.Fatal(err)
	}
	who, err := cli.Whoami(ctx)
	if err != nil {
		t.Fatalf("whoami after reuse: %v", err)
	}
	if who.UserID != "@carol:example.test" {
		t.Fatalf("whoami = %q", who.UserID)
	}
}

func TestNoneBotStarts(t *testing.T) {
	nb := harness.NoneBotForTest(t, harness.NoneBotOptions{AccessToken: "s3cret"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Without the v11 headers the reverse-WS endpoint must still answer HTTP.
	for _, url := range []string{nb.URL() + "/onebot/v11/ws", nb.URL() + "/onebot/v12/ws", nb.URL() + "/"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 499 {
			t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
		}
		t.Logf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if want := fmt.Sprintf("ws://127.0.0.1:%d/onebot/v12/ws", nb.Port()); nb.V12ReverseWSURL() != want {
		t.Fatalf("V12ReverseWSURL = %q", nb.V12ReverseWSURL())
	}
	if err := nb.WaitForLog(ctx, "Application startup complete"); err != nil {
		t.Fatal(err)
	}

	// A wrong token is refused: the adapters took the token from the env.
	// (The FastAPI driver turns the adapter's close-before-accept into HTTP 403.)
	bad, badResp, err := websocket.Dial(ctx, nb.V11ReverseWSURL(), &websocket.DialOptions{HTTPHeader: http.Header{
		"Authorization": {"Bearer wrong"}, "X-Self-ID": {"10001"}, "X-Client-Role": {"Universal"},
	}})
	switch {
	case err == nil:
		if _, _, err = bad.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Fatalf("v11 with a wrong token: read err = %v, want close 1008", err)
		}
	case badResp == nil || badResp.StatusCode != http.StatusForbidden:
		t.Fatalf("v11 with a wrong token: dial err = %v, want HTTP 403 or close 1008", err)
	}

	t.Run("v11 echo", func(t *testing.T) {
		conn, _, err := websocket.Dial(ctx, nb.V11ReverseWSURL(), &websocket.DialOptions{HTTPHeader: http.Header{
			"Authorization": {"Bearer s3cret"}, "X-Self-ID": {"10001"}, "X-Client-Role": {"Universal"},
		}})
		if err != nil {
			t.Fatalf("failed to dial v11: %v", err)
		}
		defer conn.CloseNow()
		if err := nb.WaitForLog(ctx, "harness: bot connected adapter=OneBot V11 self_id=10001"); err != nil {
			t.Fatal(err)
		}
		writeJSON(ctx, t, conn, map[string]any{
			"time": time.Now().Unix(), "self_id": 10001, "post_type": "message", "message_type": "private",
			"sub_type": "friend", "message_id": 1, "user_id": 20002, "font": 0, "raw_message": "/echo hi v11",
			"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": "/echo hi v11"}}},
			"sender":  map[string]any{"user_id": 20002, "nickname": "alice"},
		})
		call := readAction(ctx, t, conn)
		if call.Action != "send_msg" {
			t.Fatalf("action = %q, want send_msg", call.Action)
		}
		if !strings.Contains(string(call.Params), `"hi v11"`) || !strings.Contains(string(call.Params), `20002`) {
			t.Fatalf("send_msg params = %s", call.Params)
		}
		writeJSON(ctx, t, conn, map[string]any{"status": "ok", "retcode": 0, "data": map[string]any{"message_id": 2}, "echo": call.Echo})
	})

	t.Run("v12 echo", func(t *testing.T) {
		conn, _, err := websocket.Dial(ctx, nb.V12ReverseWSURL(), &websocket.DialOptions{
			HTTPHeader:   http.Header{"Authorization": {"Bearer s3cret"}},
			Subprotocols: []string{"12.harness"},
		})
		if err != nil {
			t.Fatalf("failed to dial v12: %v", err)
		}
		defer conn.CloseNow()
		now := float64(time.Now().Unix())
		self := map[string]any{"platform": "matrix", "user_id": "@bot:localhost"}
		writeJSON(ctx, t, conn, map[string]any{"id": "c1", "time": now, "type": "meta", "detail_type": "connect", "sub_type": "",
			"version": map[string]any{"impl": "harness", "version": "0.0.0", "onebot_version": "12"}})
		writeJSON(ctx, t, conn, map[string]any{"id": "s1", "time": now, "type": "meta", "detail_type": "status_update", "sub_type": "",
			"status": map[string]any{"good": true, "bots": []any{map[string]any{"self": self, "online": true}}}})
		writeJSON(ctx, t, conn, map[string]any{"id": "e1", "time": now, "type": "message", "detail_type": "private", "sub_type": "",
			"self": self, "message_id": "m1", "user_id": "@alice:localhost", "alt_message": "/echo hi v12",
			"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": "/echo hi v12"}}}})
		call := readAction(ctx, t, conn)
		if call.Action != "send_message" {
			t.Fatalf("action = %q, want send_message", call.Action)
		}
		if !strings.Contains(string(call.Params), `"hi v12"`) || !strings.Contains(string(call.Params), `@alice:localhost`) {
			t.Fatalf("send_message params = %s", call.Params)
		}
		writeJSON(ctx, t, conn, map[string]any{"status": "ok", "retcode": 0, "message": "",
			"data": map[string]any{"message_id": "m2", "time": now}, "echo": call.Echo})
	})

	if err := nb.WaitForLog(ctx, "harness: event adapter=OneBot V12"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(nb.Log(), "s3cret") {
		t.Fatal("the access token appears in the nonebot log")
	}
	nb.Stop()
	nb.Stop()
}

type actionCall struct {
	Action string          `json:"action"`
	Params json.RawMessage `json:"params"`
	Echo   json.RawMessage `json:"echo"`
}

func writeJSON(ctx context.Context, t *testing.T, conn *websocket.Conn, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Write(ctx, websocket.MessageText, data); err != nil {
		t.Fatalf("failed to write frame: %v", err)
	}
}

// readAction reads frames until one is an action call.
func readAction(ctx context.Context, t *testing.T, conn *websocket.Conn) actionCall {
	t.Helper()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("failed to read frame: %v", err)
		}
		var call actionCall
		if err := json.Unmarshal(data, &call); err != nil {
			t.Fatalf("bad frame %s: %v", data, err)
		}
		if call.Action != "" {
			return call
		}
	}
}
