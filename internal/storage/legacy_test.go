package storage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// legacyMigrations are the migration files of the builds before the gateway used dbutil's upgrade
// table, kept as they were, to make the databases those builds left behind.
const legacyMigrations = "testdata/legacy-migrations"

// legacyDatabase makes, at path, the SQLite file a build that knew the first version migrations
// left: it runs testdata/legacy-migrations/000N_*.sql in order and records the version the way
// that build did (gateway_version with one column and one row). It returns the absolute path.
func legacyDatabase(t *testing.T, path string, version int) string {
	t.Helper()
	ctx := context.Background()
	abs, err := prepareFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := openRaw(ctx, abs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close() }()
	files, err := filepath.Glob(filepath.Join(legacyMigrations, "*.sql"))
	if err != nil || len(files) < version {
		t.Fatalf("legacy migrations: %d files, %v", len(files), err)
	}
	if _, err := raw.ExecContext(ctx, `CREATE TABLE gateway_version (version INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, f := range files[:version] {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO gateway_version (version) VALUES (?)`, version); err != nil {
		t.Fatal(err)
	}
	return abs
}
