// Package writegate lets the connections of one SQLite database in this process take turns at
// writing in Go instead of in SQLite. SQLite lets one writer in at a time, and a connection that
// finds the database locked sleeps in SQLite's busy handler in steps of 1, 2, 5, 10, … 100 ms
// before it looks again: two writers that meet (the sync loop saving a batch while a push
// endpoint's feed marks a frame delivered) cost the loser a millisecond or more, and under steady
// contention one writer can starve for a second (storage BenchmarkBatchCommitsWhileAnotherWrites).
// A Gate is a lock taken before a transaction begins (with _txlock=immediate every BEGIN takes
// SQLite's write lock) and before a statement runs outside one, and released when the transaction
// ends or the statement returns: waiters queue in Go, first come first served, and the next one
// goes in as soon as the lock is free. Statements outside this package's connections (another
// process, a prepared statement) still meet SQLite's busy handler, as before.
package writegate

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// waits and waitedNS count, in the whole process, the writes that found another write in their
// way and the time they waited (Stats).
var waits, waitedNS atomic.Int64

// Stats is how many writes of this process waited for another one's turn so far, and how long
// they waited in all (the metrics db_write_waits_total and db_write_wait_seconds_total).
func Stats() (n int64, waited time.Duration) { return waits.Load(), time.Duration(waitedNS.Load()) }

// Gate is the write turn of one database.
type Gate struct {
	turn    chan struct{}
	wait    time.Duration
	waiting atomic.Int32 // writers waiting for their turn now
}

// New returns a gate whose waiters give up after wait (as SQLite's busy timeout would).
func New(wait time.Duration) *Gate { return &Gate{turn: make(chan struct{}, 1), wait: wait} }

func (g *Gate) acquire(ctx context.Context) error {
	select {
	case g.turn <- struct{}{}:
		return nil
	default:
	}
	g.waiting.Add(1)
	waited := time.Now()
	defer func() {
		g.waiting.Add(-1)
		waits.Add(1)
		waitedNS.Add(int64(time.Since(waited)))
	}()
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("database is locked: another write of this process held it for %v", g.wait)
	}
}

func (g *Gate) release() { <-g.turn }

// Wrap returns c with its transactions and its statements outside a transaction taking turns
// through g. It has the methods database/sql uses of c (c's others are not reachable through
// database/sql anyway).
func (g *Gate) Wrap(c *sqlite3.SQLiteConn) driver.Conn { return &conn{c: c, g: g} }

type conn struct {
	c    *sqlite3.SQLiteConn
	g    *Gate
	held bool // a transaction is open on the connection: it has the turn
}

var (
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
)

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.g.acquire(ctx); err != nil {
		return nil, err
	}
	tx, err := c.c.BeginTx(ctx, opts)
	if err != nil {
		c.g.release()
		return nil, err
	}
	c.held = true
	return &gatedTx{Tx: tx, c: c}, nil
}

func (c *conn) Begin() (driver.Tx, error) { return c.BeginTx(context.Background(), driver.TxOptions{}) }

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.held {
		return c.c.ExecContext(ctx, query, args)
	}
	if err := c.g.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.g.release()
	return c.c.ExecContext(ctx, query, args)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.c.QueryContext(ctx, query, args)
}

func (c *conn) Prepare(query string) (driver.Stmt, error) { return c.c.Prepare(query) }

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.c.PrepareContext(ctx, query)
}

func (c *conn) Ping(ctx context.Context) error { return c.c.Ping(ctx) }

// Close gives the turn back if a transaction was left open (database/sql closes a connection it
// found broken without ending its transaction).
func (c *conn) Close() error {
	c.end()
	return c.c.Close()
}

func (c *conn) end() {
	if c.held {
		c.held = false
		c.g.release()
	}
}

// gatedTx gives the turn back when the transaction ends, committed or not.
type gatedTx struct {
	driver.Tx
	c *conn
}

func (t *gatedTx) Commit() error {
	defer t.c.end()
	return t.Tx.Commit()
}

func (t *gatedTx) Rollback() error {
	defer t.c.end()
	return t.Tx.Rollback()
}
