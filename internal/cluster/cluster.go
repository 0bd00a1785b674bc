// Package cluster shares the configured bots among several gateways on one PostgreSQL database:
// each bot is run by exactly one gateway at a time, the one whose storage.Ownership holds the
// bot's advisory lock (a session-level lock on one dedicated connection per gateway).
//
// The rule, at every tick (Options.Interval):
//   - every gateway writes a heartbeat (cluster_instance); the live ones are those seen within
//     three ticks, and a gateway's share is ceil(bots / live gateways);
//   - a gateway writes, for every bot it runs, that it still runs it (cluster_bot), but only
//     while its ownership connection is known to be alive;
//   - a bot is free when no gateway has written so for Options.Grace (or its row is gone: a
//     gateway that gave a bot up cleanly deletes it after the bot stopped);
//   - a gateway under its share takes free bots (pg_try_advisory_lock decides between two that
//     try at once); a gateway at or over its share takes only bots whose row is stale, i.e. that
//     nobody has run for Grace: at most ceil(bots/gateways) plus what nobody else holds after the
//     grace period;
//   - a gateway takes no bot in its first three ticks, so that gateways started together see
//     each other first;
//   - a gateway over its share while another live one is under it gives its extra bots up
//     (those that finished starting; stopped first, then their rows deleted and their locks
//     released), and the one under its share takes them at once.
//
// Why a bot never runs twice: the previous owner either gave it up cleanly (stopped, then row
// deleted, then unlocked), or lost its lock with its connection. In the second case it stops
// every bot as soon as it sees the loss (Ownership checks the connection every Interval, each
// check bounded by 5 s; a step waiting for the database meanwhile is cut short), and it writes
// no cluster_bot row after that; another gateway takes the
// bot only once the row is Grace old. Grace is longer than Interval plus the 5 s check timeout,
// so the old owner has stopped before the new one starts. A gateway killed with SIGKILL loses its
// connection (and its locks) at once; its bots are free Grace after its last row.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/lib/pq"
	"go.mau.fi/util/dbutil"

	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Defaults of Options.
const (
	DefaultInterval = time.Second
	DefaultGrace    = 8 * time.Second
)

// Options configure a Coordinator.
type Options struct {
	DB       *storage.DB
	Instance string // this gateway's ID, unique among the gateways (a random one per process)
	URL      string // where other gateways reach this one (GATEWAY_CLUSTER_URL); may be ""
	Interval time.Duration
	Grace    time.Duration // must be longer than Interval + 5 s (the ownership check's timeout)
	Logger   *slog.Logger
	// Bots returns the user IDs of the configured bots (the candidates).
	Bots func() []string
	// Run is told the bots this gateway runs now, after every change: it must start the new
	// ones and stop (and wait for) the others before it returns.
	Run func(owned map[string]bool)
	// Settled tells whether a bot has finished starting (its first sync is done); only settled
	// bots are given up to rebalance, since a stop in the middle of a start (E2EE set-up) can
	// leave its device half set up. nil = all are.
	Settled func(bot string) bool
	// Metrics count hand-overs, takeovers and lost locks, and show how many bots run here
	// (nil = none).
	Metrics *metrics.Fleet
}

// Coordinator runs the rule of the package for one gateway.
type Coordinator struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	own   *storage.Ownership
	owned map[string]bool

	killed chan struct{} // closed by kill (tests): Run returns as a killed process would
	joined time.Time     // the first heartbeat: bots are taken from three intervals later
}

// New returns a coordinator; Run starts it.
func New(opts Options) (*Coordinator, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Grace <= opts.Interval+5*time.Second {
		return nil, fmt.Errorf("the grace period (%v) must be longer than the interval (%v) plus 5 s", opts.Grace, opts.Interval)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Coordinator{opts: opts, log: opts.Logger, owned: map[string]bool{}, killed: make(chan struct{})}, nil
}

const versionTable = "cluster_version"

var upgrades = dbutil.BuildUpgradeTable().
	WithRaw(0, 1, 0, "gateways and the bots they run", dbutil.TxnModeOn, func(ctx context.Context, db *dbutil.Database) error {
		if _, err := db.Exec(ctx, `CREATE TABLE cluster_instance (
			id    TEXT   NOT NULL PRIMARY KEY,
			url   TEXT   NOT NULL,
			held  BIGINT NOT NULL,
			seen  BIGINT NOT NULL
		)`); err != nil {
			return err
		}
		_, err := db.Exec(ctx, `CREATE TABLE cluster_bot (
			bot       TEXT   NOT NULL PRIMARY KEY,
			instance  TEXT   NOT NULL,
			seen      BIGINT NOT NULL
		)`)
		return err
	}).Finish()

// Prepare creates or upgrades the tables of the package in db; run it once before Run.
func Prepare(ctx context.Context, db *dbutil.Database) error {
	if err := db.Child(versionTable, upgrades, db.Log).Upgrade(ctx); err != nil {
		return fmt.Errorf("failed to prepare the cluster tables: %w", err)
	}
	return nil
}

// Owned returns the bots this gateway runs now.
func (c *Coordinator) Owned() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.owned))
	for b := range c.owned {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

// Owners returns every bot a live gateway with a URL runs, with that gateway's URL: the map
// the proxy reads at most once per Refresh.
func (c *Coordinator) Owners(ctx context.Context) (map[string]string, error) {
	rows, err := c.opts.DB.DBUtil().Query(ctx, `SELECT b.bot, i.url FROM cluster_bot b JOIN cluster_instance i ON i.id = b.instance
		WHERE b.seen > $1 AND i.url <> ''`, c.millis(time.Now().Add(-c.opts.Grace)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var bot, url string
		if err := rows.Scan(&bot, &url); err != nil {
			return nil, err
		}
		out[bot] = url
	}
	return out, rows.Err()
}

func (c *Coordinator) millis(t time.Time) int64 { return t.UnixMilli() }

// Run coordinates until ctx ends; then it stops every bot, deletes its rows and releases its
// locks.
func (c *Coordinator) Run(ctx context.Context) {
	defer c.shutdown()
	tick := time.NewTicker(c.opts.Interval)
	defer tick.Stop()
	for {
		if err := c.stepUntilLost(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("cluster: a step failed; trying again", "error", err)
		}
		var lost <-chan struct{}
		c.mu.Lock()
		if c.own != nil {
			lost = c.own.Lost()
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-c.killed:
			return
		case <-lost:
			c.lose()
		case <-tick.C:
		}
	}
}

// stepUntilLost runs a step whose statements are cut short when the ownership connection ends
// meanwhile: a step that waits for the database (a lock held by another transaction, a server
// that is slow to answer) must not keep the bots running after their locks are gone, since the
// other gateways take them Grace after this one's last row.
func (c *Coordinator) stepUntilLost(ctx context.Context) error {
	c.mu.Lock()
	own := c.own
	c.mu.Unlock()
	if own == nil {
		o, err := storage.NewOwnership(ctx, c.opts.DB, c.opts.Interval)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.own, own = o, o
		c.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-own.Lost():
			cancel()
		case <-ctx.Done():
		}
	}()
	return c.step(ctx, own)
}

// lose stops every bot at once: the ownership connection ended, so the server has released
// the locks (or will): another gateway may take the bots once Grace has passed.
func (c *Coordinator) lose() {
	c.mu.Lock()
	own := c.own
	c.own = nil
	bots := len(c.owned)
	c.owned = map[string]bool{}
	c.mu.Unlock()
	c.log.Error("cluster: the ownership connection to the database ended; stopping every bot of this gateway", "bots", bots, "error", own.Err())
	c.opts.Metrics.LostLock()
	c.opts.Metrics.Running(0)
	c.opts.Run(map[string]bool{})
	_ = own.Close()
}

// kill stops Run the way SIGKILL stops a gateway: its connection (and locks) end, its rows
// stay, nothing is given up. For tests.
func (c *Coordinator) kill() {
	close(c.killed)
	c.mu.Lock()
	own := c.own
	c.mu.Unlock()
	if own != nil {
		_ = own.Close()
	}
}

func (c *Coordinator) shutdown() {
	select {
	case <-c.killed:
		return
	default:
	}
	c.mu.Lock()
	own := c.own
	c.own = nil
	owned := c.owned
	c.owned = map[string]bool{}
	c.mu.Unlock()
	c.opts.Run(map[string]bool{})
	c.opts.Metrics.Running(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db := c.opts.DB.DBUtil()
	for b := range owned {
		if _, err := db.Exec(ctx, `DELETE FROM cluster_bot WHERE bot = $1 AND instance = $2`, b, c.opts.Instance); err == nil {
			c.opts.Metrics.HandedOver(1) // the others take it at once
		}
	}
	_, _ = db.Exec(ctx, `DELETE FROM cluster_instance WHERE id = $1`, c.opts.Instance)
	if own != nil {
		_ = own.Close()
	}
}

// step is one tick of the rule.
func (c *Coordinator) step(ctx context.Context, own *storage.Ownership) error {
	db := c.opts.DB.DBUtil()
	now := time.Now()
	owned := c.Owned()
	if _, err := db.Exec(ctx, `INSERT INTO cluster_instance (id, url, held, seen) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET url = excluded.url, held = excluded.held, seen = excluded.seen`,
		c.opts.Instance, c.opts.URL, len(owned), c.millis(now)); err != nil {
		return fmt.Errorf("failed to write the heartbeat: %w", err)
	}
	// Rows only while the ownership connection is known alive (see the package comment).
	// One statement for all of them (each was inserted when it was taken); only the bots run
	// now, not rows left from before a lost connection.
	if own.Err() == nil && len(owned) > 0 {
		if _, err := db.Exec(ctx, `UPDATE cluster_bot SET seen = $1 WHERE instance = $2 AND bot = ANY($3)`,
			c.millis(now), c.opts.Instance, pq.Array(owned)); err != nil {
			return fmt.Errorf("failed to write that the bots run here: %w", err)
		}
	}

	live, under, err := c.instances(ctx, now)
	if err != nil {
		return err
	}
	bots := c.opts.Bots()
	slices.Sort(bots)
	share := (len(bots) + live - 1) / max(live, 1)
	rows, err := c.botRows(ctx)
	if err != nil {
		return err
	}
	changed := false
	next := map[string]bool{}
	for _, b := range owned {
		if slices.Contains(bots, b) {
			next[b] = true
		} else {
			changed = true // no longer configured
		}
	}
	// Give the bots over the share up when another live gateway is under it.
	if len(next) > share && under {
		for _, b := range owned {
			if len(next) <= share {
				break
			}
			if next[b] && (c.opts.Settled == nil || c.opts.Settled(b)) {
				delete(next, b)
				changed = true
			}
		}
	}
	if c.joined.IsZero() {
		c.joined = now
	}
	// The gateways started together see each other before any takes a bot: none takes them all
	// only to give most up again a moment later.
	joining := now.Sub(c.joined) < 3*c.opts.Interval
	for _, b := range bots {
		if joining {
			break
		}
		if next[b] || slices.Contains(owned, b) {
			continue // run here, or just given up
		}
		r, hasRow := rows[b]
		stale := !hasRow || r.seen < c.millis(now.Add(-c.opts.Grace))
		mine := hasRow && r.instance == c.opts.Instance // this gateway ran it and stopped it
		if !stale && !mine {
			continue // another gateway runs it
		}
		if len(next) >= share && (!stale || (!hasRow && under)) {
			// At or over the share: only what nobody has run for Grace, and a bot with no row
			// (given up, or never run) only when no other gateway is under its share — else that
			// one takes it, and this gateway would take back what it just gave up, tick after tick.
			continue
		}
		ok, err := own.Acquire(ctx, b)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		// The row first, so that nobody takes the bot for Grace from now.
		if _, err := db.Exec(ctx, `INSERT INTO cluster_bot (bot, instance, seen) VALUES ($1, $2, $3)
			ON CONFLICT (bot) DO UPDATE SET instance = excluded.instance, seen = excluded.seen`, b, c.opts.Instance, c.millis(now)); err != nil {
			_ = own.Release(ctx, b)
			return fmt.Errorf("failed to write that %s runs here: %w", b, err)
		}
		next[b] = true
		changed = true
		if hasRow && !mine {
			c.opts.Metrics.TookOver() // its gateway stopped saying it runs it for Grace
		}
	}
	if !changed {
		return nil
	}
	c.mu.Lock()
	c.owned = next
	c.mu.Unlock()
	c.opts.Metrics.Running(len(next))
	c.opts.Run(copyMap(next)) // starts the new bots; stops the given-up ones before it returns
	for _, b := range owned {
		if !next[b] {
			if _, err := db.Exec(ctx, `DELETE FROM cluster_bot WHERE bot = $1 AND instance = $2`, b, c.opts.Instance); err != nil {
				return fmt.Errorf("failed to give %s up: %w", b, err)
			}
			if err := own.Release(ctx, b); err != nil {
				return err
			}
			c.opts.Metrics.HandedOver(1)
			c.log.Info("cluster: gave a bot up", "bot", b)
		}
	}
	return nil
}

type botRow struct {
	instance string
	seen     int64
}

func (c *Coordinator) botRows(ctx context.Context) (map[string]botRow, error) {
	rows, err := c.opts.DB.DBUtil().Query(ctx, `SELECT bot, instance, seen FROM cluster_bot`)
	if err != nil {
		return nil, fmt.Errorf("failed to read which gateway runs which bot: %w", err)
	}
	defer rows.Close()
	out := map[string]botRow{}
	for rows.Next() {
		var b string
		var r botRow
		if err := rows.Scan(&b, &r.instance, &r.seen); err != nil {
			return nil, err
		}
		out[b] = r
	}
	return out, rows.Err()
}

// instances counts the live gateways and tells whether one of the others runs fewer bots than
// its share would let it.
func (c *Coordinator) instances(ctx context.Context, now time.Time) (live int, under bool, err error) {
	rows, err := c.opts.DB.DBUtil().Query(ctx, `SELECT id, held FROM cluster_instance WHERE seen > $1`,
		c.millis(now.Add(-3*c.opts.Interval)))
	if err != nil {
		return 0, false, fmt.Errorf("failed to read the live gateways: %w", err)
	}
	defer rows.Close()
	var helds []int64
	for rows.Next() {
		var id string
		var held int64
		if err := rows.Scan(&id, &held); err != nil {
			return 0, false, err
		}
		if id != c.opts.Instance {
			helds = append(helds, held)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	live = len(helds) + 1
	share := int64((len(c.opts.Bots()) + live - 1) / live)
	for _, h := range helds {
		if h < share { // then one over the share gives up its extra bots (they add up: see step)
			under = true
		}
	}
	return live, under, nil
}

func copyMap(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ErrNoUserID: in a cluster every bot needs its user_id configured (its lock is keyed by it).
var ErrNoUserID = errors.New("several gateways share the bots: every bot needs user_id")

// proxyKeyName is where the key the gateways of a cluster share is kept (gateway_kv).
const proxyKeyName = "cluster:proxy-key"

// ProxyKey returns the key the gateways sharing db mark the requests they send on to each other
// with (Proxy.Key, web.AuthLimiter.TrustProxies): made by the first gateway that asks, then
// read by the others. Whoever can read the database has it, as it has the bots' tokens.
func ProxyKey(ctx context.Context, db *storage.DB) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("failed to make the cluster's key: %w", err)
	}
	stored, err := db.KV().GetOrSetValue(ctx, proxyKeyName, hex.EncodeToString(fresh))
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(stored)
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("the cluster's key in the database (%s) is not valid: delete that row of gateway_kv and restart the gateways", proxyKeyName)
	}
	return key, nil
}
