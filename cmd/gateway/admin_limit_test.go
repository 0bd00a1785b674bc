package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

// The admin page's failed logins count in the limiter the OneBot faces share, so an operator
// reads them in /metrics (onebot_gateway_auth_failures_total).
func TestAdminLoginFailuresInMetrics(t *testing.T) {
	hs := fakes.NewFakeFleetHomeserver(t, 1)
	bots, _ := json.Marshal([]map[string]any{fleetBot(hs, 0, nil)})
	g := startServe(t, map[string]string{"MATRIX_BOTS": string(bots), "GATEWAY_ACCESS_TOKEN": "admin-token", "GATEWAY_START_JITTER": "0s"})
	wait.For(t, time.Minute, "/readyz 200", func() bool { return g.readyz() == http.StatusOK })
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for range 3 {
		resp, err := c.PostForm(g.url+"/admin/login", url.Values{"token": {"guess"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("wrong admin token: %d, want 303 back to the form", resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, g.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer admin-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "onebot_gateway_auth_failures_total 3\n") {
		t.Errorf("/metrics (%d) does not count the 3 failed admin logins:\n%s", resp.StatusCode, body)
	}
	// The SQLite write turns (storage/writegate) are there for the operator too.
	for _, name := range []string{"onebot_gateway_db_write_waits_total ", "onebot_gateway_db_write_wait_seconds_total "} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
}
