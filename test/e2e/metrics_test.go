package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
)

const metricsToken = "metrics-e2e-secret-token"

// scrape reads /metrics (with the token when not "") as "name{sorted labels}" → value.
func scrape(t *testing.T, g *gatewayProc, token string) (int, map[string]float64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.url+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, out
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return resp.StatusCode, out
}

// series renders a series key as the exposition format writes it (labels sorted by name).
func series(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return "onebot_gateway_" + name + "{" + strings.Join(parts, ",") + "}"
}

// /metrics shows the counters moving by the right values while messages come in and actions
// run against a real Synapse; it needs the access token; get_status carries the bot's counters;
// the access log never shows the token of a ?access_token= request.
func TestMetricsCountersMove(t *testing.T) {
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	env := map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": metricsToken, "GATEWAY_ACCESS_LOG_LEVEL": "info",
	}
	dir := t.TempDir()
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	ob := dialV12(t, g, metricsToken)

	if code, _ := scrape(t, g, ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without the token: %d, want 401", code)
	}
	b := bot.UserID
	messagesIn := series("events_in_total", map[string]string{"bot": b, "type": "message"})
	eventsOut := series("events_out_total", map[string]string{"bot": b, "transport": "ws"})
	lag := series("sync_lag_seconds_count", map[string]string{"bot": b})
	sends := series("action_duration_seconds_count", map[string]string{"bot": b, "version": "12", "action": "send_message", "retcode": "0"})
	unknown := series("action_duration_seconds_count", map[string]string{"bot": b, "version": "12", "action": "unknown", "retcode": "10002"})
	hsSend := series("homeserver_requests_total", map[string]string{"bot": b, "method": "PUT", "status": "200",
		"endpoint": "/_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}"})
	syncing := series("sync_state", map[string]string{"bot": b, "state": "syncing"})
	syncs := series("homeserver_requests_total", map[string]string{"bot": b, "method": "GET", "status": "200", "endpoint": "/_matrix/client/v3/sync"})

	code, before := scrape(t, g, metricsToken)
	if code != http.StatusOK {
		t.Fatalf("/metrics with the token: %d", code)
	}
	if before[syncing] != 1 || before[syncs] < 1 {
		t.Fatalf("a syncing bot shows %s=%v, %s=%v", syncing, before[syncing], syncs, before[syncs])
	}
	for k := range before {
		if strings.Contains(k, string(room)) || strings.Contains(k, "?") {
			t.Fatalf("a label carries a room ID or a query: %s", k)
		}
	}

	for i := range 3 {
		alice.send(room, fmt.Sprintf("metrics %d", i))
		ob.nextMessage()
	}
	for i := range 2 {
		g.ok2(metricsToken, "send_message", map[string]any{"detail_type": "group", "group_id": string(room),
			"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": fmt.Sprintf("reply %d", i)}}}})
	}
	if r := g.actionV12(metricsToken, "no_such_action_"+strconv.Itoa(42), nil); r["retcode"] != float64(10002) {
		t.Fatalf("unknown action: %v", r)
	}
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "reply 1" })

	// Every event handed over (messages and whatever else the sync brought) went out to the one
	// WebSocket, and its age was observed.
	allIn := func(m map[string]float64) float64 {
		n := 0.0
		for k, v := range m {
			if strings.HasPrefix(k, "onebot_gateway_events_in_total{") && strings.Contains(k, `bot="`+b+`"`) {
				n += v
			}
		}
		return n
	}
	want := map[string]float64{messagesIn: 3, lag: 3, sends: 2, unknown: 1, hsSend: 2}
	var after map[string]float64
	waitFor(t, "the counters to move", func() bool {
		_, after = scrape(t, g, metricsToken)
		for k, d := range want {
			if after[k]-before[k] < d {
				return false
			}
		}
		return true
	})
	for k, d := range want {
		if got := after[k] - before[k]; k != lag && got != d {
			t.Errorf("%s moved by %v, want %v", k, got, d)
		}
	}
	in := allIn(after) - allIn(before)
	if out, lagged := after[eventsOut]-before[eventsOut], after[lag]-before[lag]; out != in || lagged != in {
		t.Errorf("events in moved by %v, events out (ws) by %v, sync lag observations by %v: want the same", in, out, lagged)
	}
	for k := range after {
		if strings.Contains(k, "no_such_action") {
			t.Errorf("a client's action name became a label: %s", k)
		}
	}

	// get_status carries the bot's counters.
	st := g.ok2(metricsToken, "get_status", nil).(map[string]any)
	bots := st["bots"].([]any)
	m, _ := bots[0].(map[string]any)["matrix.metrics"].(map[string]any)
	if got := m[`events_in_total{type="message"}`]; got != after[messagesIn] {
		t.Errorf("get_status matrix.metrics events_in_total{type=\"message\"} = %v, want %v (all: %v)", got, after[messagesIn], m)
	}

	// Access log: a request with ?access_token= is logged without its query.
	resp, err := http.Get(g.url + "/onebot/v11/get_status?access_token=" + metricsToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, "the access log line", func() bool { return strings.Contains(g.proc.Log(), "path=/onebot/v11/get_status") })
	if log := g.proc.Log(); strings.Contains(log, metricsToken) {
		t.Errorf("the log shows the access token:\n%s", grepLog(log, metricsToken))
	}
	g.stop()

	// GATEWAY_METRICS_PUBLIC: no token needed.
	env["GATEWAY_METRICS_PUBLIC"] = "true"
	env["GATEWAY_ACCESS_LOG_LEVEL"] = "debug"
	g = startGateway(t, dir, env)
	if code, pub := scrape(t, g, ""); code != http.StatusOK || pub[syncing] != 1 {
		t.Fatalf("public /metrics: %d, %s=%v", code, syncing, pub[syncing])
	}
}

// ok2 runs a v12 action with token and fails the test unless it succeeds.
func (g *gatewayProc) ok2(token, action string, params map[string]any) any {
	g.t.Helper()
	resp := g.actionV12(token, action, params)
	if resp["retcode"] != float64(0) {
		g.t.Fatalf("%s %v: %v", action, params, resp)
	}
	return resp["data"]
}

func grepLog(log, sub string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
