package e2ee

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/harness"
	"github.com/matrix-onebot/gateway/test/harness/postgres"
)

// Many bots opening their encryption stores at the same moment on a new database all succeed
// once Prepare has run: each bot then finds the shared tables up to date (without it, bots
// that read version 0 together both create the tables and the loser fails with "table …
// already exists").
func TestManyBotsOpenTheirStoresAtOnceAfterPrepare(t *testing.T) {
	eachDatabase(t, testManyBotsOpenTheirStoresAtOnceAfterPrepare)
}

func testManyBotsOpenTheirStoresAtOnceAfterPrepare(t *testing.T, location string) {
	ctx := context.Background()
	db := openDB(t, location)
	if err := Prepare(ctx, db.DBUtil()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	const bots = 50
	start := make(chan struct{})
	errs := make(chan error, bots)
	var wg sync.WaitGroup
	for i := range bots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			account := fmt.Sprintf("@bot%d:example.org|DEVICE%d", i, i)
			_, err := openStores(ctx, db.DBUtil(), dbutil.NoopLogger, account, id.DeviceID(fmt.Sprint("DEVICE", i)), []byte("pickle"))
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a bot failed to open its stores: %v", err)
		}
	}
}

// eachDatabase runs test on a new SQLite file and on a new database of the package's throwaway
// PostgreSQL cluster (skipped, saying why, only when PostgreSQL is not installed).
func eachDatabase(t *testing.T, test func(t *testing.T, location string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, filepath.Join(t.TempDir(), "gateway.db")) })
	t.Run("postgres", func(t *testing.T) { test(t, postgresDatabase(t)) })
}

// openDB opens the database at location (storage.Open) until the test ends.
func openDB(t *testing.T, location string) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// The package's PostgreSQL cluster: started by the first test that needs it, stopped by TestMain.
var (
	postgresOnce sync.Once
	cluster      *postgres.Cluster
	postgresErr  error
)

// postgresDatabase returns the URL of a new database on the package's cluster.
func postgresDatabase(t *testing.T) string {
	t.Helper()
	postgresOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
		defer cancel()
		cluster, postgresErr = postgres.Start(ctx)
	})
	if errors.Is(postgresErr, postgres.ErrNotInstalled) {
		t.Skip(postgresErr)
	}
	if postgresErr != nil {
		t.Fatalf("failed to start PostgreSQL: %v", postgresErr)
	}
	return cluster.DatabaseForTest(t)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	os.Exit(code)
}

// Gateways that share one new PostgreSQL database and start at once all prepare its tables
// (mautrix's state and crypto stores, the gateway's E2EE tables) without failing: the upgrades
// run one gateway after the other (storage.UpgradeExclusively).
func TestGatewaysPrepareOneDatabaseAtOnce(t *testing.T) {
	location := postgresDatabase(t)
	ctx := context.Background()
	const gateways = 6
	dbs := make([]*storage.DB, gateways)
	for i := range dbs {
		db := openDB(t, location)
		dbs[i] = db
	}
	start := make(chan struct{})
	errs := make(chan error, gateways)
	var wg sync.WaitGroup
	for _, db := range dbs {
		wg.Go(func() {
			<-start
			errs <- storage.UpgradeExclusively(ctx, db, func(ctx context.Context) error {
				if err := sqlstatestore.NewSQLStateStore(db.DBUtil(), dbutil.NoopLogger, false).Upgrade(ctx); err != nil {
					return err
				}
				return Prepare(ctx, db.DBUtil())
			})
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a gateway failed to prepare the database: %v", err)
		}
	}
}
