package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

func TestV11IDFirstIsOnePerKind(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	for _, kind := range []IDKind{KindUser, KindRoom, KindEvent} {
		v, err := db.IDs().V11ID(ctx, kind, "!same-string:example.org")
		if err != nil || v != 1 {
			t.Errorf("%s: first id = %d, %v; want 1", kind, v, err)
		}
		v, err = db.IDs().V11ID(ctx, kind, "!other:example.org")
		if err != nil || v != 2 {
			t.Errorf("%s: second id = %d, %v; want 2", kind, v, err)
		}
		m, err := db.IDs().MatrixID(ctx, kind, 2)
		if err != nil || m != "!other:example.org" {
			t.Errorf("%s: MatrixID(2) = %q, %v", kind, m, err)
		}
	}
}

func TestV11IDErrors(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	if _, err := db.IDs().V11ID(ctx, KindUser, ""); err == nil {
		t.Error("V11ID accepted an empty Matrix id")
	}
	for _, kind := range []IDKind{0, 4, -1} {
		if _, err := db.IDs().V11ID(ctx, kind, "@a:b"); err == nil {
			t.Errorf("V11ID accepted kind %d", kind)
		}
		if _, err := db.IDs().MatrixID(ctx, kind, 1); err == nil {
			t.Errorf("MatrixID accepted kind %d", kind)
		}
	}
	for _, v := range []int64{0, 1, -1, math.MaxInt64} {
		if _, err := db.IDs().MatrixID(ctx, KindEvent, v); !errors.Is(err, ErrNotFound) {
			t.Errorf("MatrixID(%d) err = %v, want ErrNotFound", v, err)
		}
	}
}

func TestV11IDStableAfterReopen(t *testing.T) {
	ctx := t.Context()
	path := newLocation(t)
	want := map[string]int64{}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		mxid := fmt.Sprintf("$event%d", i)
		v, err := db.IDs().V11ID(ctx, KindEvent, mxid)
		if err != nil {
			t.Fatal(err)
		}
		want[mxid] = v
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path) // empty caches: every answer comes from the file
	for mxid, v := range want {
		if got, err := db.IDs().MatrixID(ctx, KindEvent, v); err != nil || got != mxid {
			t.Errorf("MatrixID(%d) = %q, %v; want %q", v, got, err, mxid)
		}
		if got, err := db.IDs().V11ID(ctx, KindEvent, mxid); err != nil || got != v {
			t.Errorf("V11ID(%q) = %d, %v; want %d", mxid, got, err, v)
		}
	}
	if v, err := db.IDs().V11ID(ctx, KindEvent, "$new"); err != nil || v != 51 {
		t.Errorf("next id after reopen = %d, %v; want 51", v, err)
	}
}

// TestV11IDConcurrentSame has many goroutines, spread over two handles on the
// same file (separate caches, like two processes), race to create one id.
func TestV11IDConcurrentSame(t *testing.T) {
	ctx := t.Context()
	path := newLocation(t)
	dbs := []*DB{openAt(t, path), openAt(t, path)}
	const goroutines = 64
	for round := range 5 {
		mxid := fmt.Sprintf("@user%d:example.org", round)
		got := make([]int64, goroutines)
		errs := make([]error, goroutines)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				<-start
				got[g], errs[g] = dbs[g%2].IDs().V11ID(ctx, KindUser, mxid)
			})
		}
		close(start)
		wg.Wait()
		for g := range goroutines {
			if errs[g] != nil {
				t.Fatalf("goroutine %d: %v", g, errs[g])
			}
			if got[g] != int64(round+1) {
				t.Errorf("round %d goroutine %d got %d, want %d", round, g, got[g], round+1)
			}
		}
	}
}

func TestV11IDConcurrentDifferent(t *testing.T) {
	ctx := t.Context()
	path := newLocation(t)
	dbs := []*DB{openAt(t, path), openAt(t, path)}
	const (
		goroutines = 32
		perG       = 20
		n          = goroutines * perG
	)
	// Every goroutine asks for every id (in a different order), so each id
	// is both created concurrently and read concurrently.
	results := make([][]int64, goroutines)
	errs := make([]error, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			res := make([]int64, n)
			for j := range n {
				i := (j + g*perG) % n
				v, err := dbs[g%2].IDs().V11ID(ctx, KindEvent, "$e"+strconv.Itoa(i))
				if err != nil {
					errs[g] = err
					return
				}
				res[i] = v
			}
			results[g] = res
		})
	}
	close(start)
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			t.Fatalf("goroutine %d: %v", g, err)
		}
	}
	seen := map[int64]int{}
	for i := range n {
		v := results[0][i]
		for g := range goroutines {
			if results[g][i] != v {
				t.Fatalf("$e%d: goroutine %d got %d, goroutine 0 got %d", i, g, results[g][i], v)
			}
		}
		if prev, dup := seen[v]; dup {
			t.Fatalf("$e%d and $e%d both got %d", i, prev, v)
		}
		seen[v] = i
	}
	// Dense: exactly 1..n, because no insert ever failed.
	for v := int64(1); v <= n; v++ {
		if _, ok := seen[v]; !ok {
			t.Errorf("id %d was never handed out", v)
		}
	}
}

func TestV11IDEventExhausted(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	first, err := db.IDs().V11ID(ctx, KindEvent, "$first")
	if err != nil || first != 1 {
		t.Fatalf("first = %d, %v", first, err)
	}
	// Pretend two billion events have gone by.
	if _, err := db.DBUtil().Exec(ctx, "INSERT INTO gateway_event_id (id, matrix_id) VALUES ($1, '$penultimate')", math.MaxInt32-1); err != nil {
		t.Fatal(err)
	}
	last, err := db.IDs().V11ID(ctx, KindEvent, "$last")
	if err != nil || last != math.MaxInt32 {
		t.Fatalf("last = %d, %v; want MaxInt32", last, err)
	}
	for range 2 { // the failed insert was rolled back, so it fails the same way again
		if _, err := db.IDs().V11ID(ctx, KindEvent, "$one-too-many"); !errors.Is(err, ErrIDsExhausted) {
			t.Fatalf("err = %v, want ErrIDsExhausted", err)
		}
	}
	if _, err := db.IDs().MatrixID(ctx, KindEvent, math.MaxInt32+1); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused id was stored: %v", err)
	}
	// Known ids and other kinds keep working.
	if v, err := db.IDs().V11ID(ctx, KindEvent, "$first"); err != nil || v != 1 {
		t.Errorf("$first = %d, %v", v, err)
	}
	if v, err := db.IDs().V11ID(ctx, KindUser, "@a:b"); err != nil || v != 1 {
		t.Errorf("user = %d, %v", v, err)
	}
}

func TestV11IDRowsCannotBeDeleted(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	for _, kind := range []IDKind{KindUser, KindRoom, KindEvent} {
		if _, err := db.IDs().V11ID(ctx, kind, "x"); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"gateway_user_id", "gateway_room_id", "gateway_event_id"} {
		if _, err := db.SQL().ExecContext(ctx, "DELETE FROM "+table); err == nil {
			t.Errorf("DELETE FROM %s succeeded", table)
		}
	}
}

func TestV11IDCacheIsBounded(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	for i := range idCacheSize + 100 {
		if _, err := db.IDs().V11ID(ctx, KindRoom, "!r"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	c := db.idMaps[KindRoom]
	if c.toV11.Len() != idCacheSize || c.toMatrix.Len() != idCacheSize {
		t.Errorf("cache sizes %d/%d, want %d", c.toV11.Len(), c.toMatrix.Len(), idCacheSize)
	}
	// Evicted entries still resolve, from the file.
	if v, err := db.IDs().V11ID(ctx, KindRoom, "!r0"); err != nil || v != 1 {
		t.Errorf("!r0 = %d, %v", v, err)
	}
	if m, err := db.IDs().MatrixID(ctx, KindRoom, 2); err != nil || m != "!r1" {
		t.Errorf("MatrixID(2) = %q, %v", m, err)
	}
}

func BenchmarkV11IDHit(b *testing.B) {
	db := openTest(b)
	ctx := context.Background()
	if _, err := db.IDs().V11ID(ctx, KindEvent, "$hot"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.IDs().V11ID(ctx, KindEvent, "$hot"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkV11IDHitParallel(b *testing.B) {
	db := openTest(b)
	ctx := context.Background()
	if _, err := db.IDs().V11ID(ctx, KindEvent, "$hot"); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.IDs().V11ID(ctx, KindEvent, "$hot"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkV11IDMiss creates a new id on every iteration (a new event).
func BenchmarkV11IDMiss(b *testing.B) {
	db := openTest(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := db.IDs().V11ID(ctx, KindEvent, "$new"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkV11IDMissExisting looks up ids that are in the file but not in the
// cache (cycling through twice the cache size defeats an LRU).
func BenchmarkV11IDMissExisting(b *testing.B) {
	db := openTest(b)
	ctx := context.Background()
	const n = 2 * idCacheSize
	err := inTx(ctx, db, func(ctx context.Context) error {
		for i := range n {
			if _, err := db.util.Exec(ctx, insertEvent, "$old"+strconv.Itoa(i), maxEventID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if _, err := db.IDs().V11ID(ctx, KindEvent, "$old"+strconv.Itoa(i%n)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkV11IDMissParallel creates new ids from several goroutines at once
// (writers queue for SQLite's single write lock).
func BenchmarkV11IDMissParallel(b *testing.B) {
	db := openTest(b)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.IDs().V11ID(ctx, KindEvent, "$new"+strconv.FormatInt(next.Add(1), 10)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
