package gateway

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/model"
)

// nextFrame returns the next frame queued on s, or fails after a deadline.
func nextFrame(t *testing.T, s *sink) map[string]any {
	t.Helper()
	select {
	case b := <-s.Out():
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("frame is not JSON: %v: %s", err, b)
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no frame queued")
	}
	return nil
}

func noFrame(t *testing.T, s *sink) {
	t.Helper()
	select {
	case b := <-s.Out():
		t.Fatalf("unexpected frame %s", b)
	default:
	}
}

// A bot that goes offline (it cannot authenticate) is announced to its v11 connections with
// lifecycle disable, and with enable when it is back; v12 connections get status_update.
func TestBotOfflineLifecycle(t *testing.T) {
	h, bot, _ := newTestHub(t, "")
	v12 := push.NewSink(12, "", true)
	h.fan.subscribe(v12)
	v11 := push.NewSink(11, bot.ID, true)
	other := push.NewSink(11, "@other:example.org", true)
	api := push.NewSink(11, bot.ID, false)
	for _, s := range []*sink{v11, other, api} {
		h.fan.subscribe(s)
	}

	offline := model.BotStatus{State: model.StateOffline, Reason: "the access token was rejected", Since: time.Now()}
	bot.Control.SetStatus(offline)
	h.BotStatusChanged(bot.ID, offline)
	f := nextFrame(t, v11)
	if f["post_type"] != "meta_event" || f["meta_event_type"] != "lifecycle" || f["sub_type"] != "disable" || f["self_id"] != float64(10001) {
		t.Fatalf("v11 frame %v, want lifecycle disable for self_id 10001", f)
	}
	st := nextFrame(t, v12)
	bots := st["status"].(map[string]any)["bots"].([]any)
	if b := bots[0].(map[string]any); st["detail_type"] != "status_update" || b["online"] != false {
		t.Fatalf("v12 frame %v, want status_update with the bot offline", st)
	}
	if hb := h.faces.v11Heartbeat(h.reg.botByUser(bot.ID)); !json.Valid(hb) || string(hb) == "" {
		t.Fatal("heartbeat is not JSON")
	} else {
		var m map[string]any
		_ = json.Unmarshal(hb, &m)
		if m["status"].(map[string]any)["online"] != false {
			t.Fatalf("v11 heartbeat %s, want online false", hb)
		}
	}
	noFrame(t, other)
	noFrame(t, api)

	// Still offline (another reason): no second disable.
	h.BotStatusChanged(bot.ID, model.BotStatus{State: model.StateOffline, Reason: "still", Since: time.Now()})
	_ = nextFrame(t, v12)
	noFrame(t, v11)

	// A transient failure is not offline; back to syncing → enable, once.
	back := model.BotStatus{State: model.StateSyncing, Since: time.Now()}
	bot.Control.SetStatus(back)
	h.BotStatusChanged(bot.ID, back)
	if f := nextFrame(t, v11); f["meta_event_type"] != "lifecycle" || f["sub_type"] != "enable" {
		t.Fatalf("v11 frame %v, want lifecycle enable", f)
	}
	h.BotStatusChanged(bot.ID, model.BotStatus{State: model.StateBackoff, Reason: "network", Since: time.Now()})
	noFrame(t, v11)
}
