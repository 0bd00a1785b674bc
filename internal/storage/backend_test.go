package storage

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/matrix-onebot/gateway/test/harness"
	"github.com/matrix-onebot/gateway/test/harness/postgres"
)

// The package's tests run twice: on SQLite, then on a real PostgreSQL (a throwaway cluster the
// harness starts with initdb). Tests open their database with openTest or newLocation, which give
// a file or a new PostgreSQL database depending on the run; tests of what only a SQLite file has
// (pragmas, file modes, the WAL, files older builds left) call sqliteOnly.

// testPostgres is the cluster of the PostgreSQL run; nil during the SQLite run.
var testPostgres *postgres.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	fmt.Println("storage: the tests on SQLite")
	code := m.Run()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(code) // fuzzing runs once
	}
	ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
	pg, err := postgres.Start(ctx)
	cancel()
	switch {
	case errors.Is(err, postgres.ErrNotInstalled):
		fmt.Println("storage: the tests on PostgreSQL are skipped:", err)
		os.Exit(code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "storage: failed to start PostgreSQL for the tests:", err)
		os.Exit(1)
	}
	fmt.Println("storage: the tests again, on PostgreSQL (" + pg.URL("") + ")")
	testPostgres = pg
	if pgCode := m.Run(); pgCode != 0 {
		fmt.Println("storage: the tests on PostgreSQL failed; the server's log:\n" + pg.LogTail(40))
		code = pgCode
	}
	pg.Stop()
	os.Exit(code)
}

// newLocation returns where a test's new database is: a file path in t.TempDir(), or the URL of
// a new database on the PostgreSQL run.
func newLocation(t testing.TB) string {
	t.Helper()
	if testPostgres != nil {
		return testPostgres.DatabaseForTest(t)
	}
	return filepath.Join(t.TempDir(), "gateway.db")
}

// sqliteOnly skips the test on the PostgreSQL run, saying why.
func sqliteOnly(t testing.TB, why string) {
	t.Helper()
	if testPostgres != nil {
		t.Skip("SQLite only: " + why)
	}
}
