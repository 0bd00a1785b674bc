package storage

import "testing"

func TestLRUEvictsLeastRecentlyUsed(t *testing.T) {
	c := newLRU[string, int](2)
	c.put("a", 1)
	c.put("b", 2)
	if v, ok := c.get("a"); !ok || v != 1 { // a is now the most recent
		t.Fatalf("get(a) = %d, %v", v, ok)
	}
	c.put("c", 3) // evicts b
	if _, ok := c.get("b"); ok {
		t.Error("b should have been evicted")
	}
	for k, want := range map[string]int{"a": 1, "c": 3} {
		if v, ok := c.get(k); !ok || v != want {
			t.Errorf("get(%s) = %d, %v; want %d", k, v, ok, want)
		}
	}
	c.put("a", 10) // update in place, no eviction
	if c.len() != 2 {
		t.Errorf("len = %d, want 2", c.len())
	}
	if v, _ := c.get("a"); v != 10 {
		t.Errorf("get(a) = %d after update, want 10", v)
	}
}

func TestLRUSizeOne(t *testing.T) {
	c := newLRU[int, int](0) // clamped to 1
	for i := range 10 {
		c.put(i, i)
		if v, ok := c.get(i); !ok || v != i {
			t.Fatalf("get(%d) = %d, %v", i, v, ok)
		}
		if c.len() != 1 {
			t.Fatalf("len = %d", c.len())
		}
	}
}
