package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A bot whose session was revoked is retried once before it is offline; while it is retried it
// has no usable token, so it is not online: no v12 status (status_update or get_status) says
// online: true with matrix.state backoff.
func TestRevokedSessionIsNotOnlineWhileRetried(t *testing.T) {
	bot, entry := passwordBot(t, hs, hs.URL(), "RETRIEDDEV")
	env := authEnv(entry)
	env["MATRIX_RETRY_INTERVAL"] = "2" // a retry long enough for get_status to see it
	g := startGateway(t, t.TempDir(), env)
	ob := dialV12(t, g, authToken)

	other, err := hs.Login(testCtx(t), bot.UserID, bot.Password)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, hs.URL()+"/_matrix/client/v3/logout/all", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+other.AccessToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("logout/all: %v %v", resp, err)
	}

	sawBackoff := false
	timeout := time.After(deadline)
	for done := false; !done; {
		select {
		case f, ok := <-ob.frames:
			if !ok {
				t.Fatal("v12 connection closed")
			}
			if f["detail_type"] != "status_update" {
				continue
			}
			b := f["status"].(map[string]any)["bots"].([]any)[0].(map[string]any)
			switch b["matrix.state"] {
			case "backoff":
				sawBackoff = true
				if b["online"] != false {
					t.Errorf("status_update while the revoked session is retried: %v", b)
				}
				st := g.actionV12(authToken, "get_status", map[string]any{})
				gb := st["data"].(map[string]any)["bots"].([]any)[0].(map[string]any)
				if gb["matrix.state"] == "backoff" && gb["online"] != false {
					t.Errorf("get_status while the revoked session is retried: %v", gb)
				}
			case "offline":
				done = true
			}
		case <-timeout:
			t.Fatal("the bot did not go offline within the deadline")
		}
	}
	if !sawBackoff {
		t.Fatal("no status_update while the revoked session was retried (backoff)")
	}
}
