package e2ee

import (
	"context"
	"testing"
	"time"
)

// A database whose gateway E2EE tables are at v1 (held events only, as released before the key
// verdicts) is upgraded in place to v2: its held events stay, and the verdict and backup tables
// exist.
func TestGatewayTablesUpgradeFromV1(t *testing.T) { eachDatabase(t, testGatewayTablesUpgradeFromV1) }

func testGatewayTablesUpgradeFromV1(t *testing.T, location string) {
	ctx := context.Background()
	db := openDB(t, location)
	v1 := db.DBUtil().Child(gatewayVersionTable, gatewayUpgrades[:1], db.DBUtil().Log)
	if err := v1.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	heldAt := time.Now().UnixMilli()
	if _, err := v1.Exec(ctx, insertHeld, "acct", "$held", "!room:example.org", "session", `{}`, heldAt); err != nil {
		t.Fatal(err)
	}
	held, err := openHeld(ctx, db.DBUtil(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := held.db.QueryRow(ctx, countHeld, "acct").Scan(&n); err != nil || n != 1 {
		t.Fatalf("held events after the upgrade: %d (%v), want 1", n, err)
	}
	var oldest int64
	if err := held.db.QueryRow(ctx, oldestHeld, "acct").Scan(&oldest); err != nil || oldest != heldAt {
		t.Fatalf("held_at read back: %d (%v), want %d", oldest, err, heldAt)
	}
	keys, err := openKeys(ctx, db.DBUtil(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.put(ctx, "!room:example.org", "session", verdict{Source: "forward", Reason: "test"}); err != nil {
		t.Fatalf("the verdict table after the upgrade: %v", err)
	}
	if v, err := keys.get(ctx, "session"); err != nil || v == nil || v.Reason != "test" {
		t.Fatalf("verdict read back: %+v, %v", v, err)
	}
}
