package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/bench"
	"github.com/matrix-onebot/gateway/test/harness"
)

const (
	benchToken = "bench-token" // clients → gateway
	pushToken  = "bench-push"  // gateway → NoneBot2 (reverse WebSocket)
	seedVenv   = "bench-seed"
	seedReqs   = "test/bench/clients/seed/requirements.txt"
)

// Observer names, as they report to the collector.
const (
	obsSync    = "sync"
	obsWS      = "ws"
	obsNoneBot = "nonebot"
	obsSeed    = "seed"
)

var observerTitles = map[string]string{
	obsSync:    "plain Matrix /sync client (Go, mautrix)",
	obsWS:      "OneBot v12 WebSocket client of the gateway",
	obsNoneBot: "NoneBot2 + nonebot-adapter-onebot (v12 reverse WS) via the gateway",
	obsSeed:    "NoneBot2 + nonebot-adapter-matrix 0.3.1 (Python, syncs itself)",
}

// onSynapse runs the parts that need the real homeserver.
func (r *benchRun) onSynapse(ctx context.Context) error {
	progress("starting Synapse (installed into .cache on first use)")
	sctx, cancel := context.WithTimeout(ctx, harness.StartTimeout)
	hs, err := harness.StartSynapse(sctx, harness.SynapseOptions{Dir: filepath.Join(r.work, "synapse")})
	cancel()
	if err != nil {
		return err
	}
	defer hs.Stop()
	var errs []error
	if r.o.parts["relay"] || r.o.parts["echo"] || r.o.parts["send"] {
		if err := r.relayParts(ctx, hs); err != nil {
			errs = append(errs, err)
		}
	}
	if r.o.parts["bots"] && ctx.Err() == nil {
		if err := r.botsPart(ctx, hs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// relayScene is one Synapse room with the bot (through the gateway), a sender, a plain /sync
// observer, and the seed adapter's own account. The gateway and the plain /sync observer reach
// Synapse through timing proxies of their own, which note when each /sync answer was complete.
type relayScene struct {
	hs        *harness.Homeserver
	room      id.RoomID
	alice     *mautrix.Client
	bot       *harness.User
	bob       *harness.User    // the plain /sync client's user
	syncObs   *harness.Process // the plain /sync client (bob)
	seed      *harness.NoneBot // nonebot-adapter-matrix, a third /sync client of Synapse; nil = not run
	g         *bench.Gateway
	gwProxy   *bench.TimingProxy // between the gateway and Synapse
	bobProxy  *bench.TimingProxy // between bob's plain /sync client and Synapse
	seedProxy *bench.TimingProxy // between the seed adapter and Synapse (the same hop as the others)
	observers []string
	pids      map[string]int
}

func (r *benchRun) relayParts(ctx context.Context, hs *harness.Homeserver) error {
	s, stop, err := r.setupScene(ctx, hs)
	defer stop()
	if err != nil {
		return err
	}
	var errs []error
	if r.o.parts["relay"] {
		if err := r.relayPart(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("receive latency: %w", err))
		}
	}
	if r.o.parts["echo"] && ctx.Err() == nil {
		if err := r.echoPart(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("echo: %w", err))
		}
	}
	if r.o.parts["send"] && ctx.Err() == nil {
		if err := r.sendPart(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("send path: %w", err))
		}
	}
	if r.o.profileDir != "" && ctx.Err() == nil {
		if err := r.profile(ctx, s.g, "synapse-relay", func(pctx context.Context) error {
			return r.sendMessages(pctx, s, r.o.messages, r.o.rate, "profile")
		}); err != nil {
			errs = append(errs, fmt.Errorf("profile: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (r *benchRun) setupScene(ctx context.Context, hs *harness.Homeserver) (*relayScene, func(), error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	s := &relayScene{hs: hs, pids: map[string]int{"Synapse (homeserver)": hs.PID()}}
	users := map[string]*harness.User{}
	for _, name := range []string{"bot", "alice", "bob", "seed"} {
		u, err := hs.RegisterUser(ctx, name, "pw-"+name+"-"+r.nonce, false)
		if err != nil {
			return nil, stop, err
		}
		users[name] = u
	}
	s.bot, s.bob = users["bot"], users["bob"]
	clients := map[string]*mautrix.Client{}
	for name, u := range users {
		cli, err := hs.Client(u)
		if err != nil {
			return nil, stop, err
		}
		clients[name] = cli
	}
	s.alice = clients["alice"]
	// Closed last (stops run in reverse), after the clients behind them.
	for _, p := range []**bench.TimingProxy{&s.gwProxy, &s.bobProxy, &s.seedProxy} {
		proxy, err := bench.StartTimingProxy(hs.URL())
		if err != nil {
			return nil, stop, err
		}
		*p = proxy
		stops = append(stops, func() { _ = proxy.Close() })
	}
	created, err := s.alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "private_chat", Name: "bench",
		Invite: []id.UserID{id.UserID(users["bot"].UserID), id.UserID(users["bob"].UserID), id.UserID(users["seed"].UserID)},
	})
	if err != nil {
		return nil, stop, fmt.Errorf("failed to create the room: %w", err)
	}
	s.room = created.RoomID
	for _, name := range []string{"bot", "bob", "seed"} {
		if _, err := clients[name].JoinRoomByID(ctx, s.room); err != nil {
			return nil, stop, fmt.Errorf("%s failed to join: %w", name, err)
		}
	}

	progress("starting NoneBot2 + nonebot-adapter-onebot")
	nctx, cancel := context.WithTimeout(ctx, harness.StartTimeout)
	nb, err := harness.StartNoneBot(nctx, harness.NoneBotOptions{
		Dir: filepath.Join(r.work, "nonebot"), Script: "test/bench/clients/onebot/bot.py", AccessToken: pushToken,
		ExtraEnv: map[string]string{"BENCH_REPORT_ADDR": r.col.Addr(), "BENCH_REPORT_NAME": obsNoneBot, "LOG_LEVEL": "WARNING"},
	})
	cancel()
	if err != nil {
		return nil, stop, err
	}
	stops = append(stops, nb.Stop)
	s.pids[observerTitles[obsNoneBot]] = nb.PID()

	progress("starting the gateway (1 bot)")
	bots, _ := json.Marshal([]any{botEntry(s.gwProxy.URL, s.bot)})
	s.g, err = bench.StartGateway(r.bin, mkdir(r.work, "gateway-relay"), map[string]string{
		"MATRIX_BOTS": string(bots), "MATRIX_SYNC_TIMEOUT": "30000",
		"GATEWAY_ACCESS_TOKEN": benchToken, "GATEWAY_PUSH_ACCESS_TOKEN": pushToken,
		"GATEWAY_V12_REVERSE_WS": nb.V12ReverseWSURL(), "GATEWAY_PPROF": r.pprofAddr(),
	})
	if err != nil {
		return nil, stop, err
	}
	stops = append(stops, func() { _ = s.g.Stop() })
	if _, err := s.g.WaitReady(withTimeout(ctx, 2*time.Minute)); err != nil {
		return nil, stop, err
	}
	s.pids["gateway"] = s.g.PID()

	s.syncObs, err = r.startObserver("observe-sync", "observe-sync", map[string]string{
		"BENCH_HS": s.bobProxy.URL, "BENCH_USER": users["bob"].UserID, "BENCH_TOKEN": users["bob"].AccessToken,
	})
	if err != nil {
		return nil, stop, err
	}
	stops = append(stops, func() { _ = s.syncObs.Stop() }) // the one running then (relayPart restarts it)
	s.pids[observerTitles[obsSync]] = s.syncObs.PID()
	wsObs, err := r.startObserver("observe-ws", "observe-ws", map[string]string{
		"BENCH_GATEWAY": s.g.URL, "BENCH_TOKEN": benchToken, "BENCH_NAME": obsWS, "BENCH_ECHO": "1",
	})
	if err != nil {
		return nil, stop, err
	}
	stops = append(stops, func() { _ = wsObs.Stop() })
	s.pids[observerTitles[obsWS]] = wsObs.PID()
	s.observers = []string{obsSync, obsWS, obsNoneBot}

	if r.o.seed {
		progress("starting NoneBot2 + nonebot-adapter-matrix (installed into .cache/venv-%s on first use)", seedVenv)
		seedBots, _ := json.Marshal([]any{map[string]any{
			"homeserver": s.seedProxy.URL, "access_token": users["seed"].AccessToken, "user_id": users["seed"].UserID, "device_id": users["seed"].DeviceID,
			"sync_filter": json.RawMessage(bench.TimelineFilter),
		}})
		nctx, cancel := context.WithTimeout(ctx, harness.StartTimeout)
		seed, err := harness.StartNoneBot(nctx, harness.NoneBotOptions{
			Dir: filepath.Join(r.work, "seed"), Script: "test/bench/clients/seed/bot.py", Venv: seedVenv, Requirements: seedReqs,
			ExtraEnv: map[string]string{
				"DRIVER": "~fastapi+~httpx", "MATRIX_BOTS": string(seedBots), "MATRIX_SYNC_TIMEOUT": "30000",
				"BENCH_REPORT_ADDR": r.col.Addr(), "BENCH_REPORT_NAME": obsSeed, "LOG_LEVEL": "WARNING",
			},
		})
		cancel()
		if err != nil {
			r.report.Notes = append(r.report.Notes, "nonebot-adapter-matrix was not measured: "+oneLine(err))
		} else {
			stops = append(stops, seed.Stop)
			s.seed = seed
			s.pids[observerTitles[obsSeed]] = seed.PID()
			s.observers = append(s.observers, obsSeed)
			if err := r.waitReports(ctx, 2*time.Minute, []string{obsSeed}, []string{"ready:" + obsSeed}); err != nil {
				return nil, stop, fmt.Errorf("nonebot-adapter-matrix did not connect: %w", err)
			}
		}
	}
	for _, o := range []string{obsSync, obsWS, obsNoneBot} {
		if err := r.waitReports(ctx, time.Minute, []string{o}, []string{"ready:" + o}); err != nil {
			return nil, stop, fmt.Errorf("the observers did not start: %w", err)
		}
	}
	if err := r.warmUp(ctx, s, s.observers, "warm-up"); err != nil {
		return nil, stop, err
	}
	return s, stop, nil
}

// warmUp sends messages until one reaches every one of observers, which shows that all of them
// are in place.
func (r *benchRun) warmUp(ctx context.Context, s *relayScene, observers []string, label string) error {
	var lastErr error
	for i := range 10 {
		resp, err := s.alice.SendText(ctx, s.room, fmt.Sprintf("%s %d %s", label, i, r.nonce))
		if err != nil {
			return err
		}
		if lastErr = r.waitReports(ctx, 15*time.Second, observers, []string{string(resp.EventID)}); lastErr == nil {
			return nil
		}
	}
	return fmt.Errorf("%s: %w", label, lastErr)
}

// sentAt is when each message's send call started, by event ID.
type sentAt struct {
	mu sync.Mutex
	at map[string]time.Time
}

// sendMessages sends n messages from alice at rate per second (each send on its own, not
// waiting for the one before), and returns their event IDs and start times.
func (r *benchRun) sendMessages(ctx context.Context, s *relayScene, n int, rate float64, label string) error {
	_, err := r.sendPaced(ctx, s, n, rate, func(i int) string { return fmt.Sprintf("%s %d %s", label, i, r.nonce) })
	return err
}

func (r *benchRun) sendPaced(ctx context.Context, s *relayScene, n int, rate float64, body func(i int) string) (*sentAt, error) {
	sent := &sentAt{at: map[string]time.Time{}}
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	begin := time.Now()
	for i := range n {
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-ctx.Done():
				return sent, ctx.Err()
			case <-time.After(d):
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			resp, err := s.alice.SendText(ctx, s.room, body(i))
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			sent.mu.Lock()
			sent.at[string(resp.EventID)] = start
			sent.mu.Unlock()
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return sent, fmt.Errorf("%d of %d sends failed, first: %w", len(errs), n, errs[0])
	}
	return sent, nil
}

// relayPart is parts (a) and (b): receive latency and CPU per 1,000 messages.
func (r *benchRun) relayPart(ctx context.Context, s *relayScene) error {
	progress("receive latency: %d messages at %g/s", r.o.messages, r.o.rate)
	meter, err := bench.StartCPU(s.pids)
	if err != nil {
		return err
	}
	sent, err := r.sendPaced(ctx, s, r.o.messages, r.o.rate, func(i int) string { return fmt.Sprintf("bench %d %s", i, r.nonce) })
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(sent.at))
	for k := range sent.at {
		keys = append(keys, k)
	}
	waitErr := r.waitReports(ctx, 2*time.Minute, s.observers, keys)
	cpu, wall, err := meter.Stop()
	if err != nil {
		return err
	}

	lat, behind := map[string]bench.Dist{}, map[string]bench.Dist{}
	for _, o := range s.observers {
		for k, start := range sent.at {
			if at, ok := r.col.At(o, k); ok {
				lat[o] = append(lat[o], at.Sub(start))
				if plain, ok := r.col.At(obsSync, k); ok {
					behind[o] = append(behind[o], at.Sub(plain))
				}
			}
		}
	}
	sec := &bench.Section{
		Title: fmt.Sprintf("(a) Receive latency, send call → arrival, %d messages at %g/s on one Synapse", len(keys), r.o.rate),
		Header: []string{"observer", "received", "p50 ms", "p99 ms", "p50 − plain p50 ms", "p99 − plain p99 ms",
			"per message behind plain /sync, p50 ms", "p99 ms", "repeats"},
		Notes: []string{"Latency counts from the start of the send call, so a homeserver slow to accept sends adds to every observer alike; " +
			"\"behind plain /sync\" is, message by message, the arrival at the observer minus the arrival at the plain client. " +
			"This is the first repetition (plain user bob), end to end: it includes which of the two clients Synapse served first (the wake order table after (b)), " +
			"so it is not the receive check; that is the table after it, against each client's own /sync answer."},
	}
	base := lat[obsSync]
	for _, o := range s.observers {
		d := lat[o]
		sec.Add(observerTitles[o], fmt.Sprintf("%d/%d", len(d), len(keys)), bench.Ms(d.Percentile(50)), bench.Ms(d.Percentile(99)),
			bench.Ms(d.Percentile(50)-base.Percentile(50)), bench.Ms(d.Percentile(99)-base.Percentile(99)),
			bench.Ms(behind[o].Percentile(50)), bench.Ms(behind[o].Percentile(99)), r.col.Duplicates(o))
	}
	r.report.Sections = append(r.report.Sections, sec)

	cpuSec := &bench.Section{
		Title:  fmt.Sprintf("(b) CPU per 1,000 messages, each process, over the same %d messages (%.1f s wall)", len(keys), wall.Seconds()),
		Header: []string{"process", "CPU s", "CPU s per 1,000 messages"},
		Notes: []string{"The gateway's CPU includes handing each message to both of its clients (the v12 WebSocket client " +
			"and NoneBot2); the homeserver's includes serving every client and the sends."},
	}
	for _, name := range sortedKeys(cpu) {
		cpuSec.Add(name, cpu[name].Seconds(), cpu[name].Seconds()*1000/float64(len(keys)))
	}
	r.report.Sections = append(r.report.Sections, cpuSec)

	reps := []bench.Repetition{r.compare(s, "bob", sent.at, obsSync, s.bobProxy)}
	// The wake order is averaged over repetitions in which Synapse has only the gateway's bot and
	// the plain user to wake: a third /sync client (the seed adapter's) woken between the two adds
	// its own few ms to one order and not to the other. With the seed in the first repetition,
	// the average counts the later ones only.
	counted := reps
	if s.seed != nil {
		reps[0].Plain += " (with the seed adapter syncing: not counted)"
		counted = nil
	}
	errs := []error{waitErr}
	// The receive check pools the two-client repetitions (bench.AddOwnAnswerSection): at least
	// minOwnReps of them (900 messages), more while one wake order is still unseen.
	const minOwnReps = 3
	more := func(n int) bool { return n <= r.o.orderReps && (n <= minOwnReps+1 || !bench.BothOrders(counted)) }
	if more(2) && ctx.Err() == nil {
		// bob's client stops while fresh users are measured, and so does the seed adapter, so that
		// Synapse wakes just the bot and one plain user; bob comes back for the echo part (the
		// seed adapter is not used after this part).
		_ = s.syncObs.Stop()
		if s.seed != nil {
			s.seed.Stop()
			// Not an observer any more: restartPlain's warm-up waited for it 10 × 15 s in vain.
			s.observers = slices.DeleteFunc(slices.Clone(s.observers), func(o string) bool { return o == obsSeed })
		}
		for n := 2; more(n) && ctx.Err() == nil; n++ {
			rp, err := r.plainRepetition(ctx, s, n)
			if err != nil {
				errs = append(errs, fmt.Errorf("repetition %d: %w", n, err))
				if rp.Sent == 0 {
					break
				}
			}
			reps = append(reps, rp)
			counted = append(counted, rp)
		}
		if r.o.parts["echo"] && ctx.Err() == nil {
			if err := r.restartPlain(ctx, s); err != nil {
				errs = append(errs, err)
			}
		}
	}
	r.orderSection(reps, counted)
	bench.AddOwnAnswerSection(r.report, reps, s.seed != nil)
	return errors.Join(errs...)
}

// compare is one repetition of the receive measurement: the gateway's v12 WebSocket client
// against the plain /sync client plainObs (of user, behind plainProxy), over the messages sent:
// end to end, and against each client's own /sync answer.
func (r *benchRun) compare(s *relayScene, user string, sent map[string]time.Time, plainObs string, plainProxy *bench.TimingProxy) bench.Repetition {
	gw, plain := map[string]time.Time{}, map[string]time.Time{}
	keys := make([]string, 0, len(sent))
	for k := range sent {
		keys = append(keys, k)
		if at, ok := r.col.At(obsWS, k); ok {
			gw[k] = at
		}
		if at, ok := r.col.At(plainObs, k); ok {
			plain[k] = at
		}
	}
	rp := bench.CompareRepetition(user, sent, gw, plain)
	gwAnswer, badGW := s.gwProxy.AnsweredAt()
	plainAnswer, badPlain := plainProxy.AnsweredAt()
	if badGW+badPlain > 0 {
		r.report.Notes = append(r.report.Notes, fmt.Sprintf("The timing proxies could not read (or, past their bounds, did not keep) %d of the gateway's and %d of %s's /sync answers.", badGW, badPlain, user))
	}
	rp.Own = bench.CompareAnswered(keys, gwAnswer, gw, plainAnswer, plain)
	return rp
}

// plainRepetition measures the receive latency again, with the same messages (count and rate)
// and a fresh plain /sync user (bobN) in the room: a new user has a new notifier stream in
// Synapse, so a new draw of the order Synapse wakes the gateway's bot and the plain client in.
func (r *benchRun) plainRepetition(ctx context.Context, s *relayScene, n int) (bench.Repetition, error) {
	name := fmt.Sprintf("bob%d", n)
	obs := fmt.Sprintf("%s%d", obsSync, n)
	progress("receive latency, repetition %d: fresh plain /sync user %s, %d messages at %g/s", n, name, r.o.messages, r.o.rate)
	u, err := s.hs.RegisterUser(ctx, name, "pw-"+name+"-"+r.nonce, false)
	if err != nil {
		return bench.Repetition{}, err
	}
	cli, err := s.hs.Client(u)
	if err != nil {
		return bench.Repetition{}, err
	}
	if _, err := s.alice.InviteUser(ctx, s.room, &mautrix.ReqInviteUser{UserID: id.UserID(u.UserID)}); err != nil {
		return bench.Repetition{}, fmt.Errorf("failed to invite %s: %w", name, err)
	}
	if _, err := cli.JoinRoomByID(ctx, s.room); err != nil {
		return bench.Repetition{}, fmt.Errorf("%s failed to join: %w", name, err)
	}
	proxy, err := bench.StartTimingProxy(s.hs.URL())
	if err != nil {
		return bench.Repetition{}, err
	}
	defer proxy.Close()
	p, err := r.startObserver("observe-sync-"+name, "observe-sync", map[string]string{
		"BENCH_HS": proxy.URL, "BENCH_USER": u.UserID, "BENCH_TOKEN": u.AccessToken, "BENCH_NAME": obs,
	})
	if err != nil {
		return bench.Repetition{}, err
	}
	defer p.Stop()
	if err := r.waitReports(ctx, time.Minute, []string{obs}, []string{"ready:" + obs}); err != nil {
		return bench.Repetition{}, fmt.Errorf("the plain /sync client of %s did not start: %w", name, err)
	}
	// Every observer but the stopped clients (bob's and the seed adapter's).
	observers := []string{obs}
	for _, o := range s.observers {
		if o != obsSync && o != obsSeed {
			observers = append(observers, o)
		}
	}
	if err := r.warmUp(ctx, s, observers, "warm-up "+name); err != nil {
		return bench.Repetition{}, err
	}
	sent, err := r.sendPaced(ctx, s, r.o.messages, r.o.rate, func(i int) string { return fmt.Sprintf("bench %s %d %s", name, i, r.nonce) })
	if err != nil {
		return bench.Repetition{}, err
	}
	keys := make([]string, 0, len(sent.at))
	for k := range sent.at {
		keys = append(keys, k)
	}
	waitErr := r.waitReports(ctx, 2*time.Minute, observers, keys)
	return r.compare(s, name, sent.at, obs, proxy), waitErr
}

// restartPlain starts bob's plain /sync client again (the echo part reads the bot's answers
// with it) and waits until it receives messages.
func (r *benchRun) restartPlain(ctx context.Context, s *relayScene) error {
	r.col.Forget(obsSync, "ready:"+obsSync)
	p, err := r.startObserver("observe-sync-again", "observe-sync", map[string]string{
		"BENCH_HS": s.bobProxy.URL, "BENCH_USER": s.bob.UserID, "BENCH_TOKEN": s.bob.AccessToken,
	})
	if err != nil {
		return fmt.Errorf("restarting bob's plain /sync client: %w", err)
	}
	s.syncObs = p
	if err := r.waitReports(ctx, time.Minute, []string{obsSync}, []string{"ready:" + obsSync}); err != nil {
		return fmt.Errorf("bob's plain /sync client did not start again: %w", err)
	}
	return r.warmUp(ctx, s, s.observers, "warm-up again")
}

// orderSection prints every repetition of the receive measurement end to end, with the order
// Synapse served the two clients in, and the end-to-end difference averaged over both orders
// when both were seen: information, not the receive check (ownAnswerSection's).
func (r *benchRun) orderSection(reps, counted []bench.Repetition) {
	sec := &bench.Section{
		Title: fmt.Sprintf("(a) End-to-end receive difference by Synapse's wake order (information, not the check): %d messages at %g/s per repetition, each with its own plain /sync user", r.o.messages, r.o.rate),
		Header: []string{"repetition", "plain /sync user", "order seen", "gateway's client ahead, share of messages", "received gateway / plain",
			"p50 − plain p50 ms", "p99 − plain p99 ms", "per message behind plain /sync, p50 ms", "p99 ms"},
	}
	for i, rp := range reps {
		sec.Add(i+1, rp.Plain, rp.Order.String(), fmt.Sprintf("%.0f %% of %d", 100*rp.Share, rp.Compared),
			fmt.Sprintf("%d / %d of %d", rp.GW, rp.Got, rp.Sent),
			bench.Ms(rp.P50), bench.Ms(rp.P99), bench.Ms(rp.Behind50), bench.Ms(rp.Behind99))
	}
	gFirst, pFirst := bench.OrderCounts(counted)
	p50, p99, ok := bench.OrderAveraged(counted)
	sec.Notes = []string{"Synapse wakes the long polls of a room's users in the order of a Python set of its per-user notifier streams " +
		"(synapse/notifier.py, on_new_room_events) and computes the woken /sync answers one after the other, a few ms each; " +
		"that order holds for the life of the streams, so whichever of the gateway's bot and the plain user comes first is ahead " +
		"for most messages of a repetition, by more than the 1 ms target. A repetition's order is the majority of its messages " +
		"(the gateway's client strictly ahead of the plain client, or not; the gateway's own handling eats part of a lead, so the share stays well short of 100 %). A fresh plain user has a fresh stream, so a new draw: " +
		fmt.Sprintf("the measurement is repeated with bob2, bob3, … (bob's client paused) at least 3 times and until both orders have been seen, at most %d times in all (-order-reps). ", r.o.orderReps) +
		"Only repetitions in which Synapse wakes just the bot and the plain user count for the average below: the seed adapter (a third /sync client) is stopped for the repeats, " +
		"and the first repetition, run with it, is listed but not counted (in a kept run it sat between the two for 28 % of the messages of one order). " +
		"The average is ½(mean over the repetitions with the gateway first + mean over those with plain first), for the p50 and for the p99 differences; " +
		"repetitions of unclear order count for neither. These end-to-end numbers include Synapse's wake order and are printed for information: " +
		"the receive targets are checked on the next table, against each client's own /sync answer."}
	if ok {
		sec.Notes = append(sec.Notes, fmt.Sprintf("Averaged over the wake order (%d repetitions with the gateway first, %d with plain first): p50 %.2f ms, p99 %.2f ms.",
			gFirst, pFirst, bench.Ms(p50), bench.Ms(p99)))
	} else {
		sec.Notes = append(sec.Notes, fmt.Sprintf("Not averaged: only one wake order seen in %d counted repetitions (gateway first %d, plain first %d).", len(counted), gFirst, pFirst))
	}
	r.report.Sections = append(r.report.Sections, sec)
}

// echoPart is part (d): the echo round trip, command sent → the bot's answer seen by the plain
// /sync client, through NoneBot2 and through a direct v12 WebSocket client.
func (r *benchRun) echoPart(ctx context.Context, s *relayScene) error {
	sec := &bench.Section{
		Title:  "(d) Echo round trip, command sent → the bot's answer seen by a plain /sync client",
		Header: []string{"echo client", "commands/s", "commands", "answered", "p50 ms", "p99 ms"},
		Notes:  []string{"The gateway and the plain /sync client reach Synapse through the timing proxies of (a): a loopback hop on each of their requests."},
	}
	r.report.Sections = append(r.report.Sections, sec)
	var errs []error
	for _, rate := range r.o.echoRates {
		for _, kind := range []struct{ name, cmd string }{{"NoneBot2 echo plugin via the gateway", "/echo"}, {"direct OneBot v12 WebSocket echo", "/wsecho"}} {
			n := max(int(math.Ceil(rate*r.o.echoSeconds)), 1)
			progress("echo: %s, %d commands at %g/s", kind.name, n, rate)
			tag := fmt.Sprintf("e%g-%s-%s", rate, kind.cmd[1:], r.nonce)
			starts := make([]time.Time, n)
			_, err := r.sendPaced(ctx, s, n, rate, func(i int) string {
				starts[i] = time.Now()
				return fmt.Sprintf("%s %s-%d", kind.cmd, tag, i)
			})
			if err != nil {
				return err
			}
			keys := make([]string, n)
			for i := range n {
				keys[i] = fmt.Sprintf("body:%s-%d", tag, i)
			}
			if err := r.waitReports(ctx, time.Minute, []string{obsSync}, keys); err != nil {
				errs = append(errs, fmt.Errorf("%s at %g/s: %w", kind.name, rate, err))
			}
			var d bench.Dist
			for i, k := range keys {
				if at, ok := r.col.At(obsSync, k); ok {
					d = append(d, at.Sub(starts[i]))
				}
			}
			sec.Add(kind.name, rate, n, len(d), bench.Ms(d.Percentile(50)), bench.Ms(d.Percentile(99)))
		}
	}
	return errors.Join(errs...)
}

// sendPart is the send path of part (d): the bot's send_message through the gateway (v12 HTTP
// action) vs. a direct PUT /send with the bot's own token, one at a time, alternating.
func (r *benchRun) sendPart(ctx context.Context, s *relayScene) error {
	progress("send path: %d sends through the gateway and %d direct PUTs", r.o.sends, r.o.sends)
	client := &http.Client{Timeout: time.Minute}
	var viaGW, direct bench.Dist
	for i := range r.o.sends {
		action, _ := json.Marshal(map[string]any{"action": "send_message", "params": map[string]any{
			"detail_type": "group", "group_id": string(s.room),
			"message": []any{map[string]any{"type": "text", "data": map[string]string{"text": fmt.Sprintf("via gateway %d %s", i, r.nonce)}}},
		}})
		d, err := timedRequest(ctx, client, http.MethodPost, s.g.URL+"/onebot/v12/", benchToken, action)
		if err != nil {
			return fmt.Errorf("send_message through the gateway: %w", err)
		}
		viaGW = append(viaGW, d)
		// The same content the gateway sends for a text segment (with m.mentions, which it always
		// sets): Synapse's cost of the event is then the same on both paths.
		put, _ := json.Marshal(map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("direct %d %s", i, r.nonce), "m.mentions": map[string]any{}})
		// Through the gateway's timing proxy, as the gateway's own sends go: the loopback hop is on
		// both paths.
		u := fmt.Sprintf("%s/_matrix/client/v3/rooms/%s/send/m.room.message/bench-%s-%d", s.gwProxy.URL, url.PathEscape(string(s.room)), r.nonce, i)
		d, err = timedRequest(ctx, client, http.MethodPut, u, s.bot.AccessToken, put)
		if err != nil {
			return fmt.Errorf("direct PUT /send: %w", err)
		}
		direct = append(direct, d)
	}
	// Each send through the gateway is paired with the direct PUT right after it: Synapse's time
	// drifts with the machine's load by more than the gateway adds, and a pair shares it.
	paired := make(bench.Dist, len(viaGW))
	for i := range viaGW {
		paired[i] = viaGW[i] - direct[i]
	}
	sec := &bench.Section{
		Title:  fmt.Sprintf("(d) Send path, one send at a time, %d each, alternating", r.o.sends),
		Header: []string{"path", "p50 ms", "p99 ms"},
		Notes: []string{"Synapse takes tens of ms per send and its time drifts with the machine's load, so the p50 of each path moves by " +
			"more than a millisecond between runs on a busy machine (a bootstrap of 300 sends at load 5-8: 0.4-3 ms standard error for " +
			"the difference of the p50s; about 0.2 ms on a quiet machine). The overhead is checked on the median of the paired " +
			"differences (each send through the gateway minus the direct PUT made right after it), which shares that drift: " +
			"0.2-1.2 ms standard error on the same busy runs, about 0.15 ms on quiet ones."},
	}
	sec.Add("send_message through the gateway (v12 HTTP action)", bench.Ms(viaGW.Percentile(50)), bench.Ms(viaGW.Percentile(99)))
	sec.Add("direct PUT /rooms/{room}/send on Synapse, same bot (through the gateway's timing proxy, as the gateway's sends)", bench.Ms(direct.Percentile(50)), bench.Ms(direct.Percentile(99)))
	sec.Add("overhead of the gateway: p50 − p50, p99 − p99", bench.Ms(viaGW.Percentile(50)-direct.Percentile(50)), bench.Ms(viaGW.Percentile(99)-direct.Percentile(99)))
	sec.Add("overhead of the gateway per pair (send through the gateway − the direct PUT after it)", bench.Ms(paired.Percentile(50)), bench.Ms(paired.Percentile(99)))
	r.report.Sections = append(r.report.Sections, sec)
	r.report.Check("send path overhead, median of paired differences (gateway send − direct PUT after it)", "ms", bench.Ms(paired.Percentile(50)), 2)
	return nil
}

// timedRequest sends one request and returns how long the answer took; a non-2xx answer or a
// OneBot failure is an error.
func timedRequest(ctx context.Context, client *http.Client, method, u, token string, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, data)
	}
	var ob struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &ob) == nil && ob.Status == "failed" {
		return 0, fmt.Errorf("OneBot failed: %s", ob.Message)
	}
	return took, nil
}

// botsPart is part (e) on Synapse: start-to-ready (first start and restart with stored sessions),
// RSS and idle CPU of the gateway with each bot count.
func (r *benchRun) botsPart(ctx context.Context, hs *harness.Homeserver) error {
	sec := &bench.Section{
		Title:  fmt.Sprintf("(e) Bots on Synapse: start to all-ready (/readyz 200; restart: same database, stored sessions), RSS and CPU over %gs idle (%gs after all-ready)", r.o.idleSeconds, r.o.settleSeconds),
		Header: []string{"bots", "first start s", "restart s", "RSS MiB", "idle CPU % of a core"},
	}
	r.report.Sections = append(r.report.Sections, sec)
	for _, n := range r.o.bots {
		// Each gateway gets bots of its own: a device whose keys another gateway uploaded is refused.
		progress("registering %d idle bots on Synapse", n)
		entries := make([]any, n)
		for i := range n {
			u, err := hs.RegisterUser(ctx, fmt.Sprintf("idle%d-%d", n, i), "pw-idle-"+r.nonce, false)
			if err != nil {
				return err
			}
			entries[i] = botEntry(hs.URL(), u)
		}
		dir := mkdir(r.work, fmt.Sprintf("gateway-bots-%d", n))
		botsFile, err := writeBots(dir, entries)
		if err != nil {
			return err
		}
		env := map[string]string{"MATRIX_BOTS_FILE": botsFile, "MATRIX_SYNC_TIMEOUT": "30000", "GATEWAY_ACCESS_TOKEN": benchToken}
		progress("%d bots on Synapse: first start", n)
		first, _, _, err := r.startIdle(ctx, dir, env, 0)
		if err != nil {
			return err
		}
		progress("%d bots on Synapse: restart", n)
		again, rss, cpu, err := r.startIdle(ctx, dir, env, r.o.idleSeconds)
		if err != nil {
			return err
		}
		sec.Add(n, first.Seconds(), again.Seconds(), bench.MiB(rss), cpu)
		if n == 50 {
			r.report.Check("50 bots start to all-ready on a restart (Synapse)", "s", again.Seconds(), 5)
		}
	}
	return nil
}

// startIdle starts a gateway, waits until it is ready, optionally measures RSS and CPU over idle
// seconds, and stops it.
func (r *benchRun) startIdle(ctx context.Context, dir string, env map[string]string, idle float64) (ready time.Duration, rss int64, cpuPct float64, err error) {
	g, err := bench.StartGateway(r.bin, dir, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer g.Stop()
	if ready, err = g.WaitReady(withTimeout(ctx, 3*time.Minute)); err != nil {
		return 0, 0, 0, err
	}
	if idle > 0 {
		// Let the start's tail (key uploads, first syncs' answers) pass before the idle window.
		select {
		case <-ctx.Done():
			return 0, 0, 0, ctx.Err()
		case <-time.After(time.Duration(r.o.settleSeconds * float64(time.Second))):
		}
		meter, err := bench.StartCPU(map[string]int{"gateway": g.PID()})
		if err != nil {
			return 0, 0, 0, err
		}
		wait := func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(idle * float64(time.Second))):
				return nil
			}
		}
		if g.Env["GATEWAY_PPROF"] != "" { // -profile: where the idle CPU goes
			err = r.profile(ctx, g, filepath.Base(dir), wait)
		} else {
			err = wait(ctx)
		}
		if err != nil {
			return 0, 0, 0, err
		}
		cpu, wall, err := meter.Stop()
		if err != nil {
			return 0, 0, 0, err
		}
		cpuPct = 100 * cpu["gateway"].Seconds() / wall.Seconds()
		if rss, err = bench.RSS(g.PID()); err != nil {
			return 0, 0, 0, err
		}
	}
	if err := g.Stop(); err != nil {
		return 0, 0, 0, fmt.Errorf("the gateway did not stop cleanly: %w", err)
	}
	return ready, rss, cpuPct, nil
}

func botEntry(homeserver string, u *harness.User) map[string]any {
	return map[string]any{"homeserver": homeserver, "access_token": u.AccessToken, "user_id": u.UserID, "device_id": u.DeviceID}
}
