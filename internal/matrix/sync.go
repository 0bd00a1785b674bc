package matrix

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/matrix-onebot/gateway/internal/backoff"
	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/crypt"
	"github.com/matrix-onebot/gateway/internal/matrix/moderation"
	"github.com/matrix-onebot/gateway/internal/matrix/rooms"
	"github.com/matrix-onebot/gateway/internal/matrix/syncapi"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// syncer is a bot's sync loop: /sync with backoff, each batch handed over (batchReader) before
// the position is saved (handOver), and the loop started again after a failure (Serve).
type syncer struct {
	acct        *account.Account
	device      *crypt.Device
	direct      *rooms.Direct
	mod         *moderation.Moderator // its mute lifter runs with the loop
	pub         *publisher
	api         *syncapi.Client
	reader      *batchReader
	syncTimeout time.Duration
	startGate   StartGate // nil = no bound
}

// Serve runs the bot until ctx ends: Run, started again with backoff after any failure that is
// not ErrFatal, the bot's status (readyz, get_status) and the log saying why meanwhile. It
// returns the ErrFatal error (the status says what to change), or nil once ctx has ended.
func (s *syncer) Serve(ctx context.Context) error {
	defer s.mod.StartLifter(ctx)() // lifts timed mutes when they are due
	retry := backoff.New(s.acct.RetryInterval, account.MaxBackoff)
	for {
		started := time.Now()
		err := s.runRecovered(ctx) // panics.go
		if ctx.Err() != nil {
			return nil
		}
		if err == nil { // Run returns nil only when ctx ends; never spin
			err = errors.New("the sync loop ended unexpectedly")
		}
		if errors.Is(err, account.ErrFatal) {
			if st := s.acct.Status(); st.State != model.StateStopped {
				s.acct.SetStatus(model.StateStopped, err.Error())
			}
			s.acct.Log().Error("bot stopped: the operator must act", "reason", err)
			return err
		}
		if time.Since(started) > account.MaxBackoff {
			retry.Reset() // it ran for a while: this is a new failure, not the same one again
		}
		wait := retry.Next()
		s.Failed(err, wait)
		if !account.Sleep(ctx, wait) {
			return nil
		}
	}
}

// Failed shows that the bot could not start or stopped on err and is retried in retryIn: its
// status (readyz, get_status) gives the reason, and the log says it with what to do.
func (s *syncer) Failed(err error, retryIn time.Duration) {
	reason := "failed, retrying with backoff: " + err.Error()
	if storage.IsDBError(err) {
		reason = s.acct.DB.Problem(err)
	}
	s.acct.SetStatus(model.StateBackoff, reason)
	s.acct.Log().Error("bot failed; retrying", "reason", reason, "error", err, "retry_in", retryIn.Round(time.Millisecond))
}

// Run syncs until ctx ends. It returns nil on a clean stop and an error when the bot cannot go
// on: ErrFatal when only the operator can help, anything else may work when tried again (Serve).
func (s *syncer) Run(ctx context.Context) error {
	started := func() {} // gives the start slot back: after the first batch, or a failure
	if s.startGate != nil {
		release, err := s.startGate.Acquire(ctx)
		if err != nil {
			return nil // ctx ended while waiting for a slot
		}
		started = release
		defer release()
	}
	if !s.acct.LoggedIn() {
		if err := s.acct.Login(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	if err := s.device.Init(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer func() {
		if ctx.Err() != nil { // a failure keeps its own status (Serve shows it and retries)
			s.acct.SetStatus(model.StateStopped, "gateway stopping")
		}
	}()
	s.loadProfile(ctx)
	s.direct.Load(ctx)
	filterID := s.api.FilterID(ctx)

	since, err := s.acct.DB.Sync().SyncToken(ctx, string(s.acct.UserID()))
	if err != nil {
		return fmt.Errorf("failed to load sync position: %w", err)
	}
	firstSync := since == ""
	done, replay := s.pub.loadPartial(ctx, since)
	retry := backoff.New(s.acct.RetryInterval, account.MaxBackoff)
	// The first sync of a run (a start, a restart, a retry) catches up with timeout 0: the
	// homeserver answers at once even when the rooms are quiet, so that the bot is syncing
	// (/readyz ready, get_status good) within a round trip, not after a whole long poll.
	catchUp := true
	saved := false     // since is what this run saved last (handOver skips rewriting it)
	var next *syncCall // the /sync request for the batch after the one being handed over
	defer func() {
		if next != nil {
			next.stop()
		}
	}()
	for ctx.Err() == nil {
		timeout := s.syncTimeout
		if catchUp {
			timeout = 0 // answer at once: a fresh bot's first sync only sets the position
		}
		timeout = s.device.CapSyncTimeout(ctx, timeout) // held events due sooner
		if next != nil && next.wake.After(time.Now().Add(timeout)) {
			// The hand-over held an event (its room key missing) that is due before the request
			// in flight would be answered: ask again with the shorter timeout.
			next.stop()
			next = nil
		}
		if next == nil {
			next = s.startSync(ctx, since, filterID, timeout)
		}
		call := next
		next = nil
		resp, err := call.wait()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			started() // no slot is held while waiting to try again
			if !account.Sleep(ctx, s.acct.FailureWait(err, retry)) {
				return nil
			}
			continue
		}
		retry.Reset()
		s.acct.SetStatus(model.StateSyncing, "")
		b := &batch{wait: ctx, since: since, first: firstSync, done: done, replay: replay, saved: saved}
		m := s.device.Machine() // room keys and device lists first, so that the events decrypt; key counts can wait
		late := m != nil && resp.Crypto.Quiet()
		if m != nil && !late {
			m.ProcessSync(context.WithoutCancel(ctx), resp.Crypto.JSON(), since)
		}
		// Ask for the next batch now (the position in the database does not move until this one
		// is handed over): the homeserver holds the request while this batch is handed over.
		next = s.startSync(ctx, resp.NextBatch, filterID, s.device.CapSyncTimeout(ctx, s.syncTimeout))
		handing := time.Now()
		if !s.handOver(ctx, b, resp) {
			return nil // stopped
		} else if late {
			m.ProcessSync(context.WithoutCancel(ctx), resp.Crypto.JSON(), since)
		}
		s.acct.Log().Debug("sync batch handed over", "since", since, "next_batch", resp.NextBatch,
			"poll_ms", ms(call.received.Sub(call.requested)), "hand_over_ms", ms(time.Since(handing)))
		started()
		since, firstSync, catchUp, done, replay, saved = resp.NextBatch, false, false, nil, false, true
	}
	return nil
}

// storageRetryMax caps the wait between two tries of a batch whose database writes failed, so
// that the bot resumes soon after space returns.
const storageRetryMax = 10 * time.Second

// handOver hands the batch's events over and then saves the sync position, so that the position
// never moves past an event that was not durably handed over (Hub.Publish has written it to the
// outboxes when it returns) nor past a message not in the index. A failed write (the disk of the
// database is full, …) is retried with backoff, the bot's status and the log saying why, until it
// succeeds: an event already handed over is not handed over again (b.done), so the retry neither
// loses nor repeats one. It reports false when ctx ended first (the batch is fetched again).
func (s *syncer) handOver(ctx context.Context, b *batch, resp *syncapi.Response) bool {
	work := context.WithoutCancel(ctx)
	defer s.reader.index.Write(work) // the messages held in memory (rooms.Index.PutRoom), on any return
	retry := backoff.New(s.acct.RetryInterval, storageRetryMax)
	handed, failed := false, false
	for {
		var err error
		if !handed {
			err = s.reader.process(work, b, resp)
			if err == nil {
				err = s.reader.decrypt.deliverHeld(work, b) // events whose key came
			}
			handed = err == nil
		}
		// An idle long poll's answer (nothing handed over, the position unchanged and already
		// saved by this run) needs no write: a thousand idle bots would write ~30 times a second.
		idle := b.saved && !b.marked && resp.NextBatch == b.since
		if handed && !idle {
			s.reader.index.Write(work) // the position must not pass a message not stored
			if err = s.acct.DB.Sync().SaveSyncPosition(work, string(s.acct.UserID()), resp.NextBatch, s.pub.key()); err != nil {
				err = fmt.Errorf("failed to save sync position: %w", err)
			}
		}
		if err == nil {
			if failed {
				s.acct.Log().Info("the database works again: events are handed over and the sync position saved")
				s.acct.SetStatus(model.StateSyncing, "")
			}
			return true
		}
		if ctx.Err() != nil {
			// Stopped while waiting for a OneBot client (or for the database): remember what this
			// batch already handed over, so that the next run, which gets the same batch again,
			// repeats none of it.
			s.pub.savePartial(work, b)
			return false
		}
		failed = true
		reason := "failed to hand over events, retrying with backoff: " + err.Error()
		if storage.IsDBError(err) {
			reason = s.acct.DB.Problem(err)
		}
		wait := retry.Next()
		s.acct.SetStatus(model.StateBackoff, reason)
		step := "hand over the batch's events"
		if handed {
			step = "save the sync position (the batch's events were handed over)"
		}
		s.acct.Log().Error(reason, "failed_to", step, "error", err, "retry_in", wait.Round(time.Millisecond))
		if !account.Sleep(ctx, wait) {
			s.pub.savePartial(work, b)
			return false
		}
	}
}

// loadProfile reads the bot's global display name.
func (s *syncer) loadProfile(ctx context.Context) {
	resp, err := s.acct.Client().GetOwnDisplayName(ctx)
	if err != nil {
		s.acct.Log().Debug("failed to load own display name", "error", err)
		return
	}
	s.acct.SetDisplayName(resp.DisplayName)
}
