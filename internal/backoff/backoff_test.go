package backoff

import (
	"testing"
	"time"
)

func TestBackoffGrowsToCapWithJitter(t *testing.T) {
	b := New(time.Second, 8*time.Second)
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i, base := range want {
		base *= time.Second
		d := b.Next()
		if d < base/2 || d >= base*3/2 {
			t.Fatalf("step %d: %v outside [%v, %v)", i, d, base/2, base*3/2)
		}
	}
	b.Reset()
	if d := b.Next(); d >= 1500*time.Millisecond {
		t.Fatalf("after Reset: %v, want < 1.5s", d)
	}
}

func TestJitterSpreads(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[Jitter(time.Second)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("jitter produced only %d distinct values in 50 draws", len(seen))
	}
	if Jitter(0) != 0 {
		t.Fatal("Jitter(0) != 0")
	}
}
