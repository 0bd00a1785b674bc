package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/internal/await"
	"github.com/matrix-onebot/gateway/test/bench"
	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/harness/postgres"
)

// failoverPart is the failover row of issue 13: several gateways (GATEWAY_CLUSTER) on one
// throwaway PostgreSQL share the bots, all on the stand-in homeserver, while a steady stream of
// messages goes to every bot; one gateway is killed with SIGKILL. It measures, for each bot the
// killed gateway ran, the time from the kill until another gateway lists it syncing in /readyz
// and until its first event reaches a OneBot client of another gateway, and then whether every
// message released while the gateways ran reached a client: lost, repeated and marked replayed,
// or repeated unmarked. One v12 forward WebSocket per gateway sees that gateway's bots.
//
// The stand-in keeps the homeserver out of the numbers: what is measured is the gateways' lock
// hand-over (the grace period) and the bots' start, not Synapse's speed.
func (r *benchRun) failoverPart(ctx context.Context) error {
	o := r.o
	progress("failover: starting PostgreSQL")
	pg, err := postgres.Start(ctx)
	if err != nil {
		return err
	}
	defer pg.Stop()
	db, err := pg.NewDatabase(ctx)
	if err != nil {
		return err
	}
	rec, err := fakes.LoadSyncRecording(filepath.Join(r.root, o.recording))
	if err != nil {
		return err
	}
	fake, err := fakes.NewFakeReplayHomeserver(rec)
	if err != nil {
		return err
	}
	defer fake.Close()

	bots := make([]string, o.failoverBots)
	entries := make([]any, o.failoverBots)
	for i := range bots {
		token := fmt.Sprintf("failover-token-%d", i)
		bots[i] = fmt.Sprintf("@failover%d:localhost", i)
		fake.AddBot(token, bots[i])
		entries[i] = map[string]any{"homeserver": fake.URL, "access_token": token, "user_id": bots[i], "device_id": "REPLAY"}
	}
	gws := make([]*bench.Gateway, 0, o.failoverInstances)
	defer func() {
		for _, g := range gws {
			_ = g.Stop()
		}
	}()
	progress("failover: %d gateways, %d bots", o.failoverInstances, o.failoverBots)
	for i := range o.failoverInstances {
		dir := mkdir(r.work, fmt.Sprintf("gateway-failover-%d", i))
		botsFile, err := writeBots(dir, entries)
		if err != nil {
			return err
		}
		addr, err := bench.FreeAddr()
		if err != nil {
			return err
		}
		g, err := bench.StartGateway(r.bin, dir, map[string]string{
			"MATRIX_BOTS_FILE": botsFile, "MATRIX_SYNC_TIMEOUT": "30000", "GATEWAY_ACCESS_TOKEN": benchToken,
			"GATEWAY_DATABASE": db, "GATEWAY_PICKLE_KEY": "bench-failover-pickle-key",
			"GATEWAY_CLUSTER": "true", "GATEWAY_LISTEN": addr, "GATEWAY_CLUSTER_URL": "http://" + addr,
			"GATEWAY_START_JITTER": "0s",
		})
		if err != nil {
			return err
		}
		gws = append(gws, g)
	}
	// All bots running, each on one gateway. Every poll also looks for a bot two gateways list
	// syncing at once (it must never happen).
	twice := map[string]bool{}
	// Before the kill (all gateways polled), a bot syncing on a gateway at one poll and not at the
	// next has been stopped there: churn, counted (a lower bound: a poll can miss a quick flip).
	last := map[string]int{}
	left := 0
	owners := func(live []*bench.Gateway) (map[string][]int, bool) {
		where := map[string][]int{}
		allReady := true
		for i, g := range live {
			rep, ok := readyz(ctx, g)
			if !ok {
				allReady = false
				continue
			}
			for _, b := range rep.Bots {
				if b.State == "syncing" {
					where[b.UserID] = append(where[b.UserID], i)
				} else {
					allReady = false
				}
			}
		}
		for b, on := range where {
			if len(on) > 1 {
				twice[b] = true
			}
		}
		if len(live) == len(gws) {
			for b, g := range last {
				if !slices.Contains(where[b], g) {
					left++
					delete(last, b)
				}
			}
			for b, on := range where {
				last[b] = on[0]
			}
		}
		return where, allReady
	}
	if err := pollUntil(ctx, 3*time.Minute, func() bool {
		where, ok := owners(gws)
		return ok && len(where) == len(bots)
	}); err != nil {
		return fmt.Errorf("the %d gateways did not run the %d bots between them: %w; last lines of the first log:\n%s", len(gws), len(bots), err, gws[0].LogTail(20))
	}

	tally := bench.NewTally()              // every client's events: lost and duplicated
	each := make([]*bench.Tally, len(gws)) // each gateway's client's: whose event came when
	readers := sync.WaitGroup{}
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			_ = c.CloseNow()
		}
		readers.Wait()
	}()
	for i, g := range gws {
		c, err := bench.DialV12(ctx, g.URL, benchToken)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		mine := bench.NewTally()
		each[i] = mine
		readers.Go(func() {
			for {
				_, data, err := c.Read(context.Background())
				if err != nil {
					return
				}
				now := time.Now()
				tally.Add(data, now)
				mine.Add(data, now)
			}
		})
	}

	// The steady stream: one message to every bot each 1/rate s, from now to the end.
	first := fake.Released() + 1
	streamCtx, stopStream := context.WithCancel(ctx)
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		tick := time.NewTicker(time.Duration(float64(time.Second) / o.failoverRate))
		defer tick.Stop()
		for {
			fake.Release(1)
			select {
			case <-streamCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { stopStream(); <-streamed }()
	messages := func() []string {
		var ids []string
		for n := first; n <= fake.Released(); n++ {
			ids = append(ids, fmt.Sprintf("$replay%d", n))
		}
		return ids
	}
	// Before the kill, the stream flows to every bot for a while.
	if err := await.Sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	warm := messages()
	if err := pollUntil(ctx, time.Minute, func() bool { return tally.Delivered(bots, warm) }); err != nil {
		return fmt.Errorf("the stream did not reach every bot before the kill: %w", err)
	}

	// The bots spread evenly (no gateway over ceil(bots / gateways)) and all syncing, or as close
	// as they came within the limit: the kill goes ahead either way, and the row says the spread.
	share := (len(bots) + len(gws) - 1) / len(gws)
	var per [][]string
	spreadOK := pollUntil(ctx, 30*time.Second, func() bool {
		where, ok := owners(gws)
		per = make([][]string, len(gws))
		for b, on := range where {
			per[on[0]] = append(per[on[0]], b)
		}
		for _, p := range per {
			ok = ok && len(p) <= share
		}
		return ok && len(where) == len(bots)
	}) == nil
	counts := make([]string, len(per))
	victim := 0
	for i := range per {
		counts[i] = fmt.Sprint(len(per[i]))
		if len(per[i]) > len(per[victim]) {
			victim = i
		}
	}
	if !spreadOK {
		r.report.Notes = append(r.report.Notes, fmt.Sprintf("Failover: the bots did not settle at most %d per gateway within 30 s of all running; syncing per gateway at the kill: %s.",
			share, strings.Join(counts, " / ")))
	}
	// Kill the gateway that runs the most bots. Moved are the bots no survivor runs at the kill:
	// the victim's, and any between two gateways at that moment.
	progress("failover: kill -9 of gateway %d (%d bots syncing on it)", victim, len(per[victim]))
	if err := syscall.Kill(gws[victim].PID(), syscall.SIGKILL); err != nil {
		return err
	}
	killed := time.Now()
	survivors := slices.Delete(slices.Clone(gws), victim, victim+1)
	kept, _ := owners(survivors)
	var moved []string
	for _, b := range bots {
		if len(kept[b]) == 0 {
			moved = append(moved, b)
		}
	}

	ready := map[string]time.Duration{}
	delivered := map[string]time.Duration{}
	limit := time.Duration(o.failoverLimit * float64(time.Second))
	_ = pollUntil(ctx, limit, func() bool {
		where, _ := owners(survivors)
		now := time.Since(killed)
		for _, b := range moved {
			if _, ok := ready[b]; !ok && len(where[b]) > 0 {
				ready[b] = now
			}
			if _, ok := delivered[b]; !ok {
				// Only a survivor's client counts: the killed gateway's may still read what was
				// on its way before the kill.
				for i, t := range each {
					if i == victim {
						continue
					}
					at, ok := t.FirstAfter(b, killed)
					if cur, have := delivered[b]; ok && (!have || at.Sub(killed) < cur) {
						delivered[b] = at.Sub(killed)
					}
				}
			}
		}
		return len(ready) == len(moved) && len(delivered) == len(moved)
	})
	// A while more of the stream after the takeover, then it stops and every message must arrive.
	if err := await.Sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	stopStream()
	<-streamed
	all := messages()
	_ = pollUntil(ctx, time.Minute, func() bool { return tally.Delivered(bots, all) })
	loss := tally.Count(bots, all)

	sec := &bench.Section{
		Title: fmt.Sprintf("(f) Failover: %d gateways (GATEWAY_CLUSTER) on one PostgreSQL, %d bots on the stand-in homeserver, a message to every bot %g times a second; kill -9 of the gateway running the most bots",
			len(gws), len(bots), o.failoverRate),
		Header: []string{"gateways", "bots", "syncing per gateway at the kill", "bots moved", "kill → moved bots syncing elsewhere, p50 / max s", "kill → each moved bot's first event at a client, p50 / max s",
			"deliveries expected", "lost", "repeats marked replayed", "unmarked duplicates", "bots seen syncing on two gateways at once", "bot stops before the kill (churn)"},
		Notes: []string{"Each gateway has one v12 forward WebSocket client, which sees that gateway's bots; the kill's client connection ends with it. " +
			"A moved bot's first event is the first message event of that bot read by a client at or after the kill (the stream sends one every " +
			fmt.Sprintf("%.0f ms", 1000/o.failoverRate) + "). Lost, repeats and duplicates count every message released from the stream's start to its end, for every bot. " +
			"Every /readyz poll of the run (each 50 ms from the start) looks for a bot two gateways list as syncing; " +
			"before the kill, a bot listed syncing on a gateway at one poll and not at the next counts as a stop (churn: at least that many)."},
	}
	r.report.Sections = append(r.report.Sections, sec)
	readyP50, readyMax := spread(ready, moved)
	firstP50, firstMax := spread(delivered, moved)
	sec.Add(len(gws), len(bots), strings.Join(counts, " / "), len(moved), readyP50+" / "+readyMax, firstP50+" / "+firstMax, loss.Expected, loss.Lost, loss.Marked, loss.Unmarked, len(twice), left)

	target := "failover: kill -9 → every moved bot's first event at a client of another gateway"
	if len(delivered) < len(moved) {
		r.report.Targets = append(r.report.Targets, bench.Target{Name: target, Goal: "≤ 15 s",
			Measured: fmt.Sprintf("%d of %d moved bots had no event after %v", len(moved)-len(delivered), len(moved), limit)})
	} else {
		r.report.Check(target, "s", maxDur(delivered).Seconds(), 15)
	}
	r.report.Check("failover: messages lost (of "+fmt.Sprint(loss.Expected)+" deliveries)", "messages", float64(loss.Lost), 0)
	r.report.Check("failover: unmarked duplicates", "messages", float64(loss.Unmarked), 0)
	var errs []error
	if len(twice) > 0 {
		errs = append(errs, fmt.Errorf("bots syncing on two gateways at once: %v", sortedKeys(twice)))
	}
	if len(ready) < len(moved) {
		errs = append(errs, fmt.Errorf("%d of %d moved bots were not syncing on another gateway %v after the kill", len(moved)-len(ready), len(moved), limit))
	}
	return errors.Join(errs...)
}

// readyz reads g's /readyz (false when it does not answer).
func readyz(ctx context.Context, g *bench.Gateway) (readyReport, bool) {
	var rep readyReport
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := g.Get(cctx, g.URL+"/readyz", "")
	if err != nil {
		return rep, false
	}
	defer resp.Body.Close()
	if json.NewDecoder(resp.Body).Decode(&rep) != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable) {
		return rep, false
	}
	return rep, true
}

type readyReport struct {
	Bots []struct {
		UserID string `json:"user_id"`
		State  string `json:"state"`
	} `json:"bots"`
}

// pollUntil checks cond every 50 ms until it holds or limit passes.
func pollUntil(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("not within %v", limit)
		case <-tick.C:
		}
	}
	return nil
}

// spread is the median and the maximum of the durations of keys, in seconds ("—" when one is
// missing: the maximum is then unknown).
func spread(d map[string]time.Duration, keys []string) (string, string) {
	var all []time.Duration
	for _, k := range keys {
		if v, ok := d[k]; ok {
			all = append(all, v)
		}
	}
	if len(all) == 0 {
		return "—", "—"
	}
	slices.Sort(all)
	p50 := fmt.Sprintf("%.2f", all[len(all)/2].Seconds())
	if len(all) < len(keys) {
		return p50, fmt.Sprintf("> %.0f (%d missing)", all[len(all)-1].Seconds(), len(keys)-len(all))
	}
	return p50, fmt.Sprintf("%.2f", all[len(all)-1].Seconds())
}

func maxDur(d map[string]time.Duration) time.Duration {
	var m time.Duration
	for _, v := range d {
		m = max(m, v)
	}
	return m
}
