package storage

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
)

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 {
		t.Fatalf("got %d migrations, want at least 2", len(ms))
	}
	for i, m := range ms {
		if m.version != i+1 || m.sql == "" {
			t.Errorf("migration %d: version %d, %d bytes", i, m.version, len(m.sql))
		}
	}
}

func TestLoadMigrationsRejectsBadSets(t *testing.T) {
	for name, files := range map[string][]string{
		"gap":       {"0001_a.sql", "0003_c.sql"},
		"duplicate": {"0001_a.sql", "0001_b.sql"},
		"bad name":  {"0001_a.sql", "2_b.sql"},
		"zero":      {"0000_a.sql"},
		"empty":     {},
	} {
		fsys := fstest.MapFS{"m": &fstest.MapFile{Mode: fs.ModeDir | 0o755}} // exists even when empty
		for _, f := range files {
			fsys["m/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		}
		if _, err := loadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: loadMigrations accepted %v", name, files)
		}
	}
}

func TestMigrateFromEmpty(t *testing.T) {
	db := openTest(t)
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v != len(ms) {
		t.Errorf("schema version = %d, want %d", v, len(ms))
	}
	var rows int
	if err := db.SQL().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM gateway_version").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("gateway_version has %d rows, want 1", rows)
	}
	for _, table := range []string{"gateway_sync", "gateway_user_id", "gateway_room_id", "gateway_event_id", "gateway_message", "gateway_kv"} {
		var n int
		err := db.SQL().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", table).Scan(&n)
		if err != nil || n != 1 {
			t.Errorf("table %s: count %d, %v", table, n, err)
		}
	}
}

// TestConcurrentOpen has several handles (as several processes would) create
// and migrate the same new file at once.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	const n = 8
	dbs := make([]*DB, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			dbs[i], errs[i] = Open(t.Context(), path)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		defer func() { _ = dbs[i].Close() }()
	}
	if t.Failed() {
		return
	}
	ms, _ := embeddedMigrations()
	if v, err := dbs[0].SchemaVersion(t.Context()); err != nil || v != len(ms) {
		t.Errorf("schema version = %d, %v; want %d", v, err, len(ms))
	}
}

func TestRefuseNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(t.Context(), "UPDATE gateway_version SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(t.Context(), path)
	if err == nil {
		_ = db.Close()
		t.Fatal("Open accepted a newer schema")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("err = %v, want ErrSchemaTooNew", err)
	}
}

// TestUpgradeFromVersion1 builds the database an older build (which had only
// 0001) would have left behind, fills it, then opens it with every migration.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := t.Context()
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	path, err := prepareFile(filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := openRaw(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, raw, ms[:1]); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO gateway_sync (bot_user_id, next_batch) VALUES ('@bot:example.org', 's42')`,
		`INSERT INTO gateway_user_id (matrix_id) VALUES ('@alice:example.org'), ('@bob:example.org')`,
		`INSERT INTO gateway_room_id (matrix_id) VALUES ('!room:example.org')`,
		`INSERT INTO gateway_event_id (matrix_id) VALUES ('$old')`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The old build refuses a database from the new one; check this one is
	// really at version 1 by the absence of a later table.
	var n int
	if err := raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'gateway_message'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("version 1 database already has gateway_message (%d, %v)", n, err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := openAt(t, path)
	if v, err := db.SchemaVersion(ctx); err != nil || v != len(ms) {
		t.Fatalf("schema version = %d, %v; want %d", v, err, len(ms))
	}
	if tok, err := db.SyncToken(ctx, "@bot:example.org"); err != nil || tok != "s42" {
		t.Errorf("SyncToken = %q, %v", tok, err)
	}
	for kind, want := range map[IDKind]map[string]int64{
		KindUser:  {"@alice:example.org": 1, "@bob:example.org": 2},
		KindRoom:  {"!room:example.org": 1},
		KindEvent: {"$old": 1},
	} {
		for mxid, v11 := range want {
			if got, err := db.V11ID(ctx, kind, mxid); err != nil || got != v11 {
				t.Errorf("V11ID(%s, %s) = %d, %v; want %d", kind, mxid, got, err, v11)
			}
		}
	}
	if got, err := db.V11ID(ctx, KindUser, "@carol:example.org"); err != nil || got != 3 {
		t.Errorf("new user id = %d, %v; want 3", got, err)
	}
	// The tables 0002 added work.
	if err := db.PutMessage(ctx, testMessage()); err != nil {
		t.Error(err)
	}
	if err := db.SetValue(ctx, "k", "v"); err != nil {
		t.Error(err)
	}

	// And a build that only knows 0001 now refuses the file.
	raw, err = openRaw(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close() }()
	if err := migrate(ctx, raw, ms[:1]); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("old build: err = %v, want ErrSchemaTooNew", err)
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	path, err := prepareFile(filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := openRaw(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close() }()
	ms := []migration{
		{version: 1, name: "0001_ok.sql", sql: "CREATE TABLE gateway_t1 (x INTEGER);"},
		{version: 2, name: "0002_bad.sql", sql: "CREATE TABLE gateway_t2 (x INTEGER); THIS IS NOT SQL;"},
	}
	if err := migrate(ctx, raw, ms); err == nil {
		t.Fatal("migrate succeeded with a broken migration")
	}
	var v, n int
	if err := raw.QueryRowContext(ctx, selectVersion).Scan(&v); err != nil || v != 1 {
		t.Errorf("version = %d, %v; want 1", v, err)
	}
	if err := raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'gateway_t2'").Scan(&n); err != nil || n != 0 {
		t.Errorf("half-applied migration left gateway_t2 behind (%d, %v)", n, err)
	}
}
