package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/test/bench"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// onStandIn runs the parts against the stand-in homeserver replaying the recorded /sync stream.
func (r *benchRun) onStandIn(ctx context.Context) error {
	rec, err := fakes.LoadSyncRecording(filepath.Join(r.root, r.o.recording))
	if err != nil {
		return err
	}
	fake, err := fakes.NewFakeReplayHomeserver(rec)
	if err != nil {
		return err
	}
	defer fake.Close()
	fake.BatchSize = r.o.replayBatch
	var errs []error
	if r.o.parts["replay"] {
		if err := r.fanoutPart(ctx, fake, rec.RoomID); err != nil {
			errs = append(errs, fmt.Errorf("stand-in fan-out: %w", err))
		}
	}
	if r.o.parts["idle"] && ctx.Err() == nil {
		if err := r.idlePart(ctx, fake); err != nil {
			errs = append(errs, fmt.Errorf("stand-in idle bots: %w", err))
		}
	}
	if u := fake.Unserved(); len(u) > 0 {
		r.report.Notes = append(r.report.Notes, fmt.Sprintf("The stand-in homeserver did not serve (404 M_UNRECOGNIZED): %v", u))
	}
	return errors.Join(errs...)
}

// wsCounter is one v12 WebSocket client of the fan-out part: it counts the replayed messages it
// receives.
type wsCounter struct {
	conn     *websocket.Conn
	messages atomic.Int64
	first    chan struct{} // closed on the first frame (the connect meta event)
	closed   atomic.Bool
}

var replayMarker = []byte(`"$replay`)

func dialCounter(ctx context.Context, baseURL string) (*wsCounter, error) {
	c, err := bench.DialV12(ctx, baseURL, benchToken)
	if err != nil {
		return nil, err
	}
	w := &wsCounter{conn: c, first: make(chan struct{})}
	go func() {
		var once sync.Once
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				w.closed.Store(true)
				once.Do(func() { close(w.first) })
				return
			}
			once.Do(func() { close(w.first) })
			if bytes.Contains(data, replayMarker) && bytes.Contains(data, []byte(`"type":"message"`)) {
				w.messages.Add(1)
			}
		}
	}()
	return w, nil
}

// fanoutPart is part (c): one bot on the stand-in; each step releases the same number of
// messages to more v12 WebSocket clients, and measures the gateway's CPU and wall time until
// every client has every message.
func (r *benchRun) fanoutPart(ctx context.Context, fake *fakes.FakeReplayHomeserver, room string) error {
	fake.AddBot("replay-token", "@replaybot:localhost")
	bots, _ := json.Marshal([]any{map[string]any{"homeserver": fake.URL, "access_token": "replay-token", "user_id": "@replaybot:localhost", "device_id": "REPLAY"}})
	progress("stand-in: starting the gateway (1 bot)")
	g, err := bench.StartGateway(r.bin, mkdir(r.work, "gateway-replay"), map[string]string{
		"MATRIX_BOTS": string(bots), "MATRIX_SYNC_TIMEOUT": "30000", "GATEWAY_ACCESS_TOKEN": benchToken,
		"GATEWAY_PPROF": r.pprofAddr(),
		// All the clients come from 127.0.0.1: lift the per-address cap (64 by default).
		"GATEWAY_MAX_CONNECTIONS": "4096", "GATEWAY_MAX_CONNECTIONS_PER_ADDRESS": "4096",
	})
	if err != nil {
		return err
	}
	defer g.Stop()
	if _, err := g.WaitReady(withTimeout(ctx, 2*time.Minute)); err != nil {
		return err
	}
	sec := &bench.Section{
		Title: fmt.Sprintf("(c) Stand-in homeserver (recorded /sync replayed, %d messages per /sync, as fast as asked), %d messages per step",
			r.o.replayBatch, r.o.replayMsgs),
		Header: []string{"v12 WS clients", "wall s", "messages/s", "deliveries/s", "gateway CPU s", "CPU µs per message", "CPU µs per extra delivery", "messages per CPU-s", "deliveries per CPU-s"},
		Notes: []string{"The clients run in the benchmark's own process on the same cores; only the gateway's CPU is counted. " +
			"Per extra delivery = (CPU per message with N clients − with 1) / (N − 1)."},
	}
	r.report.Sections = append(r.report.Sections, sec)
	var clients []*wsCounter
	defer func() {
		for _, c := range clients {
			_ = c.conn.CloseNow()
		}
	}()
	perMsg1 := time.Duration(-1)
	for _, n := range r.o.fanout {
		for len(clients) < n {
			c, err := dialCounter(ctx, g.URL)
			if err != nil {
				return err
			}
			clients = append(clients, c)
		}
		for _, c := range clients {
			select {
			case <-c.first:
			case <-time.After(10 * time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		progress("stand-in: %d messages to %d clients", r.o.replayMsgs, n)
		targets := make([]int64, len(clients))
		for i, c := range clients {
			targets[i] = c.messages.Load() + int64(r.o.replayMsgs)
		}
		meter, err := bench.StartCPU(map[string]int{"gateway": g.PID()})
		if err != nil {
			return err
		}
		start := time.Now()
		fake.Release(r.o.replayMsgs)
		done := func() bool {
			for i, c := range clients {
				if c.messages.Load() < targets[i] {
					return false
				}
			}
			return true
		}
		tick := time.NewTicker(time.Millisecond)
		deadline := time.After(5 * time.Minute)
	wait:
		for !done() {
			select {
			case <-tick.C:
			case <-deadline:
				break wait
			case <-ctx.Done():
				tick.Stop()
				return ctx.Err()
			}
		}
		wall := time.Since(start)
		tick.Stop()
		cpu, _, err := meter.Stop()
		if err != nil {
			return err
		}
		if !done() {
			closed := 0
			for _, c := range clients {
				if c.closed.Load() {
					closed++
				}
			}
			return fmt.Errorf("with %d clients not every message arrived within 5 minutes (%d connections closed by the gateway)", n, closed)
		}
		perMsg := cpu["gateway"] / time.Duration(r.o.replayMsgs)
		extra := "—"
		if n == 1 {
			perMsg1 = perMsg
		} else if perMsg1 >= 0 {
			perExtra := (cpu["gateway"].Seconds() - perMsg1.Seconds()*float64(r.o.replayMsgs)) / float64(r.o.replayMsgs*(n-1))
			extra = fmt.Sprintf("%.2f", perExtra*1e6)
			if n == slices.Max(r.o.fanout) {
				r.report.Check(fmt.Sprintf("gateway CPU per extra delivery (stand-in, %d clients)", n), "µs", perExtra*1e6, 3)
			}
		}
		msgs := float64(r.o.replayMsgs)
		cpuS := cpu["gateway"].Seconds()
		sec.Add(n, wall.Seconds(), fmt.Sprintf("%.0f", msgs/wall.Seconds()), fmt.Sprintf("%.0f", msgs*float64(n)/wall.Seconds()),
			cpuS, bench.Us(perMsg), extra, fmt.Sprintf("%.0f", msgs/cpuS), fmt.Sprintf("%.0f", msgs*float64(n)/cpuS))
		if n == 1 {
			r.report.Check("gateway CPU per incoming message (stand-in, 1 client)", "µs", bench.Us(perMsg), 50)
			r.report.CheckAtLeast("messages ingested per CPU-second (stand-in, 1 client)", "msg/s", msgs/cpuS, 20000)
		}
		if n == slices.Max(r.o.fanout) && n > 1 {
			r.report.CheckAtLeast(fmt.Sprintf("deliveries per CPU-second (stand-in, %d clients)", n), "deliveries/s", msgs*float64(n)/cpuS, 200000)
		}
	}
	if err := r.standInSends(ctx, fake, g, room); err != nil {
		return fmt.Errorf("send path: %w", err)
	}
	if r.o.profileDir != "" {
		// A steady stream over the whole profile: one /sync batch every 50 ms (2,000 messages/s
		// with the default batch), to the clients of the last step.
		if err := r.profile(ctx, g, "standin-fanout", func(pctx context.Context) error {
			end := time.Now().Add(profileSeconds * time.Second)
			for time.Now().Before(end) {
				fake.Release(r.o.replayBatch)
				select {
				case <-pctx.Done():
					return pctx.Err()
				case <-time.After(50 * time.Millisecond):
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	return nil
}

// idlePart is part (e) on the stand-in: start to all-ready, RSS and CPU of idle bots.
func (r *benchRun) idlePart(ctx context.Context, fake *fakes.FakeReplayHomeserver) error {
	sec := &bench.Section{
		Title:  fmt.Sprintf("(e) Idle bots on the stand-in homeserver (each /sync long-polls 30 s): start to all-ready, RSS and CPU over %gs idle (%gs after all-ready)", r.o.idleSeconds, r.o.settleSeconds),
		Header: []string{"bots", "start to all-ready s", "RSS MiB", "RSS per bot over 1 bot MiB", "idle CPU % of a core"},
	}
	r.report.Sections = append(r.report.Sections, sec)
	var rss1 int64 = -1
	n1 := 0
	for _, n := range r.o.idleBots {
		entries := make([]any, n)
		for i := range n {
			// Each gateway gets bots of its own: a device whose keys another gateway uploaded is refused.
			token, user := fmt.Sprintf("idle-token-%d-%d", n, i), fmt.Sprintf("@idle%d-%d:localhost", n, i)
			fake.AddBot(token, user)
			entries[i] = map[string]any{"homeserver": fake.URL, "access_token": token, "user_id": user, "device_id": "REPLAY"}
		}
		progress("stand-in: %d idle bots", n)
		dir := mkdir(r.work, fmt.Sprintf("gateway-idle-%d", n))
		botsFile, err := writeBots(dir, entries)
		if err != nil {
			return err
		}
		ready, rss, cpu, err := r.startIdle(ctx, dir,
			map[string]string{"MATRIX_BOTS_FILE": botsFile, "MATRIX_SYNC_TIMEOUT": "30000", "GATEWAY_ACCESS_TOKEN": benchToken,
				"GATEWAY_PPROF": r.pprofAddr()}, r.o.idleSeconds)
		if err != nil {
			return fmt.Errorf("%d bots: %w", n, err)
		}
		per := "—"
		if rss1 < 0 {
			rss1, n1 = rss, n
		} else if n > n1 {
			perBot := bench.MiB(rss-rss1) / float64(n-n1)
			per = fmt.Sprintf("%.3f", perBot)
			if n == slices.Max(r.o.idleBots) {
				r.report.Check(fmt.Sprintf("RSS per idle bot (stand-in, %d vs %d bots)", n, n1), "MiB", perBot, 2)
			}
		}
		sec.Add(n, ready.Seconds(), bench.MiB(rss), per, cpu)
		if n == slices.Max(r.o.idleBots) {
			r.report.Check(fmt.Sprintf("CPU of %d idle bots (stand-in)", n), "% of a core", cpu, 5)
			r.report.Notes = append(r.report.Notes, fmt.Sprintf("Start to all-ready for %d bots on the stand-in: %.2f s (issue 13: bounded by the homeserver; no number).", n, ready.Seconds()))
		}
	}
	return nil
}

// writeBots writes the MATRIX_BOTS list to dir/bots.json (MATRIX_BOTS_FILE): a thousand bots
// do not fit in one environment variable (128 KiB).
func writeBots(dir string, entries []any) (string, error) {
	b, err := json.Marshal(entries)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "bots.json")
	return path, os.WriteFile(path, b, 0o600)
}

func mkdir(parent, name string) string {
	dir := filepath.Join(parent, name)
	_ = os.MkdirAll(dir, 0o755)
	return dir
}

func withTimeout(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	time.AfterFunc(d, cancel)
	return c
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(a, b) })
	return keys
}

// standInSends is the send path against the stand-in, which accepts a send at once: one at a
// time, alternating, send_message through the gateway and a direct PUT /send of the same content
// as the same bot. With the homeserver's own time (and its noise) out of the path, the
// difference is what the gateway adds to a send.
func (r *benchRun) standInSends(ctx context.Context, fake *fakes.FakeReplayHomeserver, g *bench.Gateway, room string) error {
	progress("stand-in: %d sends through the gateway and %d direct PUTs", r.o.sends, r.o.sends)
	client := &http.Client{Timeout: time.Minute}
	var viaGW, direct bench.Dist
	for i := range r.o.sends {
		text := fmt.Sprintf("stand-in send %d", i)
		action, _ := json.Marshal(map[string]any{"action": "send_message", "params": map[string]any{
			"detail_type": "group", "group_id": room,
			"message": []any{map[string]any{"type": "text", "data": map[string]string{"text": text}}},
		}})
		d, err := timedRequest(ctx, client, http.MethodPost, g.URL+"/onebot/v12/", benchToken, action)
		if err != nil {
			return fmt.Errorf("send_message through the gateway: %w", err)
		}
		viaGW = append(viaGW, d)
		put, _ := json.Marshal(map[string]any{"msgtype": "m.text", "body": text, "m.mentions": map[string]any{}})
		u := fmt.Sprintf("%s/_matrix/client/v3/rooms/%s/send/m.room.message/bench-%s-%d", fake.URL, url.PathEscape(room), r.nonce, i)
		d, err = timedRequest(ctx, client, http.MethodPut, u, "replay-token", put)
		if err != nil {
			return fmt.Errorf("direct PUT /send: %w", err)
		}
		direct = append(direct, d)
	}
	sec := &bench.Section{
		Title:  fmt.Sprintf("(d) Send path on the stand-in homeserver (it accepts a send at once), one send at a time, %d each, alternating", r.o.sends),
		Header: []string{"path", "p50 ms", "p99 ms"},
		Notes: []string{"The homeserver's own time is out of both paths: the overhead is what the gateway adds to a send " +
			"(the OneBot HTTP request, the send queue, the homeserver request, the message index)."},
	}
	sec.Add("send_message through the gateway (v12 HTTP action)", bench.Ms(viaGW.Percentile(50)), bench.Ms(viaGW.Percentile(99)))
	sec.Add("direct PUT /rooms/{room}/send on the stand-in, same bot", bench.Ms(direct.Percentile(50)), bench.Ms(direct.Percentile(99)))
	sec.Add("overhead of the gateway", bench.Ms(viaGW.Percentile(50)-direct.Percentile(50)), bench.Ms(viaGW.Percentile(99)-direct.Percentile(99)))
	r.report.Sections = append(r.report.Sections, sec)
	return nil
}
