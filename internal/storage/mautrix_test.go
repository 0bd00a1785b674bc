package storage

import (
	"strings"
	"testing"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/crypto/sql_store_upgrade"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"
)

// TestMautrixStoresShareTheFile runs mautrix's state and crypto store
// migrations in the gateway's file and checks that both sides keep working,
// including after a reopen.
func TestMautrixStoresShareTheFile(t *testing.T) {
	ctx := t.Context()
	path := newLocation(t)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.IDs().V11ID(ctx, KindUser, "@alice:example.org"); err != nil {
		t.Fatal(err)
	}

	// As the brief suggests: a fresh dbutil wrapper around SQL().
	util, err := dbutil.NewWithDB(db.SQL(), db.DBUtil().Dialect.String())
	if err != nil {
		t.Fatal(err)
	}
	state := sqlstatestore.NewSQLStateStore(util, dbutil.NoopLogger, false)
	if err := state.Upgrade(ctx); err != nil {
		t.Fatalf("state store upgrade: %v", err)
	}
	// And the crypto store's migrations through DBUtil().
	cryptoDB := db.DBUtil().Child(sql_store_upgrade.VersionTableName, sql_store_upgrade.Table, dbutil.NoopLogger)
	if err := cryptoDB.Upgrade(ctx); err != nil {
		t.Fatalf("crypto store upgrade: %v", err)
	}

	room := id.RoomID("!room:example.org")
	alice := id.UserID("@alice:example.org")
	if err := state.SetMembership(ctx, room, alice, event.MembershipJoin); err != nil {
		t.Fatal(err)
	}
	if _, err := db.IDs().V11ID(ctx, KindUser, "@bob:example.org"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen: our migrations ignore mautrix's tables, and theirs ours.
	db = openAt(t, path)
	state = sqlstatestore.NewSQLStateStore(db.DBUtil(), dbutil.NoopLogger, false)
	if err := state.Upgrade(ctx); err != nil {
		t.Fatalf("state store upgrade after reopen: %v", err)
	}
	if m, err := state.GetMembership(ctx, room, alice); err != nil || m != event.MembershipJoin {
		t.Errorf("membership after reopen = %q, %v", m, err)
	}
	if v, err := db.IDs().V11ID(ctx, KindUser, "@bob:example.org"); err != nil || v != 2 {
		t.Errorf("V11ID(bob) = %d, %v; want 2", v, err)
	}

	// Every table is either ours (gateway_*) or mautrix's; none overlap.
	listTables := "SELECT name FROM sqlite_master WHERE type = 'table'"
	if isPostgres(db) {
		listTables = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
	}
	rows, err := db.SQL().QueryContext(ctx, listTables)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var ours, theirs []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(name, "gateway_"):
			ours = append(ours, name)
		case name != "sqlite_sequence":
			theirs = append(theirs, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ours) < 7 || !containsAll(theirs, "mx_version", "crypto_version", "mx_room_state", "crypto_account") {
		t.Errorf("tables: ours %v, mautrix %v", ours, theirs)
	}
}

func containsAll(list []string, want ...string) bool {
	have := map[string]bool{}
	for _, s := range list {
		have[s] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}
