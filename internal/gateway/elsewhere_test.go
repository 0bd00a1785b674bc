package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/fakes"
)

// With several gateways (Options.Elsewhere), get_status over a connection for every bot says
// which bots the other gateways run (matrix.elsewhere, without this gateway's own), next to
// bots, this gateway's; a call limited to one bot (its own token) is not told of the others.
func TestGetStatusSaysWhichBotsRunElsewhere(t *testing.T) {
	h := NewHub(Options{
		Version: "test", AccessToken: "global", BotTokens: true, HeartbeatInterval: time.Hour, IDs: newTestDB(t).IDs(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ExpectedBots: 1,
		Elsewhere: func(context.Context) []string {
			return []string{"@z:example.org", "@bot:example.org", "@a:example.org"} // the owners' map has this gateway's too
		},
	})
	h.AddBotWithToken(fakes.NewFakeBot("@bot:example.org"), 10001, "tok-a")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	code, r := post(t, srv, "/onebot/v12/", `{"action":"get_status"}`, auth("global"))
	d, _ := r["data"].(map[string]any)
	if code != http.StatusOK || d == nil {
		t.Fatalf("get_status: %d %v", code, r)
	}
	var got []string
	list, _ := d["matrix.elsewhere"].([]any)
	for _, u := range list {
		got = append(got, u.(string))
	}
	if !slices.Equal(got, []string{"@a:example.org", "@z:example.org"}) {
		t.Errorf("matrix.elsewhere = %v; want the other gateways' bots, sorted, without this one's", got)
	}
	if bots, _ := d["bots"].([]any); len(bots) != 1 {
		t.Errorf("bots = %v; want this gateway's one bot", d["bots"])
	}
	_, r = post(t, srv, "/onebot/v12/", `{"action":"get_status"}`, auth("tok-a"))
	if d, _ := r["data"].(map[string]any); d == nil || d["matrix.elsewhere"] != nil {
		t.Errorf("get_status with a bot's own token: %v; want no matrix.elsewhere", r)
	}
}
