package matrix

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/matrix-onebot/gateway/internal/storage"
)

// A batch interrupted by a stop is fetched again by the next run (the position did not move).
// What it had already handed over is kept here, so that the next run skips exactly that.

type partialBatch struct {
	Since string   `json:"since"`
	Done  []string `json:"done"`
}

func (s *Session) partialKey() string { return "partial_batch:" + string(s.UserID()) }

// loadPartial returns the events already handed over from the batch at since.
func (s *Session) loadPartial(ctx context.Context, since string) map[string]bool {
	raw, err := s.opts.DB.GetValue(ctx, s.partialKey())
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.log.Warn("failed to load the interrupted batch", "error", err)
		}
		return nil
	}
	var p partialBatch
	if json.Unmarshal([]byte(raw), &p) != nil || p.Since != since {
		return nil
	}
	done := make(map[string]bool, len(p.Done))
	for _, e := range p.Done {
		done[e] = true
	}
	return done
}

func (s *Session) savePartial(ctx context.Context, b *batch) {
	if len(b.done) == 0 {
		return
	}
	p := partialBatch{Since: b.since}
	for e := range b.done {
		p.Done = append(p.Done, e)
	}
	raw, _ := json.Marshal(p)
	if err := s.opts.DB.SetValue(ctx, s.partialKey(), string(raw)); err != nil {
		s.log.Error("failed to save the interrupted batch; its events may be delivered again", "error", err)
	}
}

func (s *Session) clearPartial(ctx context.Context) {
	if err := s.opts.DB.SetValue(ctx, s.partialKey(), "{}"); err != nil {
		s.log.Warn("failed to clear the interrupted batch", "error", err)
	}
}
