package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// namedFakeBot is a fake bot whose user ID is not known yet (it learns it by logging in), named
// as the configuration names it.
type namedFakeBot struct {
	*fakes.FakeBot
	name string
}

func (b namedFakeBot) Name() string { return b.name }

// With its only bot not logged in yet (homeserver unreachable), the gateway answers actions
// that the bot is offline and why (not "several bots are served here"), and get_status lists
// the bot, offline, with the reason (not good:true with no bots), in v12 and in v11.
func TestOnlyBotNotLoggedInIsOffline(t *testing.T) {
	h := NewHub(Options{
		Version: "test", HeartbeatInterval: time.Hour, IDs: newTestDB(t).IDs(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ExpectedBots: 1,
	})
	const why = "failed to log in: dial tcp 127.0.0.1:1: connect: connection refused"
	bot := namedFakeBot{FakeBot: fakes.NewFakeBot(""), name: "bot-login"}
	bot.Control.SetStatus(model.BotStatus{State: model.StateBackoff, Reason: why})
	h.Expect(bot)

	// v12, over HTTP as a framework calls it.
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s: answer is not JSON: %v", path, err)
		}
		return resp.StatusCode, m
	}
	_, m := post("/onebot/v12/", `{"action":"send_message","params":{"detail_type":"group","group_id":"!r:example.org","message":"hi"}}`)
	if m["retcode"] != float64(v12BotOffline) || !strings.Contains(m["message"].(string), "offline") ||
		!strings.Contains(m["message"].(string), "connection refused") || !strings.Contains(m["message"].(string), "bot-login") {
		t.Fatalf("v12 send_message: %v, want retcode %d saying bot-login is offline and why", m, v12BotOffline)
	}
	_, m = post("/onebot/v12/", `{"action":"get_status","params":{}}`)
	data, _ := m["data"].(map[string]any)
	bots, _ := data["bots"].([]any)
	if data["good"] != false || len(bots) != 1 {
		t.Fatalf("v12 get_status: %v, want good false and the bot listed", m)
	}
	if b := bots[0].(map[string]any); b["online"] != false || !strings.Contains(b["matrix.reason"].(string), "connection refused") ||
		!strings.Contains(b["matrix.reason"].(string), "bot-login") {
		t.Fatalf("v12 get_status bot: %v, want offline, named, with the reason", b)
	}

	// v11, over HTTP.
	code, m := post("/onebot/v11/send_group_msg", `{"group_id":1,"message":"hi"}`)
	if code != http.StatusOK || m["status"] != "failed" || m["retcode"] != float64(v11Failed) ||
		!strings.Contains(m["msg"].(string), "offline") || !strings.Contains(m["msg"].(string), "connection refused") {
		t.Fatalf("v11 send_group_msg: %d %v, want a failed answer saying the bot is offline and why", code, m)
	}
	code, m = post("/onebot/v11/get_status", `{}`)
	data, _ = m["data"].(map[string]any)
	if code != http.StatusOK || m["status"] != "ok" || data["online"] != false || data["good"] != false ||
		!strings.Contains(data["matrix_reason"].(string), "connection refused") {
		t.Fatalf("v11 get_status: %d %v, want ok with online false, good false and the reason", code, m)
	}

	// Once it has logged in and joined, it serves.
	bot.ID = "@bot:example.org"
	bot.Control.SetStatus(model.BotStatus{State: model.StateSyncing})
	h.AddBot(bot, 10001)
	resp := h.calls.RunV12(context.Background(), nil, &v12Request{Action: "get_self_info"})
	if resp.Status != "ok" {
		t.Fatalf("get_self_info after the bot joined: %+v", resp)
	}
}
