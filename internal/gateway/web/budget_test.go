package web

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPeekAction(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{`{"action":"get_status","params":{"x":"` + strings.Repeat("a", 100), "get_status", true},
		{` { "echo": 1, "params": {"a":[1,2,{"b":"}"}]}, "action" : "send_message"`, "send_message", true},
		{`{"params":{"pad":"aaaa`, "", false},
		{`{"action":5}`, "", false},
		{`["action","x"]`, "", false},
		{``, "", false},
	} {
		got, ok := PeekAction([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("PeekAction(%.40q) = %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// PeekAction never fails on a prefix, and what it finds in a prefix stays found as the request
// goes on.
func FuzzPeekAction(f *testing.F) {
	for _, s := range []string{`{"action":"get_status"}`, `{"params":{"a":[1,"}"]},"action":"x"`, `{"action":`, `[`, `{"a":1`} {
		f.Add(s, "}")
	}
	f.Fuzz(func(t *testing.T, s, more string) {
		name, ok := PeekAction([]byte(s))
		if !ok {
			return
		}
		if name2, ok2 := PeekAction([]byte(s + more)); !ok2 || name2 != name {
			t.Fatalf("%q: found %q, but %q more gives %q %v", s, name, more, name2, ok2)
		}
	})
}

// A budget holds at most its max: a taker that finds it full waits and then fails with ErrBusy
// (Busy), a TryAcquire fails at once, and what is released can be taken again.
func TestBudgetHoldsAtMostItsMax(t *testing.T) {
	b := NewBudget(100, 20*time.Millisecond)
	if err := b.Acquire(context.Background(), 60); err != nil {
		t.Fatal(err)
	}
	if b.TryAcquire(50) {
		t.Fatal("TryAcquire took 50 bytes with 40 left")
	}
	if err := Busy(context.Background(), b.Acquire(context.Background(), 50)); !errors.Is(err, ErrBusy) {
		t.Fatalf("Acquire over the max: %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Busy(ctx, b.Acquire(ctx, 50)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with an ended context: %v, want its own error", err)
	}
	if !b.TryAcquire(40) || b.Held() != 100 || b.Peak() != 100 {
		t.Fatalf("held %d peak %d, want 100 100", b.Held(), b.Peak())
	}
	b.Release(60)
	b.Release(40)
	if b.Held() != 0 || b.Waiting() != 0 || b.Peak() != 100 {
		t.Fatalf("after release: held %d waiting %d peak %d, want 0 0 100", b.Held(), b.Waiting(), b.Peak())
	}
}
