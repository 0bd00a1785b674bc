package storage

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/await"
)

// BenchmarkBatchCommits times what the sync loop writes for one small /sync batch (one message
// indexed, then the position saved: two commits) and reports the p50, p99 and worst batch: a
// commit that checkpoints the WAL (copies it into the file and fsyncs both) shows in the tail.
func BenchmarkBatchCommits(b *testing.B) {
	reportBatches(b, timeBatches(b, openTest(b)))
}

// BenchmarkBatchCommitsWhileAnotherWrites is BenchmarkBatchCommits while another goroutine of the
// gateway writes too (as a pushing endpoint's feed writes for each delivered frame), all the time
// or with a pause between two frames: SQLite lets one writer in at a time, and one that finds the
// database locked sleeps in steps of 1, 2, 5, 10, … 100 ms before it looks again, so that under
// steady contention one writer can starve for a second while the other keeps the lock.
func BenchmarkBatchCommitsWhileAnotherWrites(b *testing.B) {
	for _, pause := range []time.Duration{0, 500 * time.Microsecond} {
		b.Run(fmt.Sprintf("pause=%v", pause), func(b *testing.B) { batchCommitsWhileAnotherWrites(b, pause) })
	}
}

// batchCommitsWhileAnotherWrites: the other writer pauses between two frames (0: writes all the
// time; a feed pushing to a live endpoint writes once per delivered frame).
func batchCommitsWhileAnotherWrites(b *testing.B, pause time.Duration) {
	db := openTest(b)
	ctx := b.Context()
	// The other writer runs until the measurement ends (cancel); between its writes it paces
	// itself by pause, a load pattern and not a wait for anything, and stops pacing at once on cancel.
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; wctx.Err() == nil; i++ {
			if _, err := db.Outbox().OutboxAppend(wctx, "feed", []byte(`{"frame":1}`), time.Now(), OutboxLimits{MaxEvents: 100}); err != nil {
				if wctx.Err() == nil {
					b.Error(err)
				}
				return
			}
			if err := db.KV().SetValue(wctx, "feed-position", fmt.Sprint(i)); err != nil {
				if wctx.Err() == nil {
					b.Error(err)
				}
				return
			}
			if pause > 0 && await.Sleep(wctx, pause) != nil {
				return
			}
		}
	}()
	took := timeBatches(b, db)
	cancel()
	<-done
	reportBatches(b, took)
}

// timeBatches commits one small /sync batch (a message indexed, then the position saved) per
// b.Loop and returns how long each took.
func timeBatches(b *testing.B, db *DB) []time.Duration {
	ctx := b.Context()
	body := []byte(`{"msgtype":"m.text","body":"a message of a few words, as in the relay benchmark"}`)
	took := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if err := db.Messages().PutMessages(ctx, []Message{{BotUserID: "@bot:example.org", RoomID: "!room:example.org",
			EventID: fmt.Sprintf("$event%d", i), Sender: "@alice:example.org", Time: time.UnixMilli(1_700_000_000_000), Content: body}}); err != nil {
			b.Fatal(err)
		}
		if err := db.Sync().SaveSyncPosition(ctx, "@bot:example.org", fmt.Sprintf("s%d", i)); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	return took
}

// reportBatches reports the p50, p99 and worst of took (it sorts took).
func reportBatches(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(took[len(took)-1].Microseconds()), "max-µs")
}
