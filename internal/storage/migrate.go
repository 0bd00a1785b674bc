package storage

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"go.mau.fi/util/dbutil"
)

// ErrSchemaTooNew is returned (wrapped) by Open when the database was written by a newer build of
// the gateway that this one cannot work with. Upgrades are forward-only, so the only fix is to
// run that newer build (or restore a backup).
var ErrSchemaTooNew = errors.New("database schema is newer than this build supports")

// The gateway's own tables are brought up to date by mautrix's dbutil upgrade table, as mautrix's
// crypto and state stores are: one migration system for everything in the database. The files
// have dbutil's headers ("-- v2: …", "-- v0 -> v6: …") and its dialect lines ("-- only: sqlite").
//
//go:embed upgrades/*.sql
var upgradeFiles embed.FS

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(upgradeFiles, "upgrades").Finish()

// versionTable holds one row: the version of the gateway's tables and the oldest version of the
// code that can still use them (dbutil's compat column; older builds wrote the version only).
// mautrix's stores keep their own (crypto_version, mx_version).
const versionTable = "gateway_version"

// upgrade brings the tables of versionTable's component in db to the end of table, all in one
// transaction: a
// failed step leaves the database as it was. The transaction also keeps several processes that
// open the same database at once from running the same step twice: SQLite's BEGIN IMMEDIATE (see
// dsnParams) takes the write lock before the version is read; on PostgreSQL an advisory lock
// does (lockForUpgrade).
func upgrade(ctx context.Context, db *dbutil.Database, versionTable string, table dbutil.UpgradeTable) error {
	child := db.Child(versionTable, table, nil)
	err := db.DoTxn(ctx, nil, func(ctx context.Context) error {
		if err := lockForUpgrade(ctx, db); err != nil {
			return err
		}
		return child.Upgrade(ctx)
	})
	if errors.Is(err, dbutil.ErrUnsupportedDatabaseVersion) {
		return fmt.Errorf("%w: %w", ErrSchemaTooNew, err)
	}
	return err
}

// SchemaVersion returns the version of the gateway's tables stored in the database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := db.util.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+versionTable).Scan(&v); err != nil {
		return 0, fmt.Errorf("failed to read schema version: %w", err)
	}
	return v, nil
}

// UpgradeExclusively runs fn, which upgrades tables of other components in db (mautrix's state
// and crypto stores, the gateway's E2EE tables), so that gateways sharing one PostgreSQL
// database and starting at once do not run the same step together (the loser would fail with
// "relation … already exists"): on PostgreSQL fn runs in one transaction under the advisory lock
// Open upgrades under. Queries of dbutil databases derived from db.DBUtil() (Child) with the ctx
// fn is given run in that transaction. On SQLite, where one gateway uses a file, fn just runs.
func UpgradeExclusively(ctx context.Context, db *DB, fn func(ctx context.Context) error) error {
	if !isPostgres(db) {
		return fn(ctx)
	}
	return db.util.DoTxn(ctx, nil, func(ctx context.Context) error {
		if err := lockForUpgrade(ctx, db.util); err != nil {
			return err
		}
		return fn(ctx)
	})
}
