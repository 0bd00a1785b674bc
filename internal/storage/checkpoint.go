package storage

import (
	"context"
	"sync"
	"time"
)

// checkpointEvery is how often the checkpointer copies the WAL into the SQLite file. Between two
// runs the WAL holds what was committed meanwhile (a few MB under the heaviest load the benchmark
// makes), which readers find there as before.
const checkpointEvery = time.Second

// queryPassiveCheckpoint copies what it can without waiting for readers or writers, and without
// blocking them: a writer may commit while it runs.
const queryPassiveCheckpoint = `PRAGMA wal_checkpoint(PASSIVE)`

// startCheckpointer runs a PASSIVE checkpoint every interval in the background, in place of
// SQLite's automatic one (noAutoCheckpoint), until the returned stop is called; stop waits for
// it to end. It never runs one at the same time as Checkpoint: SQLite answers a checkpoint that
// meets another with busy, and the retention's TRUNCATE would then leave the WAL for no reason.
// Durability is unchanged: a commit is in the WAL either way (synchronous=NORMAL), and
// a crash before a checkpoint only leaves more WAL for the next open to read.
func (db *DB) startCheckpointer(interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var busy, logFrames, done int
			// A failure (the disk full, the file gone) shows at the next write, which reports it;
			// the next tick tries again.
			db.checkpointing.Lock()
			_ = db.sql.QueryRowContext(ctx, queryPassiveCheckpoint).Scan(&busy, &logFrames, &done)
			db.checkpointing.Unlock()
		}
	})
	return func() { cancel(); wg.Wait() }
}
