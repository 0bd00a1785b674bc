package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	neturl "net/url"
	"regexp"
	"strings"

	_ "github.com/lib/pq" // registers the "postgres" driver
	"go.mau.fi/util/dbutil"

	"github.com/matrix-onebot/gateway/internal/redact"
)

// ErrUnsupportedURL is returned (wrapped) by Open for a location that is a URL of a kind the
// gateway does not serve: only postgres:// and postgresql:// URLs are, and file paths.
var ErrUnsupportedURL = errors.New("unsupported database URL: set a SQLite file path or a postgres:// URL")

var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// IsURL tells whether location has the form of a URL (scheme://…) rather than of a file path.
// Such a location is never taken for a file: "postgres://host/db" would otherwise be a folder
// named "postgres:".
func IsURL(location string) bool { return urlScheme.MatchString(location) }

// IsPostgresURL tells whether location is a PostgreSQL URL (postgres:// or postgresql://).
func IsPostgresURL(location string) bool {
	scheme, _, ok := strings.Cut(location, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// openPostgres opens a pool to the database at url with lib/pq (the driver mautrix's own bridges
// use with dbutil) and checks that it answers.
func openPostgres(ctx context.Context, url string) (*sql.DB, error) {
	raw, err := sql.Open(dbutil.Postgres.String(), url)
	if err == nil {
		raw.SetMaxIdleConns(maxIdleConns)
		err = raw.PingContext(ctx)
	}
	if err != nil {
		if raw != nil {
			_ = raw.Close()
		}
		var ue *neturl.Error
		if errors.As(err, &ue) { // the parser's error quotes the whole URL, password and all
			err = fmt.Errorf("not a valid URL: %w", ue.Err)
		}
		return nil, fmt.Errorf("failed to connect to PostgreSQL at %s: %w", redact.URL(url), err)
	}
	return raw, nil
}

// upgradeLockKey is the key of the transaction-level advisory lock that gateways sharing one
// PostgreSQL database take while they upgrade it, so that they do not run a step twice. It is
// "gatewayv" read as a big-endian number; any constant would do.
const upgradeLockKey int64 = 0x6761746577617976

// lockForUpgrade waits, in the transaction of ctx, until no other gateway upgrades the database.
// SQLite needs nothing: its transaction already holds the write lock.
func lockForUpgrade(ctx context.Context, db *dbutil.Database) error {
	if db.Dialect != dbutil.Postgres {
		return nil
	}
	if _, err := db.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, upgradeLockKey); err != nil {
		return fmt.Errorf("failed to lock the database for the upgrade: %w", err)
	}
	return nil
}
