package matrix

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/crypt"
	"github.com/matrix-onebot/gateway/internal/matrix/rooms"
	"github.com/matrix-onebot/gateway/internal/matrix/syncapi"
	"github.com/matrix-onebot/gateway/internal/model"
)

// batchReader reads one sync response: account data, each room's state and timeline (a gap in
// a limited timeline filled in from /messages) and invites, in a fixed order; the events it
// hands to eventHandler (decryptor for encrypted ones), the invites to the clients.
type batchReader struct {
	acct    *account.Account
	api     *syncapi.Client
	device  *crypt.Device
	policy  *crypt.Policy
	direct  *rooms.Direct
	state   *rooms.State // what it read is forgotten at each state event
	invites *rooms.Invites
	index   *rooms.Index
	pub     *publisher
	events  *eventHandler
	decrypt *decryptor
	plain   *plaintextGuard // plaintext.go
}

// process hands every event of one sync response to the sink, rooms in a fixed order and
// events in timeline order. It fails only when b.wait ends while an event waits for a client.
// Each room is read first (its state, a gap filled in, its timeline parsed), then the senders
// its messages reply to are looked up together for the whole batch, then the rooms' events are
// handed over.
func (s *batchReader) process(ctx context.Context, b *batch, resp *syncapi.Response) error {
	for _, raw := range resp.AccountData.Events {
		if evt := syncapi.ParseEvent(s.acct.Log(), raw, ""); evt != nil {
			s.direct.HandleAccountData(evt)
		}
	}
	var ready []*roomBatch
	var replies []rooms.Ref
	for _, rs := range []map[id.RoomID]*syncapi.JoinedRoom{resp.Rooms.Join, resp.Rooms.Leave} {
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
			if evt := syncapi.ParseEvent(s.acct.Log(), raw, roomID); evt != nil {
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
func (s *batchReader) readRoom(ctx context.Context, b *batch, roomID id.RoomID, room *syncapi.JoinedRoom) *roomBatch {
	for _, raw := range room.State.Events {
		if evt := syncapi.ParseEvent(s.acct.Log(), raw, roomID); evt != nil {
			s.updateState(ctx, evt)
		}
	}
	timeline := room.Timeline.Events
	evts := make([]*event.Event, len(timeline))
	for i, raw := range timeline {
		evts[i] = syncapi.ParseEvent(s.acct.Log(), raw, roomID)
	}
	// In a room the bot joined in this batch, the timeline before its join is history the bot was
	// not there for: it updates the state but is not handed over, and there is no gap to fill.
	joinedAt := s.api.OwnJoinIndex(evts)
	if joinedAt < 0 && room.Timeline.Limited && b.since != "" && room.Timeline.PrevBatch != "" {
		if gap := s.api.FillGap(ctx, roomID, room.Timeline.PrevBatch, b.since, timeline); len(gap) > 0 {
			gapEvts := make([]*event.Event, len(gap), len(gap)+len(evts))
			for i, raw := range gap {
				gapEvts[i] = syncapi.ParseEvent(s.acct.Log(), raw, roomID)
			}
			timeline, evts = append(gap, timeline...), append(gapEvts, evts...)
		}
	}
	return &roomBatch{id: roomID, ephemeral: room.Ephemeral.Events, timeline: timeline, evts: evts, joinedAt: joinedAt}
}

// handOverRoom hands a read room's timeline and ephemeral events over. The messages to be
// handed over go into the message index first, together: one transaction for the room's
// timeline instead of one per message, and a client that gets one can look it up at once.
func (s *batchReader) handOverRoom(ctx context.Context, b *batch, rb *roomBatch) error {
	s.index.PutRoom(ctx, rb.id, rb.evts[max(rb.joinedAt, 0):])
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
		} else if s.plain.drop(ctx, evt) {
			continue
		} else {
			err = s.events.handleTimelineEvent(ctx, b, evt, true)
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

func (s *batchReader) updateState(ctx context.Context, evt *event.Event) {
	if s.acct.StateStore != nil {
		account.UpdateState(ctx, s.acct.StateStore, evt) // counts a write of encryption state
		s.state.Invalidate(evt.RoomID)
	}
	if m := s.device.Machine(); m != nil {
		m.HandleState(ctx, evt) // a member left: the room's next message uses a new key
	}
	if evt.Type == event.StateMember && evt.GetStateKey() == string(s.acct.UserID()) {
		s.policy.Forget(evt.RoomID) // the bot left, or came back: the room may be encrypted now
		s.plain.forget(evt.RoomID)
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
