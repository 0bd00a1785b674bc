package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/backoff"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// syncResponse is /sync with every event kept raw, so that one malformed event is skipped
// instead of failing the whole batch.
type syncResponse struct {
	raw         []byte    // the whole body, for end-to-end encryption
	NextBatch   string    `json:"next_batch"`
	AccountData rawEvents `json:"account_data"`
	Rooms       struct {
		Join   map[id.RoomID]*joinedRoom `json:"join"`
		Invite map[id.RoomID]*struct {
			InviteState rawEvents `json:"invite_state"`
		} `json:"invite"`
		Leave map[id.RoomID]*joinedRoom `json:"leave"`
	} `json:"rooms"`
}

type rawEvents struct {
	Events []json.RawMessage `json:"events"`
}

type joinedRoom struct {
	State     rawEvents `json:"state"`
	Ephemeral rawEvents `json:"ephemeral"` // typing and receipts (events.go)
	Timeline  struct {
		Events    []json.RawMessage `json:"events"`
		Limited   bool              `json:"limited"`
		PrevBatch string            `json:"prev_batch"`
	} `json:"timeline"`
}

const (
	// maxGapEvents bounds how far back a limited timeline is filled in from /messages.
	maxGapEvents = 1000
	gapPageSize  = 100
)

// Serve runs the bot until ctx ends: Run, started again with backoff after any failure that is
// not ErrFatal, the bot's status (readyz, get_status) and the log saying why meanwhile. It
// returns the ErrFatal error (the status says what to change), or nil once ctx has ended.
func (s *Session) Serve(ctx context.Context) error {
	defer s.startMuteLifter(ctx)() // mute.go: lifts timed mutes when they are due
	retry := backoff.New(s.opts.RetryInterval, maxBackoff)
	for {
		started := time.Now()
		err := s.runRecovered(ctx) // panics.go
		if ctx.Err() != nil {
			return nil
		}
		if err == nil { // Run returns nil only when ctx ends; never spin
			err = errors.New("the sync loop ended unexpectedly")
		}
		if errors.Is(err, ErrFatal) {
			if st := s.Status(); st.State != model.StateStopped {
				s.setStatus(model.StateStopped, err.Error())
			}
			s.log.Error("bot stopped: the operator must act", "reason", err)
			return err
		}
		if time.Since(started) > maxBackoff {
			retry.Reset() // it ran for a while: this is a new failure, not the same one again
		}
		wait := retry.Next()
		s.Failed(err, wait)
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

// Failed shows that the bot could not start or stopped on err and is retried in retryIn: its
// status (readyz, get_status) gives the reason, and the log says it with what to do.
func (s *Session) Failed(err error, retryIn time.Duration) {
	reason := "failed, retrying with backoff: " + err.Error()
	if storage.IsDBError(err) {
		reason = s.opts.DB.Problem(err)
	}
	s.setStatus(model.StateBackoff, reason)
	s.log.Error("bot failed; retrying", "reason", reason, "error", err, "retry_in", retryIn.Round(time.Millisecond))
}

// Run syncs until ctx ends. It returns nil on a clean stop and an error when the bot cannot go
// on: ErrFatal when only the operator can help, anything else may work when tried again (Serve).
func (s *Session) Run(ctx context.Context) error {
	started := func() {} // gives the start slot back: after the first batch, or a failure
	if s.opts.StartGate != nil {
		release, err := s.opts.StartGate.Acquire(ctx)
		if err != nil {
			return nil // ctx ended while waiting for a slot
		}
		started = release
		defer release()
	}
	if !s.loggedIn.Load() {
		if err := s.Login(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	if err := s.initCrypto(ctx); err != nil { // e2ee.go
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer func() {
		if ctx.Err() != nil { // a failure keeps its own status (Serve shows it and retries)
			s.setStatus(model.StateStopped, "gateway stopping")
		}
	}()
	s.loadProfile(ctx)
	s.loadDirect(ctx)
	filterID := s.filterID(ctx)

	since, err := s.opts.DB.SyncToken(ctx, string(s.UserID()))
	if err != nil {
		return fmt.Errorf("failed to load sync position: %w", err)
	}
	firstSync := since == ""
	done, replay := s.loadPartial(ctx, since)
	retry := backoff.New(s.opts.RetryInterval, maxBackoff)
	// The first sync of a run (a start, a restart, a retry) catches up with timeout 0: the
	// homeserver answers at once even when the rooms are quiet, so that the bot is syncing
	// (/readyz ready, get_status good) within a round trip, not after a whole long poll.
	catchUp := true
	for ctx.Err() == nil {
		timeout := s.opts.SyncTimeout
		if catchUp {
			timeout = 0 // answer at once: a fresh bot's first sync only sets the position
		}
		timeout = s.capSyncTimeout(ctx, timeout) // e2ee.go: held events due sooner
		resp, err := s.syncOnce(ctx, since, filterID, timeout)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			started() // no slot is held while waiting to try again
			if !sleep(ctx, s.failureWait(err, retry)) {
				return nil
			}
			continue
		}
		retry.Reset()
		s.setStatus(model.StateSyncing, "")
		b := &batch{wait: ctx, since: since, first: firstSync, done: done, replay: replay}
		if s.crypto != nil { // room keys and device lists first, so this batch's events decrypt
			s.crypto.ProcessSync(context.WithoutCancel(ctx), resp.raw, since)
		}
		if !s.handOver(ctx, b, resp) {
			return nil // stopped
		}
		started()
		since, firstSync, catchUp, done, replay = resp.NextBatch, false, false, nil, false
	}
	return nil
}

// storageRetryMax caps the wait between two tries of a batch whose database writes failed, so
// that the bot resumes soon after space returns.
const storageRetryMax = 10 * time.Second

// handOver hands the batch's events over and then saves the sync position, so that the position
// never moves past an event that was not durably handed over (Hub.Publish writes the outboxes
// before any connection gets the event). A failed write (the disk of the database is full, …)
// is retried with backoff, the bot's status and the log saying why, until it succeeds: an event
// already handed over is not handed over again (b.done), so the retry neither loses nor repeats
// one. It reports false when ctx ended first (the batch is fetched again by the next run).
func (s *Session) handOver(ctx context.Context, b *batch, resp *syncResponse) bool {
	work := context.WithoutCancel(ctx)
	retry := backoff.New(s.opts.RetryInterval, storageRetryMax)
	handed, failed := false, false
	for {
		var err error
		if !handed {
			err = s.processBatch(work, b, resp)
			if err == nil {
				err = s.deliverHeld(work, b) // e2ee.go: events whose key came
			}
			handed = err == nil
		}
		if handed {
			if err = s.opts.DB.SaveSyncPosition(work, string(s.UserID()), resp.NextBatch, s.partialKey()); err != nil {
				err = fmt.Errorf("failed to save sync position: %w", err)
			}
		}
		if err == nil {
			if failed {
				s.log.Info("the database works again: events are handed over and the sync position saved")
				s.setStatus(model.StateSyncing, "")
			}
			return true
		}
		if ctx.Err() != nil {
			// Stopped while waiting for a OneBot client (or for the database): remember what this
			// batch already handed over, so that the next run, which gets the same batch again,
			// repeats none of it.
			s.savePartial(work, b)
			return false
		}
		failed = true
		reason := "failed to hand over events, retrying with backoff: " + err.Error()
		if storage.IsDBError(err) {
			reason = s.opts.DB.Problem(err)
		}
		wait := retry.Next()
		s.setStatus(model.StateBackoff, reason)
		step := "hand over the batch's events"
		if handed {
			step = "save the sync position (the batch's events were handed over)"
		}
		s.log.Error(reason, "failed_to", step, "error", err, "retry_in", wait.Round(time.Millisecond))
		if !sleep(ctx, wait) {
			s.savePartial(work, b)
			return false
		}
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
}

// publish hands one event to the gateway, at most once per batch across restarts.
func (s *Session) publish(b *batch, ev *model.Event) error {
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
	if err := s.opts.Sink.Publish(b.wait, ev); err != nil {
		return err
	}
	if b.done == nil {
		b.done = map[string]bool{}
	}
	b.done[ev.ID] = true
	return nil
}

func (s *Session) syncOnce(ctx context.Context, since, filterID string, timeout time.Duration) (*syncResponse, error) {
	q := map[string]string{"timeout": strconv.FormatInt(timeout.Milliseconds(), 10)}
	if since != "" {
		q["since"] = since
	}
	if filterID != "" {
		q["filter"] = filterID
	}
	if p := s.opts.Bot.SetPresence; p != "" {
		q["set_presence"] = p
	}
	var resp syncResponse
	body, err := s.client.MakeFullRequest(ctx, mautrix.FullRequest{
		Method:      http.MethodGet,
		URL:         s.client.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "sync"}, q),
		MaxAttempts: 1,
		Client:      s.syncHTTP,
	})
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("failed to decode /sync: %w", err)
	}
	resp.raw = body // the encryption part is decoded again by e2ee
	if resp.NextBatch == "" {
		return nil, errors.New("sync response without next_batch")
	}
	return &resp, nil
}

// filterID returns the filter to sync with: sync_filter as an ID, or the inline JSON uploaded
// once (the returned ID is kept in the database under the filter's content).
func (s *Session) filterID(ctx context.Context) string {
	if fid, ok := s.opts.Bot.SyncFilterID(); ok {
		return fid
	}
	raw, ok := s.opts.Bot.SyncFilterJSON()
	if !ok {
		return ""
	}
	key := "filter:" + string(s.UserID()) + ":" + string(raw)
	if fid, err := s.opts.DB.GetValue(ctx, key); err == nil {
		return fid
	}
	var f mautrix.Filter
	if err := json.Unmarshal(raw, &f); err != nil {
		s.log.Error("sync_filter is not a valid filter; syncing without it", "error", err)
		return ""
	}
	resp, err := s.client.CreateFilter(ctx, &f)
	if err != nil {
		// Inline JSON also works as the filter parameter of /sync.
		s.log.Warn("failed to upload sync_filter; passing it inline", "error", err)
		return string(raw)
	}
	if err := s.opts.DB.SetValue(ctx, key, resp.FilterID); err != nil {
		s.log.Warn("failed to remember the filter id", "error", err)
	}
	return resp.FilterID
}

// processBatch hands every event of one sync response to the sink, rooms in a fixed order and
// events in timeline order. It fails only when b.wait ends while an event waits for a client.
func (s *Session) processBatch(ctx context.Context, b *batch, resp *syncResponse) error {
	for _, raw := range resp.AccountData.Events {
		if evt := s.parseEvent(raw, ""); evt != nil {
			s.handleAccountData(ctx, evt)
		}
	}
	for _, rooms := range []map[id.RoomID]*joinedRoom{resp.Rooms.Join, resp.Rooms.Leave} {
		for _, roomID := range slices.Sorted(maps.Keys(rooms)) {
			if err := s.handleRoom(ctx, b, roomID, rooms[roomID]); err != nil {
				return err
			}
		}
	}
	for _, roomID := range slices.Sorted(maps.Keys(resp.Rooms.Invite)) {
		inv := resp.Rooms.Invite[roomID]
		var evts []*event.Event
		for _, raw := range inv.InviteState.Events {
			if evt := s.parseEvent(raw, roomID); evt != nil {
				evts = append(evts, evt)
			}
		}
		if err := s.handleInvite(ctx, b, roomID, evts); err != nil {
			return err
		}
	}
	return nil
}

func (s *Session) handleRoom(ctx context.Context, b *batch, roomID id.RoomID, room *joinedRoom) error {
	for _, raw := range room.State.Events {
		if evt := s.parseEvent(raw, roomID); evt != nil {
			s.updateState(ctx, evt)
		}
	}
	timeline := room.Timeline.Events
	// In a room the bot joined in this batch, the timeline before its join is history the bot was
	// not there for: it updates the state but is not handed over, and there is no gap to fill.
	joinedAt := s.ownJoinIndex(timeline)
	if joinedAt < 0 && room.Timeline.Limited && b.since != "" && room.Timeline.PrevBatch != "" {
		timeline = append(s.fillGap(ctx, roomID, room.Timeline.PrevBatch, b.since, timeline), timeline...)
	}
	for i, raw := range timeline {
		evt := s.parseEvent(raw, roomID)
		if evt == nil {
			continue
		}
		if evt.StateKey != nil {
			s.updateState(ctx, evt)
		}
		if i < joinedAt {
			continue
		}
		var err error
		if evt.Type == event.EventEncrypted {
			err = s.handleEncrypted(ctx, b, evt, raw) // e2ee.go
		} else {
			err = s.handleTimelineEvent(ctx, b, evt)
		}
		if err != nil {
			return err
		}
	}
	return s.handleEphemeral(ctx, b, roomID, room.Ephemeral.Events)
}

// ownJoinIndex returns the position of the bot's own join in timeline (a membership change to
// join, not a profile change), or -1.
func (s *Session) ownJoinIndex(timeline []json.RawMessage) int {
	me := string(s.UserID())
	for i, raw := range timeline {
		var probe struct {
			Type     string  `json:"type"`
			StateKey *string `json:"state_key"`
			Content  struct {
				Membership string `json:"membership"`
			} `json:"content"`
			Unsigned struct {
				PrevContent struct {
					Membership string `json:"membership"`
				} `json:"prev_content"`
			} `json:"unsigned"`
		}
		if json.Unmarshal(raw, &probe) != nil || probe.Type != event.StateMember.Type || probe.StateKey == nil || *probe.StateKey != me {
			continue
		}
		if probe.Content.Membership == "join" && probe.Unsigned.PrevContent.Membership != "join" {
			return i
		}
	}
	return -1
}

// fillGap fetches the events a limited timeline left out, from prevBatch back to since, so that
// none is skipped. It returns them oldest first, without those already in timeline.
func (s *Session) fillGap(ctx context.Context, roomID id.RoomID, prevBatch, since string, timeline []json.RawMessage) []json.RawMessage {
	seen := map[string]bool{}
	for _, raw := range timeline {
		var probe struct {
			ID string `json:"event_id"`
		}
		if json.Unmarshal(raw, &probe) == nil {
			seen[probe.ID] = true
		}
	}
	// The newest event at or before since is where the gap ends. `to` should stop the paging
	// there, but Dendrite (v0.13.8) pages past a sync token given as `to`, back to the room's
	// creation, which would deliver old events again: stop at this event too.
	boundary := s.eventBefore(ctx, roomID, since)
	var back []json.RawMessage // newest first
	from := prevBatch
paging:
	for len(back) < maxGapEvents {
		var page struct {
			Chunk []json.RawMessage `json:"chunk"`
			End   string            `json:"end"`
		}
		_, err := s.client.MakeFullRequest(ctx, mautrix.FullRequest{
			Method: http.MethodGet,
			URL: s.client.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "rooms", roomID, "messages"},
				map[string]string{"from": from, "to": since, "dir": "b", "limit": strconv.Itoa(gapPageSize)}),
			ResponseJSON: &page,
			MaxAttempts:  3,
		})
		if err != nil {
			s.log.Error("failed to fill a gap in the timeline; some events may be missing", "room_id", roomID, "error", err)
			break
		}
		for _, raw := range page.Chunk {
			var probe struct {
				ID string `json:"event_id"`
			}
			if json.Unmarshal(raw, &probe) != nil {
				continue
			}
			if boundary != "" && probe.ID == boundary {
				break paging
			}
			if !seen[probe.ID] {
				seen[probe.ID] = true
				back = append(back, raw)
			}
		}
		if len(page.Chunk) == 0 || page.End == "" || page.End == from {
			break
		}
		from = page.End
	}
	if len(back) >= maxGapEvents {
		s.log.Warn("timeline gap larger than the fill limit; older events skipped", "room_id", roomID, "limit", maxGapEvents)
	}
	out := make([]json.RawMessage, len(back))
	for i, raw := range back {
		out[len(back)-1-i] = raw
	}
	if len(out) > 0 {
		s.log.Info("filled a timeline gap", "room_id", roomID, "events", len(out))
	}
	return out
}

// eventBefore returns the ID of the newest event of the room at or before the sync token since
// ("" if there is none or the homeserver cannot say: the gap is then bounded by `to` alone).
func (s *Session) eventBefore(ctx context.Context, roomID id.RoomID, since string) string {
	var page struct {
		Chunk []struct {
			ID string `json:"event_id"`
		} `json:"chunk"`
	}
	_, err := s.client.MakeFullRequest(ctx, mautrix.FullRequest{
		Method: http.MethodGet,
		URL: s.client.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "rooms", roomID, "messages"},
			map[string]string{"from": since, "dir": "b", "limit": "1"}),
		ResponseJSON: &page,
		MaxAttempts:  3,
	})
	if err != nil || len(page.Chunk) == 0 {
		return ""
	}
	return page.Chunk[0].ID
}

// parseEvent parses one raw event; a malformed one is logged and skipped.
func (s *Session) parseEvent(raw json.RawMessage, roomID id.RoomID) *event.Event {
	var evt event.Event
	if err := json.Unmarshal(raw, &evt); err != nil {
		s.log.Warn("skipping malformed event", "room_id", roomID, "error", err)
		return nil
	}
	if roomID != "" {
		evt.RoomID = roomID
	}
	evt.Type.Class = eventClass(&evt)
	if err := evt.Content.ParseRaw(evt.Type); err != nil && !errors.Is(err, event.ErrContentAlreadyParsed) {
		if !errors.Is(err, event.ErrUnsupportedContentType) {
			s.log.Warn("skipping event with malformed content", "room_id", roomID, "event_id", evt.ID, "type", evt.Type.Type, "error", err)
			return nil
		}
	}
	return &evt
}

func eventClass(evt *event.Event) event.TypeClass {
	switch {
	case evt.StateKey != nil:
		return event.StateEventType
	case evt.RoomID == "" && evt.ID == "":
		return event.AccountDataEventType
	}
	return event.MessageEventType
}

func (s *Session) updateState(ctx context.Context, evt *event.Event) {
	if s.opts.StateStore != nil {
		mautrix.UpdateStateStore(ctx, s.opts.StateStore, evt)
	}
	if s.crypto != nil {
		s.crypto.HandleState(ctx, evt) // a member left: the room's next message uses a new key
	}
	if evt.Type == event.StateMember && evt.GetStateKey() == string(s.UserID()) {
		s.forgetEncryption(evt.RoomID) // the bot left, or came back: the room may be encrypted now (encryption.go)
	}
}

func (s *Session) handleTimelineEvent(ctx context.Context, b *batch, evt *event.Event) error {
	switch evt.Type {
	case event.EventMessage:
		return s.handleMessage(ctx, b, evt)
	case event.StateMember: // events.go
		return s.handleMember(b, evt)
	case event.EventRedaction:
		return s.handleRedaction(ctx, b, evt)
	case event.EventReaction:
		return s.handleReaction(ctx, b, evt)
	case event.EventEncrypted: // only from held events that failed again; see handleEncrypted
		s.log.Debug("encrypted event left encrypted", "room_id", evt.RoomID, "event_id", evt.ID)
	}
	return nil
}

func (s *Session) handleMessage(ctx context.Context, b *batch, evt *event.Event) error {
	content, ok := evt.Content.Parsed.(*event.MessageEventContent)
	if !ok {
		return nil
	}
	s.indexMessage(ctx, evt)
	if content.RelatesTo != nil && content.RelatesTo.Type == event.RelReplace {
		return s.handleEdit(ctx, b, evt, content) // events.go; an edit is not a new message
	}
	if evt.Sender == s.UserID() && !s.opts.HandleSelfMessage {
		return nil
	}
	ts := time.UnixMilli(evt.Timestamp)
	if b.first && !s.opts.HandleOldEvents && ts.Before(s.started) {
		return nil
	}
	if b.done[string(evt.ID)] {
		return nil // handed over already (a batch retried or resumed): publish would skip it, convert nothing
	}
	segs, plain := s.incomingSegments(ctx, evt.RoomID, content)
	msg := &model.Message{
		EventID: evt.ID, RoomID: evt.RoomID, Sender: evt.Sender, SenderName: s.memberName(ctx, evt.RoomID, evt.Sender),
		SenderRole: s.memberRole(ctx, evt.RoomID, evt.Sender), Direct: s.isDirect(evt.RoomID), MsgType: string(content.MsgType), Segments: segs, Plain: plain,
	}
	return s.publish(b, &model.Event{ID: string(evt.ID), Time: ts, Self: s.UserID(), Kind: model.KindMessage, Message: msg})
}
