package storage

import (
	"database/sql/driver"
	"errors"
	"net"
	"strings"
	"syscall"

	"github.com/lib/pq"
	"github.com/mattn/go-sqlite3"
)

// ErrDiskFull is matched (errors.Is) by a write that failed because the disk of the database is
// full.
var ErrDiskFull = errors.New("database disk is full")

// PostgreSQL error codes (SQLSTATE) that Problem explains.
const (
	pqDiskFull     = "53100" // disk_full
	pqReadOnly     = "25006" // read_only_sql_transaction
	pqTooManyConns = "53300" // too_many_connections
)

// IsDiskFull tells whether err is a database write that failed for lack of disk space
// (SQLITE_FULL, an I/O error whose system error is ENOSPC or EDQUOT, or PostgreSQL's disk_full).
func IsDiskFull(err error) bool {
	if errors.Is(err, ErrDiskFull) {
		return true
	}
	if pe, ok := errors.AsType[*pq.Error](err); ok {
		return string(pe.Code) == pqDiskFull
	}
	var e sqlite3.Error
	if !errors.As(err, &e) {
		return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
	}
	return e.Code == sqlite3.ErrFull ||
		e.Code == sqlite3.ErrIoErr && (e.SystemErrno == syscall.ENOSPC || e.SystemErrno == syscall.EDQUOT)
}

// Problem says, for the operator, why a database call failed and what to do; it names the file
// or the PostgreSQL URL (without its password). Nothing secret is in it (SQLite errors carry no
// row data, and a PostgreSQL error's detail, which can, is left out).
func (db *DB) Problem(err error) string {
	where := "GATEWAY_DATABASE (" + db.location + ")"
	if isPostgres(db) {
		return postgresProblem(err, where)
	}
	var e sqlite3.Error
	errors.As(err, &e)
	switch {
	case IsDiskFull(err):
		return "database disk is full: free space on the disk of " + where + "; the gateway retries by itself"
	case e.Code == sqlite3.ErrReadonly:
		return "database is read-only: make " + where + " and its directory writable; the gateway retries by itself"
	case e.Code == sqlite3.ErrBusy || e.Code == sqlite3.ErrLocked:
		return "database is locked by another process: run one gateway per " + where + "; the gateway retries by itself"
	case e.Code == sqlite3.ErrIoErr:
		return "database I/O error on " + where + ": check the disk; the gateway retries by itself (" + err.Error() + ")"
	}
	return "database error on " + where + "; the gateway retries by itself: " + err.Error()
}

func postgresProblem(err error, where string) string {
	pe, _ := errors.AsType[*pq.Error](err)
	code := ""
	if pe != nil {
		code = string(pe.Code)
	}
	switch {
	case code == pqDiskFull:
		return "PostgreSQL's disk is full (" + where + "): free space on the database server; the gateway retries by itself"
	case code == pqReadOnly:
		return "PostgreSQL refuses writes (" + where + " is a read-only server or transaction): point it at the primary; the gateway retries by itself"
	case code == pqTooManyConns:
		return "PostgreSQL has no connection left for the gateway (" + where + "): raise max_connections or lower other clients' pools; the gateway retries by itself"
	case strings.HasPrefix(code, "08") || pe == nil && isConnError(err):
		return "cannot reach PostgreSQL at " + where + ": check that the server runs and is reachable; the gateway retries by itself (" + err.Error() + ")"
	}
	return "database error on " + where + "; the gateway retries by itself: " + err.Error()
}

// postgresSessionEnded tells whether err is PostgreSQL ending the session: a connection
// exception (class 08) or an operator intervention that ends it (57P01 admin_shutdown, e.g.
// pg_terminate_backend; 57P02 crash_shutdown; 57P03 cannot_connect_now).
func postgresSessionEnded(err error) bool {
	pe, ok := errors.AsType[*pq.Error](err)
	if !ok {
		return false
	}
	code := string(pe.Code)
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
}

// isConnError tells whether err is a lost or refused connection to the database server.
func isConnError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET)
}

// IsDBError tells whether err came from the database (any SQLite or PostgreSQL error, a broken
// connection to PostgreSQL, or a full disk), as opposed to bad input: retrying may succeed once
// the database works again. A network error alone does not count: it may be the homeserver's.
func IsDBError(err error) bool {
	var e sqlite3.Error
	if _, ok := errors.AsType[*pq.Error](err); ok {
		return true
	}
	return errors.As(err, &e) || IsDiskFull(err) || errors.Is(err, driver.ErrBadConn)
}
