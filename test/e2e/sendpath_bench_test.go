package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// BenchmarkSendPath measures what the gateway adds to a bot's message send (issue 12: ≤ 2 ms over
// a direct PUT /send when the homeserver does not rate-limit). On one Synapse and one room, it
// times, call by call:
//
//   - direct: PUT /rooms/{room}/send as the bot with a plain Matrix client (a second login of the
//     bot user);
//   - gateway: a OneBot v12 send_message over HTTP (keep-alive) to the gateway, which sends as the
//     bot.
//
// Each is done one call after the other (latency) and at 5 calls/s started on a clock whatever
// the answers (issue 12's load: replies must not queue up). It reports p50/p99 of each and the
// p50 overheads; afterwards every gateway message must be in the room, each once, those sent one
// after the other in call order. No assertion on timing.
//
// Run it with: go test -tags goolm -run '^$' -bench SendPath -benchtime 40x ./test/e2e
func BenchmarkSendPath(b *testing.B) {
	const token = "bench-token"
	bot := newBotUser(b)
	alice := newHuman(b, "alice")
	g := startGateway(b, b.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true, "auto_accept_whitelist": []string{alice.user.UserID}}),
		"GATEWAY_ACCESS_TOKEN": token,
		"MATRIX_SYNC_TIMEOUT":  "30000",
		"GATEWAY_LOG_LEVEL":    "info",
	})
	ctx := b.Context()
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	direct, err := hs.Client(bot)
	if err != nil {
		b.Fatal(err)
	}
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	nonce := fmt.Sprintf("%x", time.Now().UnixNano())
	viaGateway := func(body string) (time.Duration, string) {
		start := time.Now()
		id := sendMessageV12(ctx, b, httpc, g.url, token, room, body)
		return time.Since(start), id
	}
	viaDirect := func(body string) (time.Duration, string) {
		start := time.Now()
		resp, err := direct.SendText(ctx, room, body)
		if err != nil {
			b.Errorf("direct send %q: %v", body, err)
			return 0, ""
		}
		return time.Since(start), string(resp.EventID)
	}
	viaGateway("warm-up " + nonce)
	viaDirect("warm-up " + nonce)

	var seqGW, seqDirect []time.Duration
	var seqIDs []string
	n := 0
	for b.Loop() {
		n++
		d, _ := viaDirect(fmt.Sprintf("direct %d %s", n, nonce))
		gw, evt := viaGateway(fmt.Sprintf("gateway %d %s", n, nonce))
		seqDirect, seqGW, seqIDs = append(seqDirect, d), append(seqGW, gw), append(seqIDs, evt)
	}
	b.StopTimer()
	// 5 calls/s, each started on the clock; as many calls as the sequential part made.
	paced := func(send func(string) (time.Duration, string), label string) []time.Duration {
		var (
			mu  sync.Mutex
			lat []time.Duration
			wg  sync.WaitGroup
		)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := range n {
			<-tick.C
			wg.Go(func() {
				d, _ := send(fmt.Sprintf("%s paced %d %s", label, i, nonce))
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			})
		}
		wg.Wait()
		return lat
	}
	pacedDirect := paced(viaDirect, "direct")
	pacedGW := paced(viaGateway, "gateway")

	// The gateway's messages sent one after the other are in the room in call order, each once.
	var inRoom []string
	from := ""
	for {
		page, err := alice.cli.Messages(ctx, room, from, "", mautrix.DirectionForward, nil, 1000)
		if err != nil {
			b.Fatal(err)
		}
		for _, evt := range page.Chunk {
			if evt.Type == event.EventMessage && slices.Contains(seqIDs, string(evt.ID)) {
				inRoom = append(inRoom, string(evt.ID))
			}
		}
		if page.End == "" || len(page.Chunk) == 0 {
			break
		}
		from = page.End
	}
	if !slices.Equal(inRoom, seqIDs) {
		b.Fatalf("the gateway's messages in the room: %v, want %v", inRoom, seqIDs)
	}

	report := func(name string, lat []time.Duration) time.Duration {
		slices.Sort(lat)
		p50, p99 := percentile(lat, 50), percentile(lat, 99)
		b.ReportMetric(ms(p50), name+"-p50-ms")
		b.ReportMetric(ms(p99), name+"-p99-ms")
		return p50
	}
	d50, g50 := report("direct", seqDirect), report("gw", seqGW)
	pd50, pg50 := report("direct-5hz", pacedDirect), report("gw-5hz", pacedGW)
	b.ReportMetric(ms(g50-d50), "overhead-p50-ms")
	b.ReportMetric(ms(pg50-pd50), "overhead-5hz-p50-ms")
	b.Logf("send path over %d calls each: p50 direct %.2f ms, gateway %.2f ms (overhead %.2f ms); at 5/s: direct %.2f ms, gateway %.2f ms (overhead %.2f ms)",
		n, ms(d50), ms(g50), ms(g50-d50), ms(pd50), ms(pg50), ms(pg50-pd50))
}

// sendMessageV12 sends text to room as the gateway's bot with a OneBot v12 send_message over HTTP
// and returns the message ID.
func sendMessageV12(ctx context.Context, tb testing.TB, c *http.Client, base, token string, room id.RoomID, text string) string {
	body, _ := json.Marshal(map[string]any{"action": "send_message", "params": map[string]any{
		"detail_type": "group", "group_id": room,
		"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": text}}},
	}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/onebot/v12/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		tb.Error(err)
		return ""
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Retcode int `json:"retcode"`
		Data    struct {
			MessageID string `json:"message_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Retcode != 0 {
		tb.Errorf("send_message %q: %d %s", text, resp.StatusCode, raw)
		return ""
	}
	return out.Data.MessageID
}
