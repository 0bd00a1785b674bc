package writegate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/matrix-onebot/gateway/test/wait"
)

type connector struct {
	dsn  string
	gate *Gate // nil: connections as the driver makes them
}

func (c connector) Connect(context.Context) (driver.Conn, error) {
	conn, err := (&sqlite3.SQLiteDriver{}).Open(c.dsn)
	if err != nil || c.gate == nil {
		return conn, err
	}
	return c.gate.Wrap(conn.(*sqlite3.SQLiteConn)), nil
}
func (c connector) Driver() driver.Driver { return &sqlite3.SQLiteDriver{} }

// open opens a pool on a new file whose connections do not wait in SQLite at all (busy timeout
// 0): a write that meets another fails at once with "database is locked" unless gate makes it
// wait its turn.
func open(t *testing.T, gate *Gate) *sql.DB {
	t.Helper()
	u := url.URL{Scheme: "file", Path: filepath.Join(t.TempDir(), "t.db"),
		RawQuery: "_busy_timeout=0&_journal_mode=WAL&_txlock=immediate"}
	db := sql.OpenDB(connector{dsn: u.String(), gate: gate})
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Exec("CREATE TABLE t (v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	return db
}

// A write outside a transaction waits for the transaction another connection holds, and goes in
// when it ends, instead of failing or sleeping in SQLite's busy handler.
func TestWriteWaitsForTheOpenTransaction(t *testing.T) {
	for _, gated := range []bool{true, false} {
		var gate *Gate
		if gated {
			gate = New(time.Minute)
		}
		db := open(t, gate)
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("INSERT INTO t VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		wrote := make(chan error, 1)
		go func() {
			_, err := db.Exec("INSERT INTO t VALUES (2)")
			wrote <- err
		}()
		if !gated {
			// Without the gate the second write meets SQLite's lock and fails: what the gate is for.
			if err := <-wrote; err == nil || !strings.Contains(err.Error(), "locked") {
				t.Fatalf("without the gate: %v, want database is locked", err)
			}
			_ = tx.Rollback()
			continue
		}
		before, _ := Stats()
		wait.For(t, 10*time.Second, "the write to wait for its turn", func() bool { return gate.waiting.Load() == 1 })
		select {
		case err := <-wrote:
			t.Fatalf("the write went in (%v) while another connection's transaction was open", err)
		default:
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-wrote; err != nil {
			t.Fatalf("the write after the transaction ended: %v", err)
		}
		if n, waited := Stats(); n != before+1 || waited <= 0 {
			t.Fatalf("Stats after one write waited: %d (before %d), %v", n, before, waited)
		}
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 2 {
			t.Fatalf("%d rows, %v; want 2", n, err)
		}
	}
}

// A waiter gives up after the gate's wait, saying why, or when its context ends; a rolled-back
// transaction gives the turn back too.
func TestWaiterGivesUp(t *testing.T) {
	db := open(t, New(20*time.Millisecond))
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO t VALUES (1)"); err == nil || !strings.Contains(err.Error(), "another write of this process held it") {
		t.Fatalf("write while the turn is held for longer than the wait: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (1)"); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with an ended context: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO t VALUES (1)"); err != nil {
		t.Fatalf("write after the rollback: %v", err)
	}
}
