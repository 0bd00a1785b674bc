// Package retention runs the scheduled pruning of what the gateway keeps about messages and
// files (GATEWAY_MESSAGE_RETENTION, GATEWAY_MESSAGE_RETENTION_COUNT,
// GATEWAY_ENCRYPTED_BODY_RETENTION, GATEWAY_FILE_RETENTION). The bounds themselves live in
// storage.Retention and hold on every read; the pruner makes the rows and files leave the disk.
package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/matrix-onebot/gateway/internal/matrix/media"
	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// MaxInterval is the longest time between two passes.
const MaxInterval = 10 * time.Minute

// NoBodiesInterval is the longest time between two passes with GATEWAY_ENCRYPTED_BODY_RETENTION=0:
// the outbox frames of encrypted rooms deleted at delivery (storage OutboxDelivered) leave the
// WAL at the next pass's checkpoint.
const NoBodiesInterval = time.Minute

// Files is the file store's side of a pass (media.Store).
type Files interface {
	Prune(ctx context.Context, now time.Time) (media.FilePrune, error)
}

var _ Files = (*media.Store)(nil)

// Uploads are the fragmented uploads under way (gateway.Media).
type Uploads interface {
	PruneUploads(now time.Time) int
}

// Result is what one pass removed.
type Result struct {
	Messages storage.MessagePrune
	Files    media.FilePrune
	Uploads  int // fragmented uploads abandoned for GATEWAY_MEDIA_UPLOAD_TTL
	// Checkpointed tells that the WAL was emptied after the pass (only when rows were removed
	// by it, or by an earlier pass whose checkpoint could not finish).
	Checkpointed bool
}

func (r Result) removed() bool {
	return r.Messages.Total() > 0 || r.Files.Records > 0 || r.Files.Files > 0 || r.Uploads > 0
}

// Pruner prunes the database and the file store on a schedule. Run (or Pass) is called by one
// goroutine at a time.
type Pruner struct {
	DB      *storage.DB
	Files   Files   // nil: no file store
	Uploads Uploads // nil: no OneBot file actions
	Log     *slog.Logger
	// Interval is the time between passes; 0 = Interval(DB.Retention()).
	Interval time.Duration
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// OnPass, when set, is called after every pass (for tests).
	OnPass func(Result, error)
	// Metrics counts the passes and their failures (retention_passes_total); nil = none.
	Metrics *metrics.Metrics

	// checkpointDue is set while pruned rows may still be in the WAL: a checkpoint that could
	// not finish is tried again at the next pass.
	checkpointDue bool
}

// Interval is the time between passes for r: half the shortest age bound, at least a second
// and at most MaxInterval (NoBodiesInterval without decrypted bodies). Reads apply the bounds at
// once; the interval is how much longer the bytes may stay on disk.
func Interval(r storage.Retention) time.Duration {
	d := MaxInterval
	if r.NoEncryptedBodies {
		d = NoBodiesInterval
	}
	for _, age := range []time.Duration{r.MessageAge, r.EncryptedBodyAge, r.FileAge} {
		if age > 0 && age/2 < d {
			d = age / 2
		}
	}
	return max(d, time.Second)
}

// Run makes a pass at once, then one every interval, until ctx ends.
func (p *Pruner) Run(ctx context.Context) {
	interval := p.Interval
	if interval <= 0 {
		interval = Interval(p.DB.Retention())
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := p.Pass(ctx)
		if ctx.Err() != nil {
			return // a pass cut short by the shutdown is not a failure
		}
		p.Metrics.PrunePass(err)
		if p.OnPass != nil {
			p.OnPass(res, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass prunes once: the message index, the file store, then a checkpoint so that the WAL does
// not keep what was removed.
func (p *Pruner) Pass(ctx context.Context) (Result, error) {
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	warn := func(msg string, args ...any) {
		if ctx.Err() == nil { // a pass cut short by the shutdown has nothing to report
			log.Warn(msg, args...)
		}
	}
	var (
		res      Result
		firstErr error
	)
	msgs, err := p.DB.Messages().PruneMessages(ctx, now)
	if err != nil {
		warn("failed to prune the message index; it will be tried again", "error", err)
		if firstErr == nil {
			firstErr = err
		}
	}
	res.Messages = msgs
	if p.Files != nil {
		files, err := p.Files.Prune(ctx, now)
		if err != nil {
			warn("failed to prune the file store; check GATEWAY_FILES_DIR, it will be tried again", "error", err)
			if firstErr == nil {
				firstErr = err
			}
		}
		res.Files = files
	}
	if p.Uploads != nil {
		res.Uploads = p.Uploads.PruneUploads(now)
	}
	if res.Messages.Total() > 0 || res.Files.Records > 0 {
		p.checkpointDue = true
	}
	if p.checkpointDue {
		ok, err := p.DB.Checkpoint(ctx)
		switch {
		case err != nil:
			warn("failed to checkpoint the database after pruning; it will be tried again", "error", err)
			if firstErr == nil {
				firstErr = err
			}
		case !ok:
			log.Debug("the database was busy: the pruned rows leave the WAL at the next pass")
		}
		res.Checkpointed = ok
		p.checkpointDue = !ok
	}
	if !res.removed() {
		return res, firstErr
	}
	log.Info("pruned expired data", "messages", msgs.Aged+msgs.Counted, "encrypted_bodies", msgs.Bodies, "encrypted_outbox_frames", msgs.Outbox,
		"file_records", res.Files.Records, "files", res.Files.Files, "abandoned_uploads", res.Uploads)
	return res, firstErr
}
