package storage

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
)

// ErrSchemaTooNew is returned (wrapped) by Open when the database was written
// by a newer build of the gateway. Migrations are forward-only, so the only
// fix is to run that newer build (or restore a backup).
var ErrSchemaTooNew = errors.New("database schema is newer than this build supports")

//go:embed migrations/*.sql
var migrationFiles embed.FS

const migrationDir = "migrations"

// migrationName is NNNN_description.sql; NNNN is the version it brings the
// schema to.
var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

const (
	// gateway_version holds one row: the number of the last migration applied.
	// mautrix's stores keep their own (crypto_version, mx_version).
	createVersionTable = `CREATE TABLE IF NOT EXISTS gateway_version (version INTEGER NOT NULL)`
	selectVersion      = `SELECT COALESCE(MAX(version), 0) FROM gateway_version`
	deleteVersion      = `DELETE FROM gateway_version`
	insertVersion      = `INSERT INTO gateway_version (version) VALUES (?)`
)

type migration struct {
	version int
	name    string
	sql     string
}

// embeddedMigrations returns the migrations built into the binary, in order.
func embeddedMigrations() ([]migration, error) {
	return loadMigrations(migrationFiles, migrationDir)
}

// loadMigrations reads dir and checks that the versions run 1, 2, 3, ...
// without gaps or duplicates.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("failed to list migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("failed to load migrations: unexpected file %q", e.Name())
		}
		version, _ := strconv.Atoi(m[1])
		if version != len(out)+1 {
			return nil, fmt.Errorf("failed to load migrations: %q should be version %d", e.Name(), len(out)+1)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("failed to read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: version, name: e.Name(), sql: string(body)})
	}
	if len(out) == 0 {
		return nil, errors.New("failed to load migrations: none found")
	}
	return out, nil
}

// migrate applies the migrations the database does not have yet, each in its
// own transaction. It refuses a database newer than the last migration.
// Several processes may run it on the same file: each step re-reads the
// version under the write lock.
func migrate(ctx context.Context, db *sql.DB, migrations []migration) error {
	if _, err := db.ExecContext(ctx, createVersionTable); err != nil {
		return fmt.Errorf("failed to create version table: %w", err)
	}
	for {
		done, err := migrateStep(ctx, db, migrations)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next migration, or reports that there is none.
func migrateStep(ctx context.Context, db *sql.DB, migrations []migration) (done bool, err error) {
	latest := len(migrations)
	err = inTx(ctx, db, func(tx *sql.Tx) error {
		var current int
		if err := tx.QueryRowContext(ctx, selectVersion).Scan(&current); err != nil {
			return fmt.Errorf("failed to read schema version: %w", err)
		}
		switch {
		case current > latest:
			return fmt.Errorf("%w: the file is at version %d, this build knows up to %d", ErrSchemaTooNew, current, latest)
		case current == latest:
			done = true
			return nil
		}
		m := migrations[current]
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("failed to apply migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, deleteVersion); err != nil {
			return fmt.Errorf("failed to record schema version: %w", err)
		}
		if _, err := tx.ExecContext(ctx, insertVersion, m.version); err != nil {
			return fmt.Errorf("failed to record schema version: %w", err)
		}
		return nil
	})
	return done, err
}

// SchemaVersion returns the gateway's schema version stored in the file.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := db.sql.QueryRowContext(ctx, selectVersion).Scan(&v); err != nil {
		return 0, fmt.Errorf("failed to read schema version: %w", err)
	}
	return v, nil
}
