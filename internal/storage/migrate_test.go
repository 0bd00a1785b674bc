package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"go.mau.fi/util/dbutil"
)

// latestVersion is the version the upgrade table brings a database to.
var latestVersion = len(upgradeTable)

func TestUpgradeTable(t *testing.T) {
	if latestVersion < 6 {
		t.Fatalf("upgrade table goes to v%d, want at least v6 (the last version of the older builds)", latestVersion)
	}
	// Every version an older build may have left a file at has a step to the next one (dbutil
	// skips a missing step silently). The fields are dbutil's own, read without running a step.
	for v := 1; v < latestVersion; v++ {
		step := reflect.ValueOf(upgradeTable[v])
		if step.FieldByName("fn").IsNil() || step.FieldByName("upgradesTo").Int() != int64(v+1) {
			t.Errorf("no step from v%d to v%d", v, v+1)
		}
	}
}

func TestMigrateFromEmpty(t *testing.T) {
	db := openTest(t)
	v, err := db.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v != latestVersion {
		t.Errorf("schema version = %d, want %d", v, latestVersion)
	}
	var rows int
	if err := db.SQL().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM gateway_version").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("gateway_version has %d rows, want 1", rows)
	}
	for _, table := range []string{"gateway_sync", "gateway_user_id", "gateway_room_id", "gateway_event_id", "gateway_message",
		"gateway_kv", "gateway_token", "gateway_oauth_client", "gateway_outbox", "gateway_file", "gateway_send_txn", "gateway_mute"} {
		if ok, err := db.DBUtil().TableExists(t.Context(), table); err != nil || !ok {
			t.Errorf("table %s: %v, %v", table, ok, err)
		}
	}
}

// TestConcurrentOpen has several handles (as several processes would) create
// and migrate the same new file at once.
func TestConcurrentOpen(t *testing.T) {
	path := newLocation(t)
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
	if v, err := dbs[0].SchemaVersion(t.Context()); err != nil || v != latestVersion {
		t.Errorf("schema version = %d, %v; want %d", v, err, latestVersion)
	}
}

// A newer build that changed the tables incompatibly records so in the compat column: this one
// refuses the file. A newer build whose tables this one can still use (compat at or below what it
// knows) is accepted.
func TestRefuseNewerSchema(t *testing.T) {
	path := newLocation(t)
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
	if err != nil {
		t.Fatalf("Open refused a newer schema that declares itself compatible: %v", err)
	}
	if _, err := db.SQL().ExecContext(t.Context(), "UPDATE gateway_version SET compat = version"); err != nil {
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
	sqliteOnly(t, "a file an older build left")
	ctx := t.Context()
	path := legacyDatabase(t, filepath.Join(t.TempDir(), "gateway.db"), 1)
	raw, err := openRaw(ctx, path)
	if err != nil {
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
	// Check this one is really at version 1 by the absence of a later table.
	var n int
	if err := raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'gateway_message'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("version 1 database already has gateway_message (%d, %v)", n, err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := openAt(t, path)
	if v, err := db.SchemaVersion(ctx); err != nil || v != latestVersion {
		t.Fatalf("schema version = %d, %v; want %d", v, err, latestVersion)
	}
	if tok, err := db.Sync().SyncToken(ctx, "@bot:example.org"); err != nil || tok != "s42" {
		t.Errorf("SyncToken = %q, %v", tok, err)
	}
	for kind, want := range map[IDKind]map[string]int64{
		KindUser:  {"@alice:example.org": 1, "@bob:example.org": 2},
		KindRoom:  {"!room:example.org": 1},
		KindEvent: {"$old": 1},
	} {
		for mxid, v11 := range want {
			if got, err := db.IDs().V11ID(ctx, kind, mxid); err != nil || got != v11 {
				t.Errorf("V11ID(%s, %s) = %d, %v; want %d", kind, mxid, got, err, v11)
			}
		}
	}
	if got, err := db.IDs().V11ID(ctx, KindUser, "@carol:example.org"); err != nil || got != 3 {
		t.Errorf("new user id = %d, %v; want 3", got, err)
	}
	// The tables 0002 added work.
	if err := db.Messages().PutMessage(ctx, testMessage()); err != nil {
		t.Error(err)
	}
	if err := db.KV().SetValue(ctx, "k", "v"); err != nil {
		t.Error(err)
	}

	// And a build that only knows version 1 now refuses the file.
	if err := upgrade(ctx, db.DBUtil(), versionTable, upgradeTable[:1:1]); err == nil {
		t.Error("a build that knows version 1 accepted the upgraded file")
	}
}

// TestUpgradeFromEveryVersion opens the file each older build (versions 1 to 6) left behind, with
// a row in every table it had, and checks that the rows are still there.
func TestUpgradeFromEveryVersion(t *testing.T) {
	sqliteOnly(t, "files older builds left")
	rows := []string{ // the version that added the table, then a row for it
		1: `INSERT INTO gateway_sync (bot_user_id, next_batch, filter_id) VALUES ('@bot:x', 's1', 'f1')`,
		2: `INSERT INTO gateway_kv (key, value) VALUES ('k', 'v')`,
		3: `INSERT INTO gateway_token (homeserver, bot_key, user_id, device_id, access_token) VALUES ('https://hs', '@bot:x', '@bot:x', 'DEV', 'tok')`,
		4: `INSERT INTO gateway_outbox (endpoint, queued_at, payload) VALUES ('ep', 1, X'7b7d')`,
		6: `INSERT INTO gateway_mute (bot_user_id, room_id, user_id, muted_level, until_ms) VALUES ('@bot:x', '!r:x', '@u:x', -1, 9999999999999)`,
	}
	for version := 1; version <= 6; version++ {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			ctx := t.Context()
			path := legacyDatabase(t, filepath.Join(t.TempDir(), "gateway.db"), version)
			raw, err := openRaw(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			for v := 1; v <= version && v < len(rows); v++ {
				if rows[v] == "" {
					continue
				}
				if _, err := raw.ExecContext(ctx, rows[v]); err != nil {
					t.Fatalf("%s: %v", rows[v], err)
				}
			}
			if _, err := raw.ExecContext(ctx, `INSERT INTO gateway_user_id (matrix_id) VALUES ('@alice:x')`); err != nil {
				t.Fatal(err)
			}
			_ = raw.Close()

			db := openAt(t, path)
			if v, err := db.SchemaVersion(ctx); err != nil || v != latestVersion {
				t.Fatalf("schema version = %d, %v; want %d", v, err, latestVersion)
			}
			if tok, err := db.Sync().SyncToken(ctx, "@bot:x"); err != nil || tok != "s1" {
				t.Errorf("sync token = %q, %v", tok, err)
			}
			if v, err := db.IDs().V11ID(ctx, KindUser, "@alice:x"); err != nil || v != 1 {
				t.Errorf("V11ID(@alice:x) = %d, %v; want 1", v, err)
			}
			want := map[string]bool{"kv": version >= 2, "token": version >= 3, "outbox": version >= 4, "mute": version >= 6}
			if got, err := db.KV().GetValue(ctx, "k"); want["kv"] && (err != nil || got != "v") {
				t.Errorf("kv = %q, %v", got, err)
			}
			if rec, err := db.Tokens().Token(ctx, "https://hs", "@bot:x", ""); want["token"] && (err != nil || rec.AccessToken != "tok" || rec.DeviceID != "DEV") {
				t.Errorf("token = %+v, %v", rec, err)
			}
			if n, err := db.Outbox().OutboxCount(ctx, "ep"); err != nil || (n == 1) != want["outbox"] {
				t.Errorf("outbox count = %d, %v", n, err)
			}
			if m, err := db.Mutes().GetMute(ctx, "@bot:x", "!r:x", "@u:x"); want["mute"] && (err != nil || m.MutedLevel != -1) {
				t.Errorf("mute = %+v, %v", m, err)
			}
			// Every table works after the upgrade.
			if err := db.Messages().PutMessage(ctx, testMessage()); err != nil {
				t.Error(err)
			}
			if _, err := db.Outbox().OutboxAppend(ctx, "ep2", []byte("{}"), db.now(), OutboxLimits{MaxEvents: 10}); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestUpgradedSchemaMatchesNew checks that both roads to the latest version, the whole schema at
// once (a new database) and the steps from an older build's version 1, end at the same tables,
// columns, indexes and triggers.
func TestUpgradedSchemaMatchesNew(t *testing.T) {
	sqliteOnly(t, "files older builds left")
	fresh := openTest(t)
	upgraded := openAt(t, legacyDatabase(t, filepath.Join(t.TempDir(), "old.db"), 1))
	a, b := sqliteSchema(t, fresh), sqliteSchema(t, upgraded)
	if !reflect.DeepEqual(a, b) {
		for k := range a {
			if !reflect.DeepEqual(a[k], b[k]) {
				t.Errorf("%s:\n new      %v\n upgraded %v", k, a[k], b[k])
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				t.Errorf("%s: only in the upgraded database: %v", k, b[k])
			}
		}
	}
}

// sqliteSchema describes every object of the gateway's: each table's columns (name, type, not
// null, default, primary key position), each index's columns and uniqueness, each trigger.
func sqliteSchema(t *testing.T, db *DB) map[string][]string {
	t.Helper()
	ctx := t.Context()
	out := map[string][]string{}
	rows, err := db.SQL().QueryContext(ctx, `SELECT type, name, tbl_name FROM sqlite_master WHERE name LIKE 'gateway_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	type object struct{ kind, name, table string }
	var objects []object
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.kind, &o.name, &o.table); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, o)
	}
	_ = rows.Close()
	for _, o := range objects {
		var q string
		switch o.kind {
		case "table":
			q = `SELECT name || ' ' || type || ' ' || "notnull" || ' ' || COALESCE(dflt_value, 'NULL') || ' ' || pk FROM pragma_table_info(?)`
		case "index":
			q = `SELECT name FROM pragma_index_info(?)`
		case "trigger":
			q = `SELECT tbl_name FROM sqlite_master WHERE name = ?`
		}
		cols, err := db.SQL().QueryContext(ctx, q, o.name)
		if err != nil {
			t.Fatal(err)
		}
		key := o.kind + " " + o.name
		for cols.Next() {
			var c string
			if err := cols.Scan(&c); err != nil {
				t.Fatal(err)
			}
			out[key] = append(out[key], c)
		}
		_ = cols.Close()
		if o.name == versionTable {
			delete(out, key) // older builds made it without dbutil's compat column, which is added
		}
	}
	return out
}

func TestMigrateFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	db := openTest(t)
	ok := func(ctx context.Context, db *dbutil.Database) error {
		_, err := db.Exec(ctx, "CREATE TABLE t1 (x INTEGER)")
		return err
	}
	bad := func(ctx context.Context, db *dbutil.Database) error {
		_, err := db.Exec(ctx, "CREATE TABLE t2 (x INTEGER); THIS IS NOT SQL;")
		return err
	}
	table := dbutil.BuildUpgradeTable().WithRaw(0, 1, 0, "ok", dbutil.TxnModeOn, ok)
	if err := upgrade(ctx, db.DBUtil(), "test_version", table.Finish()); err != nil {
		t.Fatal(err)
	}
	table = table.WithRaw(1, 2, 0, "bad", dbutil.TxnModeOn, bad)
	if err := upgrade(ctx, db.DBUtil(), "test_version", table.Finish()); err == nil {
		t.Fatal("upgrade succeeded with a broken step")
	}
	var v int
	if err := db.SQL().QueryRowContext(ctx, "SELECT version FROM test_version").Scan(&v); err != nil || v != 1 {
		t.Errorf("version = %d, %v; want 1", v, err)
	}
	if ok, err := db.DBUtil().TableExists(ctx, "t2"); err != nil || ok {
		t.Errorf("half-applied step left t2 behind (%v, %v)", ok, err)
	}
}

// A PostgreSQL database a build at version 6 made (its gateway_outbox and gateway_file had no
// encrypted column) is brought to the latest version: the columns are added (v7, v8), and the
// frames and file records kept from before count as encrypted, since that build did not tell.
func TestPostgresUpgradeAddsOutboxEncrypted(t *testing.T) {
	if testPostgres == nil {
		t.Skip("PostgreSQL only: SQLite files of every older version are TestUpgradeFromEveryVersion's")
	}
	loc := newLocation(t)
	db := openAt(t, loc)
	ctx := t.Context()
	for _, q := range []string{
		`ALTER TABLE gateway_outbox DROP COLUMN encrypted`,
		`ALTER TABLE gateway_file DROP COLUMN encrypted`,
		`DROP INDEX gateway_outbox_endpoint_queued_idx`, // v9
		`UPDATE gateway_version SET version = 6, compat = 6`,
		`INSERT INTO gateway_outbox (endpoint, queued_at, payload) VALUES ('ep', 1, '\x7b7d')`,
		`INSERT INTO gateway_file (file_id, record, saved_ms) VALUES ('fold', '{}', 1)`,
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_ = db.Close()
	db = openAt(t, loc)
	if v, err := db.SchemaVersion(ctx); err != nil || v != latestVersion {
		t.Fatalf("schema version = %d, %v; want %d", v, err, latestVersion)
	}
	rows, err := db.Outbox().OutboxPeek(ctx, "ep", 10)
	if err != nil || len(rows) != 1 || !rows[0].Encrypted {
		t.Fatalf("the frame kept from version 6: %+v, %v; want it, marked encrypted", rows, err)
	}
	var encrypted bool
	if err := db.SQL().QueryRowContext(ctx, `SELECT encrypted FROM gateway_file WHERE file_id = 'fold'`).Scan(&encrypted); err != nil || !encrypted {
		t.Fatalf("the file record kept from version 6: encrypted %v, %v; want true", encrypted, err)
	}
}
