package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/rooms"
	"github.com/matrix-onebot/gateway/internal/matrix/syncapi"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Matrix events other than new messages, turned into model events: membership, redactions,
// reactions, edits, typing, receipts and invites.

// eventFlags are the options that choose which events are handed over.
type eventFlags struct {
	handleSelf bool      // GATEWAY handle_self_message: the bot's own events too
	handleOld  bool      // events from before the gateway started, on a bot's first sync
	typing     bool      // m.typing → matrix.typing events (opt-in)
	receipts   bool      // m.receipt → matrix.receipt events (opt-in)
	started    time.Time // when the gateway started
}

// old tells whether an event at ts predates the gateway on a bot's first sync, when old events
// are dropped.
func (f eventFlags) old(b *batch, ts time.Time) bool {
	return b.first && !f.handleOld && ts.Before(f.started)
}

// eventHandler turns the room events of a batch into model events and hands them over: messages
// (converted by the messenger), membership, redactions, reactions, edits, typing, receipts.
type eventHandler struct {
	acct   *account.Account
	direct *rooms.Direct
	state  *rooms.State
	index  *rooms.Index
	out    *messenger
	pub    *publisher
	flags  eventFlags
}

// dropped tells whether evt is left out before it is looked at: the bot's own (unless
// handle_self_message), or old on a first sync.
func (s *eventHandler) dropped(b *batch, evt *event.Event) bool {
	return evt.Sender == s.acct.UserID() && !s.flags.handleSelf || s.isOld(b, evt)
}

// isOld tells whether evt predates the gateway on a bot's first sync, when old events are dropped.
func (s *eventHandler) isOld(b *batch, evt *event.Event) bool {
	return s.flags.old(b, time.UnixMilli(evt.Timestamp))
}

func (s *eventHandler) newEvent(evt *event.Event, kind model.Kind) *model.Event {
	return &model.Event{ID: string(evt.ID), Time: time.UnixMilli(evt.Timestamp), Self: s.acct.UserID(), Kind: kind,
		Decrypted: evt.Mautrix.WasEncrypted}
}

// handleTimelineEvent hands over evt; indexed tells that a message is in the message index
// already (rooms.Index.PutRoom did a batch's messages together).
func (s *eventHandler) handleTimelineEvent(ctx context.Context, b *batch, evt *event.Event, indexed bool) error {
	switch evt.Type {
	case event.EventMessage:
		return s.handleMessage(ctx, b, evt, indexed)
	case event.StateMember: // events.go
		return s.handleMember(b, evt)
	case event.EventRedaction:
		return s.handleRedaction(ctx, b, evt)
	case event.EventReaction:
		return s.handleReaction(ctx, b, evt)
	case event.EventEncrypted: // only from held events that failed again; see handleEncrypted
		s.acct.Log().Debug("encrypted event left encrypted", "room_id", evt.RoomID, "event_id", evt.ID)
	}
	return nil
}

func (s *eventHandler) handleMessage(ctx context.Context, b *batch, evt *event.Event, indexed bool) error {
	content, ok := evt.Content.Parsed.(*event.MessageEventContent)
	if !ok {
		return nil
	}
	if !indexed {
		s.index.Put(ctx, evt)
	}
	if content.RelatesTo != nil && content.RelatesTo.Type == event.RelReplace {
		return s.handleEdit(ctx, b, evt, content) // events.go; an edit is not a new message
	}
	if evt.Sender == s.acct.UserID() && !s.flags.handleSelf {
		return nil
	}
	ts := time.UnixMilli(evt.Timestamp)
	if s.flags.old(b, ts) {
		return nil
	}
	if b.done[string(evt.ID)] {
		return nil // handed over already (a batch retried or resumed): publish would skip it, convert nothing
	}
	segs, plain := s.out.incomingSegments(ctx, evt.RoomID, content)
	msg := &model.Message{
		EventID: evt.ID, RoomID: evt.RoomID, Sender: evt.Sender, SenderName: s.state.MemberName(ctx, evt.RoomID, evt.Sender),
		SenderRole: s.state.MemberRole(ctx, evt.RoomID, evt.Sender), Direct: s.direct.IsDirect(evt.RoomID), MsgType: string(content.MsgType), Segments: segs, Plain: plain,
	}
	return s.pub.publish(b, &model.Event{ID: string(evt.ID), Time: ts, Self: s.acct.UserID(), Kind: model.KindMessage, Message: msg,
		Decrypted: evt.Mautrix.WasEncrypted})
}

// memberChange classifies an m.room.member event; nil when no one joined or left (an invite, a
// profile change, a knock).
func memberChange(evt *event.Event) *model.MemberChange {
	content, ok := evt.Content.Parsed.(*event.MemberEventContent)
	if !ok || evt.StateKey == nil {
		return nil
	}
	prev := syncapi.PrevMembership(evt)
	if prev == "" {
		prev = event.MembershipLeave
	}
	target := id.UserID(*evt.StateKey)
	mc := &model.MemberChange{EventID: evt.ID, RoomID: evt.RoomID, UserID: target, Operator: evt.Sender}
	switch content.Membership {
	case event.MembershipJoin:
		switch prev {
		case event.MembershipJoin:
			return nil // a profile change
		case event.MembershipInvite:
			mc.Change = model.MemberInvite
			if evt.Unsigned.PrevSender != "" {
				mc.Operator = evt.Unsigned.PrevSender // who invited them
			}
		default:
			mc.Change = model.MemberJoin
		}
	case event.MembershipLeave, event.MembershipBan:
		if prev != event.MembershipJoin {
			return nil // a rejected or withdrawn invite, a ban of a non-member, an unban
		}
		switch {
		case content.Membership == event.MembershipBan:
			mc.Change = model.MemberBan
		case evt.Sender == target:
			mc.Change = model.MemberLeave
		default:
			mc.Change = model.MemberKick
		}
	default:
		return nil
	}
	return mc
}

func (s *eventHandler) handleMember(b *batch, evt *event.Event) error {
	mc := memberChange(evt)
	if mc == nil || s.isOld(b, evt) {
		return nil
	}
	mc.Direct = s.direct.IsDirect(evt.RoomID)
	if mc.Direct && mc.UserID == s.acct.UserID() {
		return nil // the bot itself in a direct room: the friend is the other party
	}
	ev := s.newEvent(evt, model.KindMember)
	ev.Member = mc
	return s.pub.publish(b, ev)
}

// redactedID is the event a redaction removes: content.redacts (room v11+) or the top-level key.
func redactedID(evt *event.Event) id.EventID {
	if c, ok := evt.Content.Parsed.(*event.RedactionEventContent); ok && c.Redacts != "" {
		return c.Redacts
	}
	return evt.Redacts
}

// handleRedaction marks the message redacted in the index and tells clients it was deleted.
// Redactions of events the gateway never saw as messages (reactions, state, unknown) are not
// events.
func (s *eventHandler) handleRedaction(ctx context.Context, b *batch, evt *event.Event) error {
	target := redactedID(evt)
	if target == "" {
		return nil
	}
	orig, err := s.acct.DB.Messages().GetMessage(ctx, string(s.acct.UserID()), string(target))
	if errors.Is(err, storage.ErrNotFound) {
		s.acct.Log().Debug("redaction of an event the gateway did not index", "room_id", evt.RoomID, "redacts", target)
		return nil
	} else if err != nil {
		s.acct.Log().Warn("failed to look up a redacted message", "redacts", target, "error", err)
		return nil
	}
	if id.RoomID(orig.RoomID) != evt.RoomID { // a redaction applies only within its own room
		s.acct.Log().Info("redaction ignored: the redacted event is in another room", "room_id", evt.RoomID, "redacts", target)
		return nil
	}
	if err := s.acct.DB.Messages().MarkRedacted(ctx, string(s.acct.UserID()), string(target)); err != nil {
		s.acct.Log().Warn("failed to mark message redacted", "event_id", target, "error", err)
	}
	if s.isOld(b, evt) || (evt.Sender == s.acct.UserID() && !s.flags.handleSelf) {
		return nil
	}
	reason := ""
	if c, ok := evt.Content.Parsed.(*event.RedactionEventContent); ok {
		reason = c.Reason
	}
	ev := s.newEvent(evt, model.KindDelete)
	ev.Delete = &model.Deletion{
		EventID: evt.ID, RoomID: evt.RoomID, MessageID: target, Sender: id.UserID(orig.Sender),
		Operator: evt.Sender, Reason: reason, Direct: s.direct.IsDirect(evt.RoomID),
	}
	return s.pub.publish(b, ev)
}

func (s *eventHandler) handleReaction(ctx context.Context, b *batch, evt *event.Event) error {
	c, ok := evt.Content.Parsed.(*event.ReactionEventContent)
	if !ok || c.RelatesTo.Type != event.RelAnnotation || c.RelatesTo.EventID == "" {
		return nil
	}
	if s.isOld(b, evt) || (evt.Sender == s.acct.UserID() && !s.flags.handleSelf) {
		return nil
	}
	targetSender, elsewhere := s.index.In(ctx, evt.RoomID, c.RelatesTo.EventID)
	if elsewhere {
		s.acct.Log().Info("reaction dropped: the event it reacts to is in another room", "room_id", evt.RoomID, "event_id", evt.ID)
		return nil
	}
	ev := s.newEvent(evt, model.KindReaction)
	ev.Reaction = &model.Reaction{
		EventID: evt.ID, RoomID: evt.RoomID, Sender: evt.Sender, Target: c.RelatesTo.EventID,
		TargetSender: targetSender, Key: c.RelatesTo.Key, Direct: s.direct.IsDirect(evt.RoomID),
	}
	return s.pub.publish(b, ev)
}

// editOf turns an m.replace edit into a model.Edit. origSender is the sender of the edited
// message from the message index ("" when the gateway never saw it). An edit by anyone else
// than the original sender is a spoof (the homeserver does not check this), and an edit of an
// unknown message cannot be checked: both are refused with a reason. self is the bot.
func editOf(evt *event.Event, content *event.MessageEventContent, origSender id.UserID, self recipient) (*model.Edit, string) {
	target := content.RelatesTo.EventID
	switch {
	case origSender == "":
		return nil, "the edited message is unknown, so its sender cannot be checked"
	case origSender != evt.Sender:
		return nil, "spoofed: the edit's sender is not the sender of the edited message"
	}
	nc := content.NewContent
	if nc == nil { // no m.new_content: take the fallback body without its "* " mark
		nc = &event.MessageEventContent{MsgType: content.MsgType, Body: content.Body}
		if len(nc.Body) > 2 && nc.Body[:2] == "* " {
			nc.Body = nc.Body[2:]
		}
	}
	segs, plain := messageSegments(nc, nil, self) // m.new_content carries no reply of its own
	return &model.Edit{
		EventID: evt.ID, RoomID: evt.RoomID, Sender: evt.Sender, Target: target,
		MsgType: string(nc.MsgType), Segments: segs, Plain: plain,
	}, ""
}

func (s *eventHandler) handleEdit(ctx context.Context, b *batch, evt *event.Event, content *event.MessageEventContent) error {
	if s.isOld(b, evt) || (evt.Sender == s.acct.UserID() && !s.flags.handleSelf) {
		return nil
	}
	origSender, elsewhere := s.index.In(ctx, evt.RoomID, content.RelatesTo.EventID)
	edit, why := editOf(evt, content, origSender, s.out.recipient(ctx, evt.RoomID))
	if elsewhere {
		edit, why = nil, "the edited message is in another room"
	}
	if edit == nil {
		s.acct.Log().Warn("edit dropped", "room_id", evt.RoomID, "event_id", evt.ID, "sender", evt.Sender, "edits", content.RelatesTo.EventID, "reason", why)
		return nil
	}
	edit.Direct = s.direct.IsDirect(evt.RoomID)
	ev := s.newEvent(evt, model.KindEdit)
	ev.Edit = edit
	return s.pub.publish(b, ev)
}

// handleEphemeral turns m.typing and m.receipt into events when the bot opted in.
func (s *eventHandler) handleEphemeral(ctx context.Context, b *batch, roomID id.RoomID, raws []json.RawMessage) error {
	if !s.flags.typing && !s.flags.receipts {
		return nil
	}
	for _, raw := range raws {
		var evt struct {
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(raw, &evt); err != nil {
			s.acct.Log().Warn("skipping malformed ephemeral event", "room_id", roomID, "error", err)
			continue
		}
		var evs []*model.Event
		switch {
		case evt.Type == event.EphemeralEventTyping.Type && s.flags.typing:
			evs = s.typingEvents(b, roomID, evt.Content)
		case evt.Type == event.EphemeralEventReceipt.Type && s.flags.receipts:
			evs = s.receiptEvents(b, roomID, evt.Content)
		}
		for _, ev := range evs {
			if err := s.pub.publish(b, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// typingEvents: the typing list is sent whole whenever it changes; the bot is left out.
func (s *eventHandler) typingEvents(b *batch, roomID id.RoomID, raw json.RawMessage) []*model.Event {
	var c event.TypingEventContent
	if err := json.Unmarshal(raw, &c); err != nil {
		s.acct.Log().Warn("skipping malformed typing event", "room_id", roomID, "error", err)
		return nil
	}
	users := slices.DeleteFunc(slices.Clone(c.UserIDs), func(u id.UserID) bool { return u == s.acct.UserID() })
	slices.Sort(users)
	if users == nil {
		users = []id.UserID{}
	}
	return []*model.Event{{
		ID: "typing:" + string(roomID) + ":" + b.since, Time: time.Now(), Self: s.acct.UserID(), Kind: model.KindTyping,
		Typing: &model.Typing{RoomID: roomID, UserIDs: users, Direct: s.direct.IsDirect(roomID)},
	}}
}

// receiptEvents: one event per user and receipt type; the bot's own receipts are left out.
func (s *eventHandler) receiptEvents(_ *batch, roomID id.RoomID, raw json.RawMessage) []*model.Event {
	var c event.ReceiptEventContent
	if err := json.Unmarshal(raw, &c); err != nil {
		s.acct.Log().Warn("skipping malformed receipt event", "room_id", roomID, "error", err)
		return nil
	}
	var out []*model.Event
	for _, evtID := range slices.Sorted(maps.Keys(c)) {
		for _, rt := range slices.Sorted(maps.Keys(c[evtID])) {
			if rt != event.ReceiptTypeRead && rt != event.ReceiptTypeReadPrivate {
				continue
			}
			users := c[evtID][rt]
			for _, u := range slices.Sorted(maps.Keys(users)) {
				if u == s.acct.UserID() {
					continue
				}
				ts := users[u].Timestamp
				if ts.IsZero() {
					ts = time.Now()
				}
				out = append(out, &model.Event{
					ID:   "receipt:" + string(roomID) + ":" + string(u) + ":" + string(evtID) + ":" + string(rt),
					Time: ts, Self: s.acct.UserID(), Kind: model.KindReceipt,
					Receipt: &model.Receipt{RoomID: roomID, EventID: evtID, UserID: u, Type: string(rt), Direct: s.direct.IsDirect(roomID)},
				})
			}
		}
	}
	return out
}
