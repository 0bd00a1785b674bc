package gateway

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// panickingBot is a bot with a bug: get_user_info panics.
type panickingBot struct{ *fakes.FakeBot }

func (panickingBot) UserInfo(context.Context, id.UserID) (model.UserInfo, error) {
	var m map[string]int
	m["boom"]++ // assignment to entry in nil map
	return model.UserInfo{}, nil
}

// A bug that panics in an action answers that call with an internal error and is logged with
// its stack; it never takes the process (every bot, every connection) down. WebSocket actions
// run in goroutines of their own, outside net/http's recovery.
func TestActionPanicIsAnInternalError(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	var logs logBuffer
	h.log = slog.New(slog.NewTextHandler(&logs, nil))
	h.AddBot(panickingBot{fakes.NewFakeBot("@buggy:example.org")}, 10002)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), nil)
	req := `{"action":"get_user_info","params":{"user_id":"@alice:example.org"},"self":{"platform":"matrix","user_id":"@buggy:example.org"},"echo":"e1"}`
	for range 2 { // the connection outlives the first one
		if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
			t.Fatal(err)
		}
		for {
			f := readJSON(t, ctx, c)
			if f["echo"] != "e1" {
				continue // connect, status_update
			}
			if f["status"] != "failed" || f["retcode"] != float64(v12InternalHandler) || !strings.Contains(f["message"].(string), "internal error") {
				t.Fatalf("a panicking action answered %v, want an internal error", f)
			}
			break
		}
	}
	if out := logs.String(); !strings.Contains(out, "get_user_info") || !strings.Contains(out, "panic_test.go") {
		t.Fatalf("the log does not show the panic and where it happened:\n%s", out)
	}
}
