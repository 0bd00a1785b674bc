package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
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

// publisher hands a batch's events to the sink, each at most once per batch across restarts:
// what an interrupted batch already handed over is kept in the database.
type publisher struct {
	acct *account.Account
	sink model.Sink
}

func (s *publisher) key() string { return "partial_batch:" + string(s.acct.UserID()) }

// loadPartial returns the events already handed over from the batch at since, and whether the
// batch was cut off while in flight (events not in done may have been handed over too).
func (s *publisher) loadPartial(ctx context.Context, since string) (done map[string]bool, inFlight bool) {
	raw, err := s.acct.DB.KV().GetValue(ctx, s.key())
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.acct.Log().Warn("failed to load the interrupted batch", "error", err)
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
		s.acct.Log().Warn("the last run was cut off while handing over a batch: its events come again, marked as replayed",
			"since", since, "known_handed_over", len(done))
	}
	return done, p.InFlight
}

// markInFlight records that b is about to hand over events; it must succeed before any is.
func (s *publisher) markInFlight(ctx context.Context, b *batch) error {
	p := partialBatch{Since: b.since, InFlight: true}
	for e := range b.done {
		p.Done = append(p.Done, e)
	}
	raw, _ := json.Marshal(p)
	if err := s.acct.DB.KV().SetValue(ctx, s.key(), string(raw)); err != nil {
		return fmt.Errorf("failed to record the batch being handed over: %w", err)
	}
	return nil
}

func (s *publisher) savePartial(ctx context.Context, b *batch) {
	if !b.marked {
		return // this run handed nothing over; an earlier run's record stays as it is
	}
	p := partialBatch{Since: b.since, InFlight: b.replay} // done is exact for what this run handed over
	for e := range b.done {
		p.Done = append(p.Done, e)
	}
	raw, _ := json.Marshal(p)
	if err := s.acct.DB.KV().SetValue(ctx, s.key(), string(raw)); err != nil {
		s.acct.Log().Error("failed to save the interrupted batch; after a restart its events come again, marked as replayed", "error", err)
	}
}

// batch is the processing of one sync response.
type batch struct {
	wait  context.Context // ends when the gateway stops: handing over stops, the position stays
	since string
	first bool            // the first sync of a bot with no stored position
	done  map[string]bool // events of this batch already handed over (by an earlier run)
	// replay: an earlier run was cut off while handing this batch over, so any event not in done
	// may have been handed over: it is marked as replayed.
	replay bool
	marked bool // recorded as in flight (markInFlight)
	// saved: since is the position this run saved last (no record of an interrupted batch is
	// left), so an answer that hands nothing over and keeps the position needs no write.
	saved bool
}

// publish hands one event to the gateway, at most once per batch across restarts.
func (s *publisher) publish(b *batch, ev *model.Event) error {
	if b.done[ev.ID] {
		return nil
	}
	if !b.marked {
		if err := s.markInFlight(context.WithoutCancel(b.wait), b); err != nil {
			return err // nothing handed over: the batch is retried (handOver)
		}
		b.marked = true
	}
	ev.Replayed = b.replay
	if err := s.sink.Publish(b.wait, ev); err != nil {
		return err
	}
	if b.done == nil {
		b.done = map[string]bool{}
	}
	b.done[ev.ID] = true
	return nil
}
