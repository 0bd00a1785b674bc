package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/test/fakes"
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
	g, envFile := serveFromEnvFile(t, nil, fleetBot(hs, 0, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open, _ := satoriStream(ctx, t, g, "")
	closed := readUntilClosed(ctx, open)

	bot1 := func(selfID int) map[string]any {
		return fleetBot(hs, 1, map[string]any{"onebot_access_token": "bot1-token", "onebot_self_id": selfID})
	}
	g.reloadBots(t, envFile, fleetBot(hs, 0, nil), bot1(1001))
	waitTokensRequiredClose(ctx, t, closed, "the Satori stream opened without a token, after a bot with its own token joined,")

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
