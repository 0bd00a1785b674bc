package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// A bot whose token the homeserver rejects from the start is shown offline to OneBot clients
// and on /readyz, with what to do, while the gateway keeps running (no crash loop).
func TestBotRejectedAtStartupShowsOffline(t *testing.T) {
	bot := newBotUser(t)
	revoked := *bot
	revoked.AccessToken = "syt_not_a_valid_token_at_all"
	g := launchGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(&revoked, nil),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
	})
	var reason string
	waitFor(t, "/readyz to report the bot offline", func() bool {
		resp, err := http.Get(g.url + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var rep struct {
			Ready bool `json:"ready"`
			Bots  []struct {
				UserID string `json:"user_id"`
				State  string `json:"state"`
				Reason string `json:"reason"`
			} `json:"bots"`
		}
		if json.NewDecoder(resp.Body).Decode(&rep) != nil || resp.StatusCode != http.StatusServiceUnavailable || rep.Ready {
			return false
		}
		for _, b := range rep.Bots {
			if b.UserID == bot.UserID && b.State == "offline" {
				reason = b.Reason
				return true
			}
		}
		return false
	})
	if !strings.Contains(reason, "access_token") && !strings.Contains(reason, "login") {
		t.Errorf("the reason does not say what to do: %q", reason)
	}
	// A v12 client learns of the bot, offline.
	ob := dialV12(t, g, "e2e-token")
	waitFor(t, "a status_update with the bot offline", func() bool {
		select {
		case f := <-ob.frames:
			if f["detail_type"] != "status_update" {
				return false
			}
			for _, b := range f["status"].(map[string]any)["bots"].([]any) {
				m := b.(map[string]any)
				if m["self"].(map[string]any)["user_id"] == bot.UserID && m["online"] == false {
					return true
				}
			}
		default:
		}
		return false
	})
	if g.proc.Exited() {
		t.Fatal("the gateway exited")
	}
}
