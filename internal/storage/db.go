// Package storage keeps all of the gateway's state in one database, a SQLite file or a
// PostgreSQL database: sync positions, the OneBot v11 integer id maps, the message index, the
// outbox, tokens and a small key/value table. mautrix's crypto and state stores live in the same
// database (through DBUtil), each with its own version table.
package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"go.mau.fi/util/dbutil"

	"github.com/matrix-onebot/gateway/internal/redact"
	"github.com/matrix-onebot/gateway/internal/storage/writegate"
)

// ErrNotFound is returned (possibly wrapped) when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

const (
	// busyTimeoutMS is how long a connection waits for another writer before
	// giving up with SQLITE_BUSY.
	busyTimeoutMS = 5000

	// dsnParams are applied by mattn/go-sqlite3 to every new connection
	// (after _busy_timeout). _txlock=immediate makes BeginTx take the write
	// lock at once, so a transaction never fails half-way with SQLITE_BUSY
	// when it upgrades from read to write. _secure_delete=on makes SQLite overwrite
	// deleted rows with zeros, so the message bodies and keys the retention prunes
	// (and the rows mautrix's stores delete) do not stay readable in free space of the
	// file; Checkpoint then removes them from the WAL. _stmt_cache_size keeps each connection's
	// most recently used prepared statements (mattn/go-sqlite3's own cache), so that the queries
	// the sync loop runs for every batch (the message index's upsert, the sync position, the
	// in-flight record, member lookups) are not compiled again each time.
	dsnParams = "_foreign_keys=on&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate&_secure_delete=on&_stmt_cache_size=64"

	// maxIdleConns keeps a few connections open so the per-connection pragmas
	// are not run again on every burst.
	maxIdleConns = 4

	queryJournalMode = `PRAGMA journal_mode`
)

// DB is the gateway's database. It is safe for concurrent use.
type DB struct {
	sql      *sql.DB
	util     *dbutil.Database
	dialect  dbutil.Dialect
	path     string // the SQLite file; "" on PostgreSQL
	location string // what Problem names: the file, or the URL without its password and query
	idMaps   [kindCount]*idCache

	memoryLocks memoryLocks // the bot locks of Ownership on SQLite

	stopCheckpointer func()      // SQLite: ends the checkpointer and waits for it
	closed           atomic.Bool // Close has begun: PutMessageLater refuses
	held             sync.Map    // bot user ID → *later.Held[string, Message]: HoldMessages (later.go)
	checkpointing    sync.Mutex  // held while a checkpoint runs (checkpointer or Checkpoint)

	retention atomic.Pointer[Retention]
	now       func() time.Time // the clock of stored_ms and the retention; tests move it
	// droppedAtDelivery counts encrypted outbox frames deleted once delivered (OutboxDelivered)
	// since the last PruneMessages, which reports them so that the pruner empties the WAL.
	droppedAtDelivery atomic.Int64
}

// Open opens the database at location and brings its schema up to date. location is a SQLite
// file path or a postgres:// (postgresql://) URL; any other URL is refused (IsURL). For a file,
// the parent directory is created with mode 0700 and the file with mode 0600 (an existing file
// with wider permissions is tightened, since the file will hold encryption keys). Open fails
// with an error wrapping ErrSchemaTooNew if the database was written by a newer build.
func Open(ctx context.Context, location string) (*DB, error) {
	var (
		raw *sql.DB
		db  = &DB{now: time.Now}
		err error
	)
	switch {
	case IsPostgresURL(location):
		db.dialect, db.location = dbutil.Postgres, redact.URL(location)
		raw, err = openPostgres(ctx, location)
	case IsURL(location):
		return nil, fmt.Errorf("failed to open database %s: %w", redact.URL(location), ErrUnsupportedURL)
	default:
		db.dialect = dbutil.SQLite
		if db.path, err = prepareFile(location); err != nil {
			return nil, err
		}
		db.location = db.path
		raw, err = openRaw(ctx, db.path)
	}
	if err != nil {
		return nil, err
	}
	db.sql = raw
	db.util, err = dbutil.NewWithDB(raw, db.dialect.String())
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("failed to wrap database for mautrix: %w", err)
	}
	if err := upgrade(ctx, db.util, versionTable, upgradeTable); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("failed to migrate database %s: %w", db.location, err)
	}
	for k := range db.idMaps {
		db.idMaps[k] = newIDCache(idCacheSize)
	}
	if !isPostgres(db) {
		db.stopCheckpointer = db.startCheckpointer(checkpointEvery)
	}
	return db, nil
}

// Close closes the database. The caller must not use db afterwards.
func (db *DB) Close() error {
	db.closed.Store(true)
	var errs []error
	db.held.Range(func(bot, _ any) bool { // what no sync loop stored (a bot stopped before its next batch)
		db.Messages().WriteHeld(context.Background(), bot.(string), func(m Message, err error) { errs = append(errs, err) })
		return true
	})
	if db.stopCheckpointer != nil {
		db.stopCheckpointer()
	}
	if err := db.sql.Close(); err != nil {
		errs = append(errs, fmt.Errorf("failed to close database: %w", err))
	}
	return errors.Join(errs...)
}

// SQL returns the underlying connection pool. Queries through it use the driver's own
// placeholders (? on SQLite, $1 on PostgreSQL); DBUtil's accept $1 on both.
func (db *DB) SQL() *sql.DB { return db.sql }

// DBUtil returns the pool wrapped for go.mau.fi/util/dbutil with the database's dialect, ready
// for sqlstatestore.NewSQLStateStore or crypto.NewSQLCryptoStore. Those call Child with their
// own version table.
func (db *DB) DBUtil() *dbutil.Database { return db.util }

// Path returns the absolute path of the SQLite file, or "" when the database is PostgreSQL.
func (db *DB) Path() string { return db.path }

// isPostgres tells whether the database is PostgreSQL (else SQLite). Callers outside the package
// can ask DBUtil().Dialect.
func isPostgres(db *DB) bool { return db.dialect == dbutil.Postgres }

// prepareFile creates the parent directory (0700) and the database file
// (0600) so SQLite never creates it with its default 0644.
func prepareFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("failed to open database: path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("failed to resolve database path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return "", fmt.Errorf("failed to create database directory: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("failed to create database file: %w", err)
	}
	info, err := f.Stat()
	_ = f.Close()
	if err != nil {
		return "", fmt.Errorf("failed to stat database file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(abs, 0o600); err != nil {
			return "", fmt.Errorf("failed to restrict database file permissions: %w", err)
		}
	}
	return abs, nil
}

// dsn builds a file: URI for mattn/go-sqlite3. The path is escaped, so names
// containing '?', '#' or '%' work.
func dsn(absPath string) string {
	query := "_busy_timeout=" + strconv.Itoa(busyTimeoutMS) + "&" + dsnParams
	u := url.URL{Scheme: "file", Path: absPath, RawQuery: query}
	return u.String()
}

// sqliteConnector opens the pool's connections to one file. Each leaves checkpoints to the
// DB's checkpointer (PRAGMA wal_autocheckpoint is per connection; the DSN cannot set it).
// Their writes take turns through one writegate.Gate (a lock in Go, not SQLite's sleeps).
type sqliteConnector struct {
	dsn  string
	drv  *sqlite3.SQLiteDriver
	gate *writegate.Gate
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return c.gate.Wrap(conn.(*sqlite3.SQLiteConn)), nil
}
func (c sqliteConnector) Driver() driver.Driver { return c.drv }

// noAutoCheckpoint turns SQLite's automatic checkpoint off on a new connection: it copies the
// WAL into the database file (and fsyncs both) inside whichever commit makes the WAL reach
// 1,000 pages, so that one batch's hand-over or one send's answer would wait tens of
// milliseconds for it. The DB's checkpointer does it in the background instead.
func noAutoCheckpoint(c *sqlite3.SQLiteConn) error {
	_, err := c.Exec("PRAGMA wal_autocheckpoint = 0", nil)
	return err
}

// openRaw opens the pool and checks that the pragmas took effect.
func openRaw(ctx context.Context, absPath string) (*sql.DB, error) {
	raw := sql.OpenDB(sqliteConnector{dsn: dsn(absPath), drv: &sqlite3.SQLiteDriver{ConnectHook: noAutoCheckpoint},
		gate: writegate.New(busyTimeoutMS * time.Millisecond)})
	raw.SetMaxIdleConns(maxIdleConns)
	var mode string
	if err := raw.QueryRowContext(ctx, queryJournalMode).Scan(&mode); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("failed to open database %s: %w", absPath, err)
	}
	if mode != "wal" {
		_ = raw.Close()
		return nil, fmt.Errorf("failed to enable WAL journal mode on %s: journal mode is %q", absPath, mode)
	}
	return raw, nil
}

// inTx runs fn in a transaction and commits it if fn returns nil. Queries through db.util with
// the ctx fn is given run in the transaction. On SQLite it starts with BEGIN IMMEDIATE (see
// dsnParams).
func inTx(ctx context.Context, db *DB, fn func(ctx context.Context) error) error {
	return db.util.DoTxn(ctx, nil, fn)
}
