package storage

import (
	"fmt"
	"testing"
	"time"
)

func TestOutboxOrderAndDelete(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	at := time.UnixMilli(1_700_000_000_000)
	for i := range 5 {
		if _, err := db.Outbox().OutboxAppend(ctx, "a", fmt.Appendf(nil, "a%d", i), at, OutboxLimits{MaxEvents: 100}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Outbox().OutboxAppend(ctx, "b", fmt.Appendf(nil, "b%d", i), at, OutboxLimits{MaxEvents: 100}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Outbox().OutboxPeek(ctx, "a", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[0].Payload) != "a0" || string(got[2].Payload) != "a2" || !got[0].QueuedAt.Equal(at) {
		t.Fatalf("peek = %+v, want a0..a2 queued at %v", got, at)
	}
	if err := db.Outbox().OutboxDelete(ctx, "a", got[1].Seq); err != nil {
		t.Fatal(err)
	}
	rest, _ := db.Outbox().OutboxPeek(ctx, "a", 10)
	if len(rest) != 3 || string(rest[0].Payload) != "a2" {
		t.Fatalf("after delete: %+v, want a2..a4", rest)
	}
	if n, _ := db.Outbox().OutboxCount(ctx, "b"); n != 5 {
		t.Fatalf("b count = %d, want 5 (other endpoints untouched)", n)
	}
}

func TestOutboxLimits(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	start := time.UnixMilli(1_700_000_000_000)
	var dropped int64
	for i := range 10 {
		n, err := db.Outbox().OutboxAppend(ctx, "e", fmt.Appendf(nil, "%d", i), start.Add(time.Duration(i)*time.Second), OutboxLimits{MaxEvents: 4})
		if err != nil {
			t.Fatal(err)
		}
		dropped += n
	}
	got, _ := db.Outbox().OutboxPeek(ctx, "e", 100)
	if len(got) != 4 || string(got[0].Payload) != "6" || dropped != 6 {
		t.Fatalf("count limit: %d left starting with %q, dropped %d; want 4 from 6, dropped 6", len(got), got[0].Payload, dropped)
	}
	// An age limit drops everything queued before at-MaxAge.
	n, err := db.Outbox().OutboxAppend(ctx, "e", []byte("late"), start.Add(20*time.Second), OutboxLimits{MaxEvents: 100, MaxAge: 12 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = db.Outbox().OutboxPeek(ctx, "e", 100)
	if n != 2 || len(got) != 3 || string(got[0].Payload) != "8" {
		t.Fatalf("age limit dropped %d and left %d from %q; want 2 dropped, 8, 9, late left", n, len(got), got[0].Payload)
	}
	if p, _ := db.Outbox().OutboxPurge(ctx, start.Add(time.Hour)); p != 3 {
		t.Fatalf("purge dropped %d, want 3", p)
	}
}

// The outbox survives a restart, and sequence numbers are not reused after the newest
// frame was deleted.
func TestOutboxPersistsAndSeqGrows(t *testing.T) {
	path := newLocation(t)
	db := openAt(t, path)
	ctx := t.Context()
	if _, err := db.Outbox().OutboxAppend(ctx, "e", []byte("one"), time.Now(), OutboxLimits{MaxEvents: 10}); err != nil {
		t.Fatal(err)
	}
	first, _ := db.Outbox().OutboxPeek(ctx, "e", 1)
	if err := db.Outbox().OutboxDelete(ctx, "e", first[0].Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Outbox().OutboxAppend(ctx, "e", []byte("two"), time.Now(), OutboxLimits{MaxEvents: 10}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openAt(t, path)
	got, _ := db.Outbox().OutboxPeek(ctx, "e", 10)
	if len(got) != 1 || string(got[0].Payload) != "two" || got[0].Seq <= first[0].Seq {
		t.Fatalf("after reopen: %+v, want only two with seq > %d", got, first[0].Seq)
	}
}

// A kept outbox is read from a position: the frames after it, of that endpoint only, oldest
// first; the newest seq tells where a reader that starts now begins.
func TestOutboxAfterAndNewest(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	if n, err := db.Outbox().OutboxNewest(ctx, "a"); err != nil || n != 0 {
		t.Fatalf("newest of an empty outbox = %d, %v; want 0", n, err)
	}
	var seqs []int64
	for i := range 4 {
		for _, ep := range []string{"a", "b"} {
			if _, err := db.Outbox().OutboxAppend(ctx, ep, fmt.Appendf(nil, "%s%d", ep, i), time.Now(), OutboxLimits{MaxEvents: 100}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := db.Outbox().OutboxNewest(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, n)
	}
	got, err := db.Outbox().OutboxAfter(ctx, "a", seqs[1], 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0].Payload) != "a2" || string(got[1].Payload) != "a3" || got[0].Seq != seqs[2] || got[1].Seq != seqs[3] {
		t.Fatalf("after %d: %+v, want a2 (seq %d), a3 (seq %d)", seqs[1], got, seqs[2], seqs[3])
	}
	if got, _ := db.Outbox().OutboxAfter(ctx, "a", 0, 1); len(got) != 1 || string(got[0].Payload) != "a0" {
		t.Fatalf("after 0 limit 1: %+v, want a0", got)
	}
	if got, _ := db.Outbox().OutboxAfter(ctx, "a", seqs[3], 10); len(got) != 0 {
		t.Fatalf("after the newest: %+v, want none", got)
	}
}
