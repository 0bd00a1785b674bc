package storage

import (
	"errors"
	"syscall"

	"github.com/mattn/go-sqlite3"
)

// ErrDiskFull is matched (errors.Is) by a write that failed because the disk of the database is
// full.
var ErrDiskFull = errors.New("database disk is full")

// IsDiskFull tells whether err is a database write that failed for lack of disk space
// (SQLITE_FULL, or an I/O error whose system error is ENOSPC or EDQUOT).
func IsDiskFull(err error) bool {
	if errors.Is(err, ErrDiskFull) {
		return true
	}
	var e sqlite3.Error
	if !errors.As(err, &e) {
		return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
	}
	return e.Code == sqlite3.ErrFull ||
		e.Code == sqlite3.ErrIoErr && (e.SystemErrno == syscall.ENOSPC || e.SystemErrno == syscall.EDQUOT)
}

// Problem says, for the operator, why a database call failed and what to do; it names the file.
// Nothing secret is in it (SQLite errors carry no row data).
func (db *DB) Problem(err error) string {
	var e sqlite3.Error
	errors.As(err, &e)
	switch {
	case IsDiskFull(err):
		return "database disk is full: free space on the disk of GATEWAY_DATABASE (" + db.path + "); the gateway retries by itself"
	case e.Code == sqlite3.ErrReadonly:
		return "database is read-only: make GATEWAY_DATABASE (" + db.path + ") and its directory writable; the gateway retries by itself"
	case e.Code == sqlite3.ErrBusy || e.Code == sqlite3.ErrLocked:
		return "database is locked by another process: run one gateway per GATEWAY_DATABASE (" + db.path + "); the gateway retries by itself"
	case e.Code == sqlite3.ErrIoErr:
		return "database I/O error on GATEWAY_DATABASE (" + db.path + "): check the disk; the gateway retries by itself (" + err.Error() + ")"
	}
	return "database error on GATEWAY_DATABASE (" + db.path + "); the gateway retries by itself: " + err.Error()
}

// IsDBError tells whether err came from the database (any SQLite error, or a full disk), as
// opposed to bad input: retrying may succeed once the database works again.
func IsDBError(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) || IsDiskFull(err)
}
