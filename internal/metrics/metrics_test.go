package metrics

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// The homeserver transport counts each request by method, endpoint template and status, and
// 429s on their own; an unreachable server is status "error".
func TestTransportCountsRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/send/") {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	m := New()
	tr := &Transport{M: m, Bot: func() string { return "@bot:hs" }, Next: http.DefaultTransport}
	cli := &http.Client{Transport: tr}
	for _, p := range []string{"/_matrix/client/v3/sync?since=s1&access_token=secret", "/_matrix/client/v3/sync",
		"/_matrix/client/v3/rooms/!r:hs/send/m.room.message/t1"} {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+p, nil)
		if strings.Contains(p, "sync") {
			req.Method = http.MethodGet
		}
		resp, err := cli.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	dead := &http.Client{Transport: &Transport{M: m, Bot: func() string { return "@bot:hs" }, Next: http.DefaultTransport}}
	if _, err := dead.Get("http://127.0.0.1:1/_matrix/client/v3/account/whoami"); err == nil {
		t.Fatal("expected a dial error")
	}
	got := m.BotCounters("@bot:hs")
	for k, want := range map[string]float64{
		`homeserver_requests_total{endpoint="/_matrix/client/v3/sync",method="GET",status="200"}`:                                       2,
		`homeserver_requests_total{endpoint="/_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}",method="PUT",status="429"}`: 1,
		`homeserver_requests_total{endpoint="/_matrix/client/v3/account/whoami",method="GET",status="error"}`:                           1,
		`homeserver_rate_limited_total`: 1,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v; all: %v", k, got[k], want, got)
		}
	}
	for k := range got {
		if strings.Contains(k, "secret") || strings.Contains(k, "!r:hs") {
			t.Errorf("a label carries part of the raw URL: %s", k)
		}
	}
}

// BotCounters gives one bot's series only, without the bot label; sync_state is 1 for the
// current state only; sources are read at call time.
func TestBotCounters(t *testing.T) {
	m := New()
	m.SyncState("@a:hs", "backoff")
	m.SyncState("@a:hs", "syncing")
	m.SyncState("@b:hs", "offline")
	m.EventIn("@a:hs", "message", time.Now().Add(-2*time.Second))
	m.EventOut("@a:hs", TransportWS)
	m.EventsOut("@a:hs", TransportWebhook, 3) // three connections of a transport at once
	m.EventsOut("@a:hs", TransportWebhook, 0)
	m.Action("@a:hs", 11, "send_msg", 0, 30*time.Millisecond)
	m.TokenRefresh("@a:hs", nil)
	m.TokenRefresh("@a:hs", errors.New("refused"))
	n := 0.0
	m.AddSource(func() []Sample {
		n++
		return []Sample{{Name: "e2ee_events_total", Labels: map[string]string{"bot": "@a:hs", "kind": "held"}, Value: n}}
	})
	got := m.BotCounters("@a:hs")
	for k, want := range map[string]float64{
		`sync_state{state="syncing"}`: 1, `sync_state{state="backoff"}`: 0, `sync_state{state="offline"}`: 0,
		`events_in_total{type="message"}`: 1, `events_out_total{transport="ws"}`: 1, `events_out_total{transport="webhook"}`: 3, `sync_lag_seconds_count`: 1,
		`action_duration_seconds_count{action="send_msg",retcode="0",version="11"}`: 1,
		`token_refreshes_total{result="ok"}`:                                        1, `token_refreshes_total{result="failed"}`: 1,
		`e2ee_events_total{kind="held"}`: 1,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v; all: %v", k, v, ok, want, got)
		}
	}
	if lag := got["sync_lag_seconds_sum"]; lag < 2 || lag > 60 {
		t.Errorf("sync lag sum %v, want about 2 s", lag)
	}
	if _, ok := m.BotCounters("@b:hs")[`events_in_total{type="message"}`]; ok {
		t.Error("bot b shows bot a's events")
	}
	if got := m.BotCounters("@a:hs")[`e2ee_events_total{kind="held"}`]; got != 3 { // the third call
		t.Errorf("a source is read at each call: got %v, want 3", got)
	}
}

// A nil *Metrics records nothing and does not panic (hubs and sessions in tests have none).
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.SyncState("@a:hs", "syncing")
	m.EventIn("@a:hs", "message", time.Now())
	m.EventOut("@a:hs", TransportWS)
	m.Action("@a:hs", 12, "x", 0, time.Second)
	m.TokenRefresh("@a:hs", nil)
	m.AddSource(nil)
	if len(m.BotCounters("@a:hs")) != 0 {
		t.Fatal("nil metrics have counters")
	}
}

// The per-event series are kept for speed, but a forgotten bot's are made again: counting after
// ForgetBot starts from zero and shows up.
func TestForgetBotThenCountsAgain(t *testing.T) {
	m := New()
	for range 2 {
		m.EventIn("@a:hs", "message", time.Now())
		m.EventOut("@a:hs", TransportWS)
	}
	m.ForgetBot("@a:hs")
	if got := m.BotCounters("@a:hs"); len(got) != 0 {
		t.Fatalf("after ForgetBot: %v, want nothing", got)
	}
	m.EventIn("@a:hs", "message", time.Now())
	m.EventOut("@a:hs", TransportWS)
	got := m.BotCounters("@a:hs")
	for k, want := range map[string]float64{`events_in_total{type="message"}`: 1, `events_out_total{transport="ws"}`: 1, `sync_lag_seconds_count`: 1} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v; all: %v", k, v, ok, want, got)
		}
	}
}

// The fleet's metrics are served under their names, and a nil *Fleet records nothing.
func TestFleetMetrics(t *testing.T) {
	m := New()
	f := m.Fleet()
	f.HandedOver(3)
	f.HandedOver(0)
	f.TookOver()
	f.LostLock()
	f.Running(4)
	done := f.GateWaiting()
	if got := m.Value("start_gate_waiting"); got != 1 {
		t.Errorf("start_gate_waiting while one waits = %v, want 1", got)
	}
	done()
	for name, want := range map[string]float64{"cluster_handovers_total": 3, "cluster_takeovers_total": 1, "cluster_lock_lost_total": 1,
		"cluster_bots": 4, "start_gate_wait_seconds": 1, "start_gate_waiting": 0} {
		if got := m.Value(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "onebot_gateway_cluster_takeovers_total 1") {
		t.Errorf("/metrics lacks the takeovers:\n%s", rec.Body.String())
	}
	var none *Metrics
	none.Fleet().HandedOver(1)
	none.Fleet().GateWaiting()()
	if none.Value("cluster_handovers_total") != 0 {
		t.Error("nil metrics have a value")
	}
}

// README's list of metrics ("Metrics and access log") names every metric the registry serves
// once each has a series: a metric added without a line there fails here.
func TestREADMEListsTheMetrics(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	if i := strings.Index(section, "## Metrics and access log"); i >= 0 {
		section = section[i:]
		if j := strings.Index(section[3:], "\n## "); j >= 0 {
			section = section[:j+3]
		}
	}
	m := New()
	m.SyncState("@a:hs", "syncing")
	m.EventIn("@a:hs", "message", time.Now())
	m.EventOut("@a:hs", TransportWS)
	m.SlowClient("@a:hs", true)
	m.Action("@a:hs", 12, "x", 0, time.Millisecond)
	m.TokenRefresh("@a:hs", nil)
	m.PrunePass(nil)
	m.hsRequests.WithLabelValues("@a:hs", "GET", "/x", "200").Inc()
	m.hsRateLimited.WithLabelValues("@a:hs").Inc()
	f := m.Fleet()
	f.HandedOver(1)
	f.TookOver()
	f.LostLock()
	f.Running(1)
	f.GateWaiting()()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fam := range families {
		name, ok := strings.CutPrefix(fam.GetName(), namespace+"_")
		if !ok {
			continue // the Go runtime's and the process's
		}
		n++
		if !strings.Contains(section, "`"+name) {
			t.Errorf("README's metrics list lacks %s", name)
		}
	}
	if n < 15 {
		t.Fatalf("only %d metrics of the gateway were served", n)
	}
}
