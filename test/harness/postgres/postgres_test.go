package postgres

import (
	"database/sql"
	"testing"
)

// TestPostgres starts a throwaway cluster (as an unprivileged user when the tests run as root),
// creates two databases and checks that they are separate and reachable over the loopback port.
func TestPostgres(t *testing.T) {
	pg := ForTest(t)
	a, b := pg.DatabaseForTest(t), pg.DatabaseForTest(t)
	if a == b {
		t.Fatalf("two databases with one URL %s", a)
	}
	ctx := t.Context()
	dbA, err := sql.Open("postgres", a)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dbA.Close() }()
	if _, err := dbA.ExecContext(ctx, `CREATE TABLE only_in_a (x BIGINT)`); err != nil {
		t.Fatal(err)
	}
	dbB, err := sql.Open("postgres", b)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dbB.Close() }()
	var n int
	if err := dbB.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'only_in_a'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("database b sees a's table: %d, %v", n, err)
	}
	var superuser bool
	if err := dbB.QueryRowContext(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&superuser); err != nil || !superuser {
		t.Errorf("test user is not a superuser (%v, %v)", superuser, err)
	}
}
