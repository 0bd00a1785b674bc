package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/matrix-onebot/gateway/internal/storage"
)

// A batch interrupted by a stop is fetched again by the next run (the position did not move).
// What it had already handed over is kept here, so that the next run skips exactly that.
//
// Before a batch hands over its first event, it is recorded as in flight (the write must succeed,
// or nothing is handed over); saving the position deletes the record in the same transaction.
// A run that finds its batch still in flight was cut off without knowing what it handed over (a
// crash, or a stop while the disk was full): it hands that batch's events over again marked as
// replayed, never as unmarked duplicates.

type partialBatch struct {
	Since    string   `json:"since"`
	Done     []string `json:"done"`
	InFlight bool     `json:"in_flight,omitempty"` // Done may be incomplete
}

func (s *Session) partialKey() string { return "partial_batch:" + string(s.UserID()) }

// loadPartial returns the events already handed over from the batch at since, and whether the
// batch was cut off while in flight (events not in done may have been handed over too).
func (s *Session) loadPartial(ctx context.Context, since string) (done map[string]bool, inFlight bool) {
	raw, err := s.opts.DB.GetValue(ctx, s.partialKey())
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.log.Warn("failed to load the interrupted batch", "error", err)
		}
		return nil, false
	}
	var p partialBatch
	if json.Unmarshal([]byte(raw), &p) != nil || p.Since != since {
		return nil, false
	}
	done = make(map[string]bool, len(p.Done))
	for _, e := range p.Done {
		done[e] = true
	}
	if p.InFlight {
		s.log.Warn("the last run was cut off while handing over a batch: its events come again, marked as replayed",
			"since", since, "known_handed_over", len(done))
	}
	return done, p.InFlight
}

// markInFlight records that b is about to hand over events; it must succeed before any is.
func (s *Session) markInFlight(ctx context.Context, b *batch) error {
	p := partialBatch{Since: b.since, InFlight: true}
	for e := range b.done {
		p.Done = append(p.Done, e)
	}
	raw, _ := json.Marshal(p)
	if err := s.opts.DB.SetValue(ctx, s.partialKey(), string(raw)); err != nil {
		return fmt.Errorf("failed to record the batch being handed over: %w", err)
	}
	return nil
}

func (s *Session) savePartial(ctx context.Context, b *batch) {
	if !b.marked {
		return // this run handed nothing over; an earlier run's record stays as it is
	}
	p := partialBatch{Since: b.since, InFlight: b.replay} // done is exact for what this run handed over
	for e := range b.done {
		p.Done = append(p.Done, e)
	}
	raw, _ := json.Marshal(p)
	if err := s.opts.DB.SetValue(ctx, s.partialKey(), string(raw)); err != nil {
		s.log.Error("failed to save the interrupted batch; after a restart its events come again, marked as replayed", "error", err)
	}
}
