package storage

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/matrix-onebot/gateway/internal/redact"
)

// openTest opens a fresh database in a temporary directory and closes it when
// the test ends.
func openTest(t testing.TB) *DB {
	t.Helper()
	return openAt(t, newLocation(t))
}

func openAt(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	if isPostgres(db) {
		t.Logf("database: PostgreSQL %s", redact.URL(path))
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func pragma(t *testing.T, db *DB, name string) string {
	t.Helper()
	var v string
	if err := db.SQL().QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestOpenPragmas(t *testing.T) {
	sqliteOnly(t, "SQLite pragmas")
	db := openTest(t)
	for name, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"synchronous":  "1", // NORMAL
		"busy_timeout": strconv.Itoa(busyTimeoutMS),
	} {
		if got := pragma(t, db, name); got != want {
			t.Errorf("PRAGMA %s = %q, want %q", name, got, want)
		}
	}
}

func TestOpenPragmasOnEveryConnection(t *testing.T) {
	sqliteOnly(t, "SQLite pragmas")
	db := openTest(t)
	ctx := t.Context()
	// Hold several connections at once so the pool has to open new ones.
	conns := make([]*sql.Conn, 0, 5)
	for range 5 {
		c, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var fk int
		var mode string
		if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if fk != 1 || mode != "wal" {
			t.Errorf("connection %d: foreign_keys=%d journal_mode=%q", len(conns), fk, mode)
		}
	}
	for _, c := range conns {
		_ = c.Close()
	}
}

func TestOpenFileModes(t *testing.T) {
	sqliteOnly(t, "the file and its directory")
	dir := filepath.Join(t.TempDir(), "state", "nested")
	path := filepath.Join(dir, "gateway.db")
	db := openAt(t, path)
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	// Write something so the WAL and shared-memory files exist too.
	if err := db.KV().SetValue(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	checkMode(t, dir, 0o700)
	checkMode(t, path, 0o600)
	checkMode(t, path+"-wal", 0o600)
}

func TestOpenTightensExistingFile(t *testing.T) {
	sqliteOnly(t, "the file's mode")
	path := filepath.Join(t.TempDir(), "gateway.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // in case of a strict umask
		t.Fatal(err)
	}
	openAt(t, path)
	checkMode(t, path, 0o600)
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %v, want %v", path, got, want)
	}
}

func TestOpenOddPath(t *testing.T) {
	sqliteOnly(t, "a file path")
	path := filepath.Join(t.TempDir(), "a b?c#d%20e", "gateway.db")
	db := openAt(t, path)
	if err := db.KV().SetValue(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path given: %v", err)
	}
}

func TestOpenRelativePath(t *testing.T) {
	sqliteOnly(t, "a file path")
	t.Chdir(t.TempDir())
	db := openAt(t, "data/gateway.db")
	if !filepath.IsAbs(db.Path()) {
		t.Errorf("Path() = %q, want an absolute path", db.Path())
	}
}

func TestOpenErrors(t *testing.T) {
	sqliteOnly(t, "file paths")
	if _, err := Open(t.Context(), ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	// The parent "directory" is a regular file.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), filepath.Join(file, "gateway.db")); err == nil {
		t.Error("Open under a regular file succeeded")
	}
	// Not a database.
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte("this is not an SQLite database, not at all, no"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), junk); err == nil {
		t.Error("Open of a non-database file succeeded")
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := newLocation(t)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Sync().SetSyncToken(ctx, "@bot:example.org", "s123"); err != nil {
		t.Fatal(err)
	}
	if err := db.KV().SetValue(ctx, "secret", "hunter2"); err != nil {
		t.Fatal(err)
	}
	if err := db.Messages().PutMessage(ctx, testMessage()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path)
	if tok, err := db.Sync().SyncToken(ctx, "@bot:example.org"); err != nil || tok != "s123" {
		t.Errorf("SyncToken = %q, %v; want s123", tok, err)
	}
	if v, err := db.KV().GetValue(ctx, "secret"); err != nil || v != "hunter2" {
		t.Errorf("GetValue = %q, %v; want hunter2", v, err)
	}
	if _, err := db.Messages().GetMessage(ctx, "@bot:example.org", "$event"); err != nil {
		t.Errorf("GetMessage: %v", err)
	}
}

func TestErrNotFoundIsWrapped(t *testing.T) {
	db := openTest(t)
	_, err := db.KV().GetValue(t.Context(), "missing")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if err == ErrNotFound {
		t.Error("error carries no context")
	}
}
