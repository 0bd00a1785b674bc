package cluster

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/harness/postgres"
	"github.com/matrix-onebot/gateway/test/wait"
)

// runners records which gateway runs which bot, as the gateways' Run callbacks say, and every
// moment a bot would have run on two gateways at once.
type runners struct {
	mu      sync.Mutex
	by      map[string]string // bot → gateway
	doubles []string
	emptied map[string]int // gateway → how often it stopped every bot it ran
	gaveUp  map[string]int // gateway → how many times it stopped running a bot
}

func (r *runners) run(gw string) func(owned map[string]bool) {
	return func(owned map[string]bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		had := 0
		for b, g := range r.by {
			if g == gw {
				had++
				if !owned[b] {
					delete(r.by, b)
					if r.gaveUp != nil {
						r.gaveUp[gw]++
					}
				}
			}
		}
		if had > 0 && len(owned) == 0 {
			r.emptied[gw]++
		}
		for b := range owned {
			if g, ok := r.by[b]; ok && g != gw {
				r.doubles = append(r.doubles, fmt.Sprintf("%s on %s and %s", b, g, gw))
			}
			r.by[b] = gw
		}
	}
}

// counts returns how many bots each gateway runs.
func (r *runners) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, g := range r.by {
		out[g]++
	}
	return out
}

func (r *runners) doubled() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.doubles...)
}

// testGateways are the gateways of one test: one PostgreSQL database prepared for the package,
// the 9 bots they share, what each runs (rec), and each one's metrics.
type testGateways struct {
	t    *testing.T
	pg   *postgres.Cluster
	db   *storage.DB
	bots []string
	rec  *runners
	mets map[string]*metrics.Metrics
	log  *slog.Logger
}

func newTestGateways(t *testing.T) *testGateways {
	pg := postgres.ForTest(t)
	db, err := storage.Open(t.Context(), pg.DatabaseForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() }) // after the gateways' stops
	if err := Prepare(t.Context(), db.DBUtil()); err != nil {
		t.Fatal(err)
	}
	g := &testGateways{t: t, pg: pg, db: db, mets: map[string]*metrics.Metrics{},
		rec: &runners{by: map[string]string{}, emptied: map[string]int{}, gaveUp: map[string]int{}},
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for i := range 9 {
		g.bots = append(g.bots, fmt.Sprintf("@bot%d:example.org", i))
	}
	return g
}

// testGateway is a coordinator running in a test.
type testGateway struct {
	*Coordinator
	stop func()        // ends Run as a stop does and waits for it; harmless again (and in t.Cleanup)
	done chan struct{} // closed when Run returned
}

// start runs the coordinator of gateway name (URL http://name) until the test ends or stop.
func (g *testGateways) start(name string) *testGateway {
	g.mets[name] = metrics.New()
	c, err := New(Options{DB: g.db, Instance: name, URL: "http://" + name, Interval: 200 * time.Millisecond, Grace: 5300 * time.Millisecond,
		Logger: g.log.With("gateway", name), Bots: func() []string { return append([]string(nil), g.bots...) }, Run: g.rec.run(name),
		Metrics: g.mets[name].Fleet()})
	if err != nil {
		g.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(g.t.Context())
	gw := &testGateway{Coordinator: c, done: make(chan struct{})}
	go func() { defer close(gw.done); c.Run(ctx) }()
	gw.stop = func() { cancel(); <-gw.done }
	g.t.Cleanup(gw.stop)
	return gw
}

// Three gateways on one PostgreSQL: the bots spread evenly and each runs on one gateway only;
// a gateway whose connection is ended (pg_terminate_backend) stops its bots at once and the
// others (or it, reconnected) run them again; a gateway that stops gives its bots up and the two
// others take them. At no moment does a bot run on two gateways.
func TestThreeGatewaysShareTheBots(t *testing.T) {
	gws := newTestGateways(t)
	ctx, rec, bots, mets := t.Context(), gws.rec, gws.bots, gws.mets
	a, b, c := gws.start("a"), gws.start("b"), gws.start("c")
	even := func(want ...int) func() bool {
		return func() bool {
			n := rec.counts()
			total, got := 0, []int{}
			for _, g := range []string{"a", "b", "c"} {
				total += n[g]
				if n[g] > 0 {
					got = append(got, n[g])
				}
			}
			if total != len(bots) || len(got) != len(want) {
				return false
			}
			for _, g := range got {
				if g != want[0] && g != want[len(want)-1] {
					return false
				}
			}
			return true
		}
	}
	wait.For(t, time.Minute, "the 9 bots run 3 on each gateway", even(3, 3, 3))
	value := func(gw, name string) int { return int(mets[gw].Value(name)) }
	for gw, n := range rec.counts() {
		if got := value(gw, "cluster_bots"); got != n {
			t.Errorf("%s: cluster_bots = %d, want the %d it runs", gw, got, n)
		}
	}
	// The proxy's map: every bot, with the URL of the gateway that runs it, in one query (a's
	// bots with http://a).
	owners, err := a.Owners(ctx)
	if err != nil || len(owners) != len(bots) {
		t.Fatalf("Owners = %v, %v; want the %d bots", owners, err, len(bots))
	}
	rec.mu.Lock()
	for bot, url := range owners {
		if want := "http://" + rec.by[bot]; url != want {
			t.Errorf("Owners: %s is run by %s, want %s", bot, url, want)
		}
	}
	rec.mu.Unlock()

	// c's ownership connection ends: c stops its bots at once, and the 9 run again.
	var pid int
	c.mu.Lock()
	pid = c.own.BackendPID()
	c.mu.Unlock()
	if _, err := gws.pg.Admin().ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 15*time.Second, "c to stop its bots", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.emptied["c"] > 0
	})
	wait.For(t, 15*time.Second, "the 9 bots to run again, 3 on each gateway", even(3, 3, 3))
	if got := []int{value("a", "cluster_lock_lost_total"), value("b", "cluster_lock_lost_total"), value("c", "cluster_lock_lost_total")}; got[0] != 0 || got[1] != 0 || got[2] != 1 {
		t.Errorf("cluster_lock_lost_total of a, b, c = %v; want 0, 0, 1", got)
	}
	takeovers := func() int { return value("a", "cluster_takeovers_total") + value("b", "cluster_takeovers_total") }
	takenBefore, onC := takeovers(), rec.counts()["c"]

	// c is killed: its bots die with it, its locks end with its connection, and a and b run them
	// within 15 s (once its rows are Grace old).
	c.kill()
	<-c.done
	rec.run("c")(map[string]bool{})
	killed := time.Now()
	wait.For(t, 15*time.Second, "the 9 bots on a and b", even(4, 5))
	t.Logf("a and b run c's bots %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	if got := takeovers() - takenBefore; got != onC {
		t.Errorf("a and b counted %d takeovers after c was killed; want the %d bots c ran", got, onC)
	}
	handedBefore, onB := value("b", "cluster_handovers_total"), rec.counts()["b"]

	// b stops cleanly: it gives its bots up, and a takes them at once.
	b.stop()
	wait.For(t, 15*time.Second, "the 9 bots on a", even(9))
	_ = b
	if got := value("b", "cluster_handovers_total") - handedBefore; got != onB || value("b", "cluster_bots") != 0 {
		t.Errorf("b stopped: %d hand-overs counted, cluster_bots %d; want the %d bots it ran, and 0", got, value("b", "cluster_bots"), onB)
	}
	if got := value("a", "cluster_bots"); got != 9 {
		t.Errorf("a: cluster_bots = %d, want 9", got)
	}
	if d := rec.doubled(); len(d) > 0 {
		t.Fatalf("bots ran on two gateways at once: %v", d)
	}
}

// A gateway that ran every bot alone gives up exactly what the two that join need, once: it
// does not take back (and give up again) the bots it has just given up while the others are still
// under their share.
func TestJoiningGatewaysTakeOverWithoutChurn(t *testing.T) {
	gws := newTestGateways(t)
	ctx, db, rec, mets := t.Context(), gws.db, gws.rec, gws.mets
	coords := map[string]*testGateway{}
	start := func(name string) { coords[name] = gws.start(name) }
	counts := func(want map[string]int) func() bool {
		return func() bool {
			n := rec.counts()
			for g, w := range want {
				if n[g] != w {
					return false
				}
			}
			return true
		}
	}
	start("a")
	wait.For(t, time.Minute, "a to run the 9 bots alone", counts(map[string]int{"a": 9}))
	start("b")
	start("c")
	wait.For(t, time.Minute, "the 9 bots to run 3 on each gateway", counts(map[string]int{"a": 3, "b": 3, "c": 3}))
	// Ten more ticks of a (its heartbeat row moves on each): the spread holds and nothing moves.
	seenOfA := func() int64 {
		var seen int64
		if err := db.DBUtil().QueryRow(ctx, `SELECT seen FROM cluster_instance WHERE id = 'a'`).Scan(&seen); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	from := seenOfA()
	wait.For(t, time.Minute, "ten more ticks of a", func() bool {
		return seenOfA() >= from+10*coords["a"].opts.Interval.Milliseconds()
	})
	n := rec.counts()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.gaveUp["a"] != 6 || rec.gaveUp["b"] != 0 || rec.gaveUp["c"] != 0 {
		t.Fatalf("bots given up: %v; want a 6 (what b and c need), b 0, c 0", rec.gaveUp)
	}
	// The metrics say so: a handed 6 over; nobody took a bot over (no gateway failed).
	for gw, want := range map[string]float64{"a": 6, "b": 0, "c": 0} {
		if got, taken := mets[gw].Value("cluster_handovers_total"), mets[gw].Value("cluster_takeovers_total"); got != want || taken != 0 {
			t.Errorf("%s: cluster_handovers_total %v, cluster_takeovers_total %v; want %v and 0", gw, got, taken, want)
		}
	}
	if n["a"] != 3 || n["b"] != 3 || n["c"] != 3 {
		t.Fatalf("after ten more ticks the bots run %v; want 3 on each", n)
	}
	if len(rec.doubles) > 0 {
		t.Fatalf("bots ran on two gateways at once: %v", rec.doubles)
	}
}

// A gateway whose step waits for the database (here: another transaction holds its heartbeat
// row) still stops its bots as soon as its ownership connection ends: the wait is cut short. It
// went on running them until the database answered, while the others could take them over
// once its rows were Grace old.
func TestLostLockStopsTheBotsWhileAStepWaits(t *testing.T) {
	gws := newTestGateways(t)
	gws.bots = gws.bots[:3]
	a := gws.start("a")
	wait.For(t, time.Minute, "a to run the 3 bots", func() bool { return gws.rec.counts()["a"] == 3 })

	// Hold a's heartbeat row from another connection: a's next step waits on the row lock.
	admin := gws.pg.Admin()
	var dbName string
	if err := gws.db.DBUtil().QueryRow(t.Context(), `SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	conn, err := gws.db.SQL().Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `BEGIN`); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.ExecContext(context.Background(), `ROLLBACK`) }()
	if _, err := conn.ExecContext(t.Context(), `SELECT 1 FROM cluster_instance WHERE id = 'a' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	wait.For(t, time.Minute, "a's step to wait on the row lock", func() bool {
		var n int
		_ = admin.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, dbName).Scan(&n)
		return n > 0
	})
	a.mu.Lock()
	pid := a.own.BackendPID()
	a.mu.Unlock()
	if _, err := admin.ExecContext(t.Context(), `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 15*time.Second, "a to stop its bots while the database keeps its step waiting", func() bool {
		gws.rec.mu.Lock()
		defer gws.rec.mu.Unlock()
		return gws.rec.emptied["a"] > 0
	})
	if got := gws.mets["a"].Value("cluster_lock_lost_total"); got != 1 {
		t.Errorf("cluster_lock_lost_total = %v, want 1", got)
	}
}

// The gateways sharing a database share one key for the marks of the requests they send on to
// each other: the first that asks makes it, the others read it.
func TestProxyKeyIsSharedThroughTheDatabase(t *testing.T) {
	url := postgres.ForTest(t).DatabaseForTest(t)
	ctx := t.Context()
	var keys [][]byte
	for range 2 {
		db, err := storage.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		key, err := ProxyKey(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	if len(keys[0]) != 32 || !bytes.Equal(keys[0], keys[1]) {
		t.Fatalf("the keys of two gateways on one database: %x and %x; want one key of 32 bytes", keys[0], keys[1])
	}
}
