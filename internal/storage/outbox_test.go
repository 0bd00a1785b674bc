package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/wait"
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

// GATEWAY_ENCRYPTED_BODY_RETENTION bounds the outbox frames of encrypted rooms' events as it
// bounds the message index's bodies: past the age they are not read (from a position or the
// oldest) and PruneMessages deletes them, delivered or not; other frames stay.
func TestOutboxEncryptedFramesFollowTheBodyRetention(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	c := &clock{t: time.UnixMilli(1_700_000_000_000)}
	db.now = c.now
	db.SetRetention(Retention{MessageAge: 7 * 24 * time.Hour, EncryptedBodyAge: time.Hour})
	lim := OutboxLimits{MaxEvents: 100}
	frames := []OutboxFrame{
		{Endpoint: "satori:events", Payload: []byte("plain"), Encrypted: false},
		{Endpoint: "satori:events", Payload: []byte("secret"), Encrypted: true},
		{Endpoint: "hook", Payload: []byte("hook secret"), Encrypted: true},
	}
	if _, err := db.Outbox().OutboxAppendAll(ctx, frames, c.t, lim); err != nil {
		t.Fatal(err)
	}
	payloads := func(rows []OutboxEntry) (out []string) {
		for _, r := range rows {
			out = append(out, string(r.Payload))
		}
		return out
	}
	if rows, err := db.Outbox().OutboxAfter(ctx, "satori:events", 0, 10); err != nil || fmt.Sprint(payloads(rows)) != "[plain secret]" || rows[0].Encrypted || !rows[1].Encrypted {
		t.Fatalf("within the retention: %+v, %v; want plain, then secret marked encrypted", rows, err)
	}
	c.t = c.t.Add(time.Hour + time.Millisecond)
	if rows, err := db.Outbox().OutboxAfter(ctx, "satori:events", 0, 10); err != nil || fmt.Sprint(payloads(rows)) != "[plain]" {
		t.Fatalf("past the retention, OutboxAfter = %q, %v; want only plain", payloads(rows), err)
	}
	if rows, err := db.Outbox().OutboxPeek(ctx, "hook", 10); err != nil || len(rows) != 0 {
		t.Fatalf("past the retention, OutboxPeek = %q, %v; want none", payloads(rows), err)
	}
	p, err := db.Messages().PruneMessages(ctx, c.t)
	if err != nil || p.Outbox != 2 {
		t.Fatalf("PruneMessages = %+v, %v; want the 2 encrypted frames deleted", p, err)
	}
	if n, _ := db.Outbox().OutboxCount(ctx, "satori:events"); n != 1 {
		t.Fatalf("%d frames left, want the plain one", n)
	}
}

// With GATEWAY_ENCRYPTED_BODY_RETENTION=0, an encrypted frame waits in the outbox until it is
// delivered (reads return it, the prune leaves it), and OutboxDelivered deletes it then from an
// outbox that keeps delivered frames; the plain frames stay for resuming readers. The next prune
// reports the deletion, so that the pruner empties the WAL.
func TestOutboxEncryptedFramesGoAtDeliveryWithoutBodyRetention(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	db.SetRetention(Retention{MessageAge: 7 * 24 * time.Hour, NoEncryptedBodies: true})
	at := db.now()
	for i, enc := range []bool{false, true, false, true} {
		f := OutboxFrame{Endpoint: "satori:events", Payload: fmt.Appendf(nil, "f%d", i), Encrypted: enc}
		if _, err := db.Outbox().OutboxAppendAll(ctx, []OutboxFrame{f}, at, OutboxLimits{MaxEvents: 100}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.Outbox().OutboxAfter(ctx, "satori:events", 0, 10)
	if err != nil || len(rows) != 4 {
		t.Fatalf("before delivery: %d frames, %v; want all 4 (they wait to be delivered)", len(rows), err)
	}
	if p, err := db.Messages().PruneMessages(ctx, at.Add(time.Hour)); err != nil || p.Outbox != 0 {
		t.Fatalf("prune before delivery = %+v, %v; want no frame deleted", p, err)
	}
	n, err := db.Outbox().OutboxDelivered(ctx, "satori:events", rows[1].Seq)
	if err != nil || n != 1 {
		t.Fatalf("OutboxDelivered up to f1 = %d, %v; want f1 deleted", n, err)
	}
	left, _ := db.Outbox().OutboxAfter(ctx, "satori:events", 0, 10)
	var got []string
	for _, r := range left {
		got = append(got, string(r.Payload))
	}
	if fmt.Sprint(got) != "[f0 f2 f3]" {
		t.Fatalf("after delivering up to f1: %q, want f0 f2 f3 (f3 is not delivered yet)", got)
	}
	if p, err := db.Messages().PruneMessages(ctx, at); err != nil || p.Outbox != 1 {
		t.Fatalf("the next prune = %+v, %v; want the frame deleted at delivery counted", p, err)
	}

	// With an age bound instead, delivery deletes nothing.
	db.SetRetention(Retention{MessageAge: 7 * 24 * time.Hour, EncryptedBodyAge: time.Hour})
	if n, err := db.Outbox().OutboxDelivered(ctx, "satori:events", left[2].Seq); err != nil || n != 0 {
		t.Fatalf("OutboxDelivered with an age bound = %d, %v; want nothing deleted", n, err)
	}
}

// The plaintext of a pruned encrypted frame leaves the SQLite file and its WAL.
func TestPrunedEncryptedFrameLeavesTheFile(t *testing.T) {
	sqliteOnly(t, "the bytes of a SQLite file")
	path := filepath.Join(t.TempDir(), "gateway.db")
	db := openAt(t, path)
	ctx := t.Context()
	c := &clock{t: time.UnixMilli(1_700_000_000_000)}
	db.now = c.now
	db.SetRetention(Retention{MessageAge: 7 * 24 * time.Hour, EncryptedBodyAge: time.Minute})
	marker := []byte("outbox-plaintext-marker-5a1c")
	if _, err := db.Outbox().OutboxAppendAll(ctx, []OutboxFrame{{Endpoint: "satori:events", Payload: marker, Encrypted: true}}, c.t, OutboxLimits{MaxEvents: 10}); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(2 * time.Minute)
	if p, err := db.Messages().PruneMessages(ctx, c.t); err != nil || p.Outbox != 1 {
		t.Fatalf("PruneMessages = %+v, %v", p, err)
	}
	if ok, err := db.Checkpoint(ctx); err != nil || !ok {
		t.Fatalf("Checkpoint = %v, %v", ok, err)
	}
	for _, p := range []string{path, path + "-wal"} {
		data, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(data, marker) {
			t.Fatalf("%s still holds the pruned frame's plaintext", p)
		}
	}
}

// Readers of an outbox go by seq (OutboxAfter from a position; OutboxDelete up to a seq), so a
// frame must never become visible after a frame with a higher seq of the same endpoint. On
// PostgreSQL two transactions get their seqs in one order and may commit in the other: here A
// appends first and commits last. A reader that reads between the two commits must not pass A's
// frame by.
func TestOutboxFramesCommitInSeqOrder(t *testing.T) {
	if testPostgres == nil {
		t.Skip("PostgreSQL only: SQLite has one writer at a time, so its frames commit in seq order")
	}
	db := openTest(t)
	ctx := t.Context()
	lim := OutboxLimits{MaxEvents: 100}
	appended, release, aDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		aDone <- inTx(ctx, db, func(ctx context.Context) error {
			if _, _, err := appendOutbox(ctx, db, OutboxFrame{Endpoint: "satori:events", Payload: []byte("a")}, time.Now(), lim); err != nil {
				return err
			}
			close(appended)
			<-release // A's transaction stays open
			return nil
		})
	}()
	select {
	case <-appended:
	case err := <-aDone:
		t.Fatalf("A: %v", err)
	}
	bDone := make(chan error, 1)
	go func() {
		_, err := db.Outbox().OutboxAppendAll(ctx, []OutboxFrame{{Endpoint: "satori:events", Payload: []byte("b")}}, time.Now(), lim)
		bDone <- err
	}()
	// B has committed, or waits for A.
	var bErr error
	bFinished := false
	wait.For(t, 10*time.Second, "B to commit or to wait for A", func() bool {
		select {
		case bErr = <-bDone:
			bFinished = true
			return true
		default:
		}
		var waiting int
		if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		return waiting > 0
	})
	if bErr != nil {
		t.Fatalf("B: %v", bErr)
	}

	// A reader reads now, and again once both have committed, from where it got to.
	var seen []string
	var pos int64
	read := func() {
		rows, err := db.Outbox().OutboxAfter(ctx, "satori:events", pos, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			seen, pos = append(seen, string(r.Payload)), r.Seq
		}
	}
	read()
	close(release)
	if err := <-aDone; err != nil {
		t.Fatalf("A: %v", err)
	}
	if !bFinished {
		if err := <-bDone; err != nil {
			t.Fatalf("B: %v", err)
		}
	}
	read()
	if fmt.Sprint(seen) != "[a b]" {
		t.Fatalf("the reader got %q; want a then b, each once (a frame that commits late must not be passed by)", seen)
	}
}

// OutboxAppendAll gives each frame's seq in the order of the frames it was given (it stores them
// sorted by endpoint): the feed hands a frame to its deliverer with that seq (push.handover).
func TestOutboxAppendAllReturnsEachFramesSeq(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	frames := []OutboxFrame{{Endpoint: "b", Payload: []byte("b0")}, {Endpoint: "a", Payload: []byte("a0")}, {Endpoint: "b", Payload: []byte("b1")}}
	got, err := db.Outbox().OutboxAppendAll(ctx, frames, time.Now(), OutboxLimits{MaxEvents: 2})
	if err != nil {
		t.Fatal(err)
	}
	seqOf := map[string]int64{}
	for _, ep := range []string{"a", "b"} {
		rows, err := db.Outbox().OutboxPeek(ctx, ep, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			seqOf[string(r.Payload)] = r.Seq
		}
	}
	for i, f := range frames {
		if got.Seqs[i] == 0 || got.Seqs[i] != seqOf[string(f.Payload)] {
			t.Fatalf("Seqs[%d] = %d, want %s's row %d (seqs %v, rows %v)", i, got.Seqs[i], f.Payload, seqOf[string(f.Payload)], got.Seqs, seqOf)
		}
	}
	if got.Dropped["a"] != 0 || got.Dropped["b"] != 0 {
		t.Fatalf("dropped %v, want none (2 frames per endpoint at most)", got.Dropped)
	}
	got, err = db.Outbox().OutboxAppendAll(ctx, []OutboxFrame{{Endpoint: "b", Payload: []byte("b2")}}, time.Now(), OutboxLimits{MaxEvents: 2})
	if err != nil || got.Dropped["b"] != 1 || len(got.Seqs) != 1 || got.Seqs[0] <= seqOf["b1"] {
		t.Fatalf("third frame of b: %+v, %v; want b0 dropped and a seq after b1's %d", got, err, seqOf["b1"])
	}
}

// OutboxStatAfter counts what waits after a reader's position in an outbox that keeps delivered
// frames, with the oldest of those; none waiting is 0 with no oldest.
func TestOutboxStatAfter(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	start := time.UnixMilli(1_700_000_000_000)
	var seqs []int64
	for i := range 3 {
		if _, err := db.Outbox().OutboxAppend(ctx, "satori:events", []byte("x"), start.Add(time.Duration(i)*time.Second), OutboxLimits{MaxEvents: 10}); err != nil {
			t.Fatal(err)
		}
		n, _ := db.Outbox().OutboxNewest(ctx, "satori:events")
		seqs = append(seqs, n)
	}
	if st, err := db.Outbox().OutboxStatAfter(ctx, "satori:events", seqs[0]); err != nil || st.Depth != 2 || !st.Oldest.Equal(start.Add(time.Second)) {
		t.Fatalf("after the first: %+v, %v; want 2 waiting, the oldest queued at +1s", st, err)
	}
	if st, err := db.Outbox().OutboxStatAfter(ctx, "satori:events", seqs[2]); err != nil || st.Depth != 0 || !st.Oldest.IsZero() {
		t.Fatalf("after the newest: %+v, %v; want none waiting", st, err)
	}
}

// The age limit's trim finds an endpoint's old frames by the (endpoint, queued_at) index instead
// of reading every frame of the endpoint (a few ms per append once an outbox holds thousands).
func TestOutboxAgeTrimUsesTheEndpointAgeIndex(t *testing.T) {
	sqliteOnly(t, "the query plan is SQLite's")
	db := openTest(t)
	rows, err := db.SQL().QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+trimOutboxAge, "e", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if fmt.Sprint(plan) != "[SEARCH gateway_outbox USING INDEX gateway_outbox_endpoint_queued_idx (endpoint=? AND queued_at<?)]" {
		t.Fatalf("plan of the age trim: %q, want a search of the (endpoint, queued_at) index", plan)
	}
}

// BenchmarkOutboxAppendToAFullOutbox appends one event to a retained outbox that holds
// GATEWAY_OUTBOX_MAX_EVENTS' default of 10,000 frames (a Satori stream's window) and to a
// reverse WebSocket's, in one transaction, with the default age limit: what the sync loop waits
// for on every event once the window is full.
func BenchmarkOutboxAppendToAFullOutbox(b *testing.B) {
	db := openTest(b)
	ctx := b.Context()
	lim := OutboxLimits{MaxEvents: 10000, MaxAge: 24 * time.Hour}
	payload := bytes.Repeat([]byte("x"), 600)
	fill := make([]OutboxFrame, 500)
	for i := range fill {
		fill[i] = OutboxFrame{Endpoint: "satori:events", Payload: payload}
	}
	for range lim.MaxEvents / len(fill) {
		if _, err := db.Outbox().OutboxAppendAll(ctx, fill, time.Now(), OutboxLimits{MaxEvents: 2 * lim.MaxEvents}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		app, err := db.Outbox().OutboxAppendAll(ctx, []OutboxFrame{{Endpoint: "satori:events", Payload: payload}, {Endpoint: "v12-ws:x", Payload: payload}}, time.Now(), lim)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Outbox().OutboxDelete(ctx, "v12-ws:x", app.Seqs[1]); err != nil {
			b.Fatal(err)
		}
	}
}
