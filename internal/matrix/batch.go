package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/crypt"
	"github.com/matrix-onebot/gateway/internal/matrix/rooms"
	"github.com/matrix-onebot/gateway/internal/model"
)

// batchReader reads one sync response: account data, each room's state and timeline (a gap in
// a limited timeline filled in from /messages) and invites, in a fixed order; the events it
// hands to eventHandler (decryptor for encrypted ones), the invites to the clients.
type batchReader struct {
	acct    *account.Account
	device  *crypt.Device
	policy  *crypt.Policy
	direct  *rooms.Direct
	invites *rooms.Invites
	index   *rooms.Index
	pub     *publisher
	events  *eventHandler
	decrypt *decryptor
}

// process hands every event of one sync response to the sink, rooms in a fixed order and
// events in timeline order. It fails only when b.wait ends while an event waits for a client.
// Each room is read first (its state, a gap filled in, its timeline parsed), then the senders
// its messages reply to are looked up together for the whole batch, then the rooms' events are
// handed over.
func (s *batchReader) process(ctx context.Context, b *batch, resp *syncResponse) error {
	for _, raw := range resp.AccountData.Events {
		if evt := parseEvent(s.acct.Log(), raw, ""); evt != nil {
			s.direct.HandleAccountData(evt)
		}
	}
	var ready []*roomBatch
	var replies []rooms.Ref
	for _, rs := range []map[id.RoomID]*joinedRoom{resp.Rooms.Join, resp.Rooms.Leave} {
		for _, roomID := range slices.Sorted(maps.Keys(rs)) {
			rb := s.readRoom(ctx, b, roomID, rs[roomID])
			replies = append(replies, s.replyTargets(b, rb)...)
			ready = append(ready, rb)
		}
	}
	if len(replies) > 0 {
		s.index.Prefetch(ctx, replies)
	}
	for _, rb := range ready {
		if err := s.handOverRoom(ctx, b, rb); err != nil {
			return err
		}
	}
	for _, roomID := range slices.Sorted(maps.Keys(resp.Rooms.Invite)) {
		inv := resp.Rooms.Invite[roomID]
		var evts []*event.Event
		for _, raw := range inv.InviteState.Events {
			if evt := parseEvent(s.acct.Log(), raw, roomID); evt != nil {
				evts = append(evts, evt)
			}
		}
		if err := s.handleInvite(ctx, b, roomID, evts); err != nil {
			return err
		}
	}
	return nil
}

// roomBatch is one room of a sync response, read and ready to be handed over.
type roomBatch struct {
	id        id.RoomID
	ephemeral []json.RawMessage
	timeline  []json.RawMessage // with a gap filled in
	evts      []*event.Event    // timeline parsed; nil where malformed
	joinedAt  int               // the bot's own join in timeline, or -1
}

// readRoom applies a room's state section, fills a gap in a limited timeline and parses it.
func (s *batchReader) readRoom(ctx context.Context, b *batch, roomID id.RoomID, room *joinedRoom) *roomBatch {
	for _, raw := range room.State.Events {
		if evt := parseEvent(s.acct.Log(), raw, roomID); evt != nil {
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
	rb := &roomBatch{id: roomID, ephemeral: room.Ephemeral.Events, timeline: timeline, evts: make([]*event.Event, len(timeline)), joinedAt: joinedAt}
	for i, raw := range timeline {
		rb.evts[i] = parseEvent(s.acct.Log(), raw, roomID)
	}
	return rb
}

// handOverRoom hands a read room's timeline and ephemeral events over.
func (s *batchReader) handOverRoom(ctx context.Context, b *batch, rb *roomBatch) error {
	for i, raw := range rb.timeline {
		evt := rb.evts[i]
		if evt == nil {
			continue
		}
		if evt.StateKey != nil {
			s.updateState(ctx, evt)
		}
		if i < rb.joinedAt {
			continue
		}
		var err error
		if evt.Type == event.EventEncrypted {
			err = s.decrypt.handleEncrypted(ctx, b, evt, raw) // e2ee.go
		} else {
			err = s.events.handleTimelineEvent(ctx, b, evt)
		}
		if err != nil {
			return err
		}
	}
	return s.events.handleEphemeral(ctx, b, rb.id, rb.ephemeral)
}

// replyTargets are the events that a room's messages to be handed over reply to, for
// rooms.Index.Prefetch: the messages then convert without a homeserver lookup each. Replies to
// events of the same timeline need none (the index holds them by then).
func (s *batchReader) replyTargets(b *batch, rb *roomBatch) []rooms.Ref {
	var targets []rooms.Ref
	inTimeline := map[id.EventID]bool{}
	for i, evt := range rb.evts {
		if evt == nil {
			continue
		}
		inTimeline[evt.ID] = true
		if i < rb.joinedAt || b.done[string(evt.ID)] || s.events.dropped(b, evt) {
			continue
		}
		var rel *event.RelatesTo
		switch c := evt.Content.Parsed.(type) {
		case *event.MessageEventContent:
			rel = c.RelatesTo
		case *event.EncryptedEventContent: // m.relates_to stays outside the ciphertext
			rel = c.RelatesTo
		}
		if e := rel.GetReplyTo(); e != "" && rel.GetReplaceID() == "" && !inTimeline[e] {
			targets = append(targets, rooms.Ref{Room: rb.id, Event: e})
		}
	}
	return targets
}

// ownJoinIndex returns the position of the bot's own join in timeline (a membership change to
// join, not a profile change), or -1.
func (s *batchReader) ownJoinIndex(timeline []json.RawMessage) int {
	me := string(s.acct.UserID())
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
func (s *batchReader) fillGap(ctx context.Context, roomID id.RoomID, prevBatch, since string, timeline []json.RawMessage) []json.RawMessage {
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
		_, err := s.acct.Client().MakeFullRequest(ctx, mautrix.FullRequest{
			Method: http.MethodGet,
			URL: s.acct.Client().BuildURLWithQuery(mautrix.ClientURLPath{"v3", "rooms", roomID, "messages"},
				map[string]string{"from": from, "to": since, "dir": "b", "limit": strconv.Itoa(gapPageSize)}),
			ResponseJSON: &page,
			MaxAttempts:  3,
		})
		if err != nil {
			s.acct.Log().Error("failed to fill a gap in the timeline; some events may be missing", "room_id", roomID, "error", err)
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
		s.acct.Log().Warn("timeline gap larger than the fill limit; older events skipped", "room_id", roomID, "limit", maxGapEvents)
	}
	out := make([]json.RawMessage, len(back))
	for i, raw := range back {
		out[len(back)-1-i] = raw
	}
	if len(out) > 0 {
		s.acct.Log().Info("filled a timeline gap", "room_id", roomID, "events", len(out))
	}
	return out
}

// eventBefore returns the ID of the newest event of the room at or before the sync token since
// ("" if there is none or the homeserver cannot say: the gap is then bounded by `to` alone).
func (s *batchReader) eventBefore(ctx context.Context, roomID id.RoomID, since string) string {
	var page struct {
		Chunk []struct {
			ID string `json:"event_id"`
		} `json:"chunk"`
	}
	_, err := s.acct.Client().MakeFullRequest(ctx, mautrix.FullRequest{
		Method: http.MethodGet,
		URL: s.acct.Client().BuildURLWithQuery(mautrix.ClientURLPath{"v3", "rooms", roomID, "messages"},
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
func parseEvent(log *slog.Logger, raw json.RawMessage, roomID id.RoomID) *event.Event {
	var evt event.Event
	if err := json.Unmarshal(raw, &evt); err != nil {
		log.Warn("skipping malformed event", "room_id", roomID, "error", err)
		return nil
	}
	if roomID != "" {
		evt.RoomID = roomID
	}
	evt.Type.Class = eventClass(&evt)
	if err := evt.Content.ParseRaw(evt.Type); err != nil && !errors.Is(err, event.ErrContentAlreadyParsed) {
		if !errors.Is(err, event.ErrUnsupportedContentType) {
			log.Warn("skipping event with malformed content", "room_id", roomID, "event_id", evt.ID, "type", evt.Type.Type, "error", err)
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

func (s *batchReader) updateState(ctx context.Context, evt *event.Event) {
	if s.acct.StateStore != nil {
		mautrix.UpdateStateStore(ctx, s.acct.StateStore, evt)
	}
	if m := s.device.Machine(); m != nil {
		m.HandleState(ctx, evt) // a member left: the room's next message uses a new key
	}
	if evt.Type == event.StateMember && evt.GetStateKey() == string(s.acct.UserID()) {
		s.policy.Forget(evt.RoomID) // the bot left, or came back: the room may be encrypted now
	}
}

// handleInvite accepts an invite when the bot's auto-accept settings allow the inviter; otherwise
// it leaves the invite pending and tells the OneBot clients, which may accept or decline it.
func (s *batchReader) handleInvite(ctx context.Context, b *batch, room id.RoomID, state []*event.Event) error {
	var inviter id.UserID
	direct := false
	var ts time.Time
	roomName := ""
	for _, evt := range state {
		if evt.Type == event.StateMember && evt.GetStateKey() == string(s.acct.UserID()) {
			inviter = evt.Sender
			if m, ok := evt.Content.Parsed.(*event.MemberEventContent); ok {
				direct = m.IsDirect
			}
			if evt.Timestamp > 0 {
				ts = time.UnixMilli(evt.Timestamp)
			}
		}
		if evt.Type == event.StateRoomName {
			if n, ok := evt.Content.Parsed.(*event.RoomNameEventContent); ok {
				roomName = n.Name
			}
		}
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	if s.invites.See(room) {
		return nil
	}
	if inviter == "" || !s.acct.Config.MayAutoAccept(inviter) {
		s.acct.Log().Info("invite left pending", "room_id", room, "inviter", inviter)
		return s.publishInvite(b, model.Invite{RoomID: room, Inviter: inviter, RoomName: roomName, Direct: direct}, ts)
	}
	s.policy.Forget(room)
	if _, err := s.acct.Client().JoinRoomByID(ctx, room); err != nil {
		s.acct.Log().Error("failed to accept invite", "room_id", room, "inviter", inviter, "error", err)
		s.invites.Unsee(room)
		return nil
	}
	s.acct.Log().Info("accepted invite", "room_id", room, "inviter", inviter, "direct", direct)
	if direct && inviter != "" {
		if err := s.direct.Add(ctx, inviter, room); err != nil {
			s.acct.Log().Warn("failed to mark room as direct", "room_id", room, "error", err)
		}
	}
	return nil
}

// publishInvite tells clients of an invite the bot did not accept by itself, so that one of
// them can accept or decline it.
func (s *batchReader) publishInvite(b *batch, inv model.Invite, ts time.Time) error {
	s.invites.Leave(inv)
	inv2 := inv
	return s.pub.publish(b, &model.Event{
		ID: "invite:" + string(inv.RoomID) + ":" + string(inv.Inviter), Time: ts, Self: s.acct.UserID(), Kind: model.KindInvite, Invite: &inv2,
	})
}
