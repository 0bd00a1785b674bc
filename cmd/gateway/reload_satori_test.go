package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

// satoriStream opens the Satori event stream and identifies with token ("" = none); it returns
// the connection and the READY body.
func satoriStream(ctx context.Context, t *testing.T, g *gatewayRun, token string) (*websocket.Conn, json.RawMessage) {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.url, "http")+"/satori/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	body := map[string]any{}
	if token != "" {
		body["token"] = token
	}
	idf, _ := json.Marshal(map[string]any{"op": 3, "body": body})
	if err := c.Write(ctx, websocket.MessageText, idf); err != nil {
		t.Fatal(err)
	}
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("no READY after IDENTIFY: %v", err)
	}
	var sig struct {
		Op   int             `json:"op"`
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(data, &sig); err != nil || sig.Op != 4 {
		t.Fatalf("the first frame after IDENTIFY is %s; want READY (op 4)", data)
	}
	return c, sig.Body
}

// A Satori event stream a client opened without a token, while the gateway needed none, ends
// once a bot with its own onebot_access_token makes tokens required, as OneBot's forward
// WebSockets do (it was granted every bot, the new one included); and the face's own stream of
// the hub's events goes on for the clients that identify with a token. Before, the Satori stream
// opened without a token stayed open, while the hub closed the face's subscription (taken for a
// client connection): no Satori client heard of any bot's status again.
func TestReloadClosesSatoriStreamsOpenedWithoutAToken(t *testing.T) {
	hs := fakes.NewFakeFleetHomeserver(t, 2)
	envFile := filepath.Join(t.TempDir(), "gateway.env")
	writeEnvFile(t, envFile, fleetBot(hs, 0, nil))
	g := startServe(t, map[string]string{"GATEWAY_ENV_FILE": envFile, "GATEWAY_START_JITTER": "0s"})
	wait.For(t, time.Minute, "bot 0 ready", func() bool { users, ok := g.readyBots(); return ok && len(users) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open, _ := satoriStream(ctx, t, g, "")
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := open.Read(ctx); err != nil {
				closed <- err
				return
			}
		}
	}()

	bot1 := func(selfID int) map[string]any {
		return fleetBot(hs, 1, map[string]any{"onebot_access_token": "bot1-token", "onebot_self_id": selfID})
	}
	writeEnvFile(t, envFile, fleetBot(hs, 0, nil), bot1(1001))
	g.reload <- struct{}{}
	wait.For(t, time.Minute, "bots 0 and 1 ready", func() bool { users, ok := g.readyBots(); return ok && len(users) == 2 })
	select {
	case err := <-closed:
		var ce websocket.CloseError
		if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "access tokens are required now") {
			t.Fatalf("the Satori stream opened without a token ended with %v; want a close frame saying tokens are required now", err)
		}
	case <-ctx.Done():
		t.Fatal("the Satori stream opened without a token stayed open after a bot with its own token joined")
	}

	// A client with bot 1's token identifies, and hears of bot 1's restart (a changed bot).
	c, ready := satoriStream(ctx, t, g, "bot1-token")
	if !strings.Contains(string(ready), fakes.FleetUser(1)) || strings.Contains(string(ready), fakes.FleetUser(0)) {
		t.Fatalf("READY with bot 1's token: %s; want bot 1's login only", ready)
	}
	writeEnvFile(t, envFile, fleetBot(hs, 0, nil), bot1(1101))
	g.reload <- struct{}{}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("the Satori stream with bot 1's token got no login event for bot 1's restart: %v", err)
		}
		if strings.Contains(string(data), `"type":"login-`) && strings.Contains(string(data), fakes.FleetUser(1)) {
			break
		}
	}
}
