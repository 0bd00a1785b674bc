package storage

import (
	"errors"
	"strconv"
	"sync"
	"testing"
)

func TestValues(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	if _, err := db.KV().GetValue(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	for _, v := range []string{"one", "", "two"} {
		if err := db.KV().SetValue(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
		if got, err := db.KV().GetValue(ctx, "k"); err != nil || got != v {
			t.Errorf("GetValue = %q, %v; want %q", got, err, v)
		}
	}
}

func TestGetOrSetValueConcurrent(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	const goroutines = 16
	got := make([]string, goroutines)
	errs := make([]error, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			got[g], errs[g] = db.KV().GetOrSetValue(ctx, "secret", "candidate"+strconv.Itoa(g))
		})
	}
	close(start)
	wg.Wait()
	stored, err := db.KV().GetValue(ctx, "secret")
	if err != nil {
		t.Fatal(err)
	}
	for g := range goroutines {
		if errs[g] != nil || got[g] != stored {
			t.Errorf("goroutine %d: %q, %v; stored %q", g, got[g], errs[g], stored)
		}
	}
}
