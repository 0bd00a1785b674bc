package storage

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkBatchCommits times what the sync loop writes for one small /sync batch (one message
// indexed, then the position saved: two commits) and reports the p50, p99 and worst batch: a
// commit that checkpoints the WAL (copies it into the file and fsyncs both) shows in the tail.
func BenchmarkBatchCommits(b *testing.B) {
	db := openTest(b)
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
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(took[len(took)-1].Microseconds()), "max-µs")
}
