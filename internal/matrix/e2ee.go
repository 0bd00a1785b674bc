package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/e2ee"
	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/crypt"
	"github.com/matrix-onebot/gateway/internal/matrix/rooms"
	"github.com/matrix-onebot/gateway/internal/matrix/syncapi"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// MsgTypeUndecryptable is the matrix.msgtype of a message the bot could not decrypt: its key did
// not arrive within GATEWAY_UNDECRYPTABLE_WAIT, or the sender withheld it. The message has one
// text segment saying so; clients can tell it from a real message by this msgtype.
const MsgTypeUndecryptable = "m.bad.encrypted"

// decryptor hands over a bot's encrypted timeline events: decrypted at once, held (in the
// database) until their key arrives, or delivered as undecryptable.
type decryptor struct {
	acct   *account.Account
	device *crypt.Device
	direct *rooms.Direct
	state  *rooms.State
	pub    *publisher
	events *eventHandler
	flags  eventFlags
}

// handleEncrypted decrypts an m.room.encrypted timeline event and hands the result to the normal
// path. An event whose key has not arrived is held (in the database) and handed over later.
func (s *decryptor) handleEncrypted(ctx context.Context, b *batch, evt *event.Event, raw json.RawMessage) error {
	if evt.Sender == s.acct.UserID() && !s.flags.handleSelf {
		return nil
	}
	if s.flags.old(b, time.UnixMilli(evt.Timestamp)) {
		return nil
	}
	crypto := s.device.Machine()
	if crypto == nil {
		return s.publishUndecryptable(ctx, b, evt, "end-to-end encryption is off for this bot")
	}
	dec, err := crypto.Decrypt(ctx, evt)
	if err == nil {
		crypto.CountDecrypted()
		return s.events.handleTimelineEvent(ctx, b, dec, false)
	}
	if !errors.Is(e2ee.Classify(err), e2ee.ErrKeyMissing) {
		s.acct.Log().Warn("cannot decrypt an event", "room_id", evt.RoomID, "event_id", evt.ID, "error", err)
		crypto.CountUndecryptable()
		return s.publishUndecryptable(ctx, b, evt, crypto.UndecryptableReason(ctx, evt, err))
	}
	retry, err := crypto.Hold(ctx, evt, raw)
	if err != nil && storage.IsDBError(err) {
		// The database cannot take it now (disk full, …): the batch is tried again, the
		// position does not move past this event.
		return fmt.Errorf("failed to hold an undecryptable event: %w", err)
	}
	if err != nil {
		s.acct.Log().Error("failed to hold an undecryptable event; delivering it as undecryptable", "event_id", evt.ID, "error", err)
		crypto.CountUndecryptable()
		return s.publishUndecryptable(ctx, b, evt, "the room key has not arrived")
	}
	if retry { // the key backup had it
		if dec, err := crypto.Decrypt(ctx, evt); err == nil {
			if err := s.events.handleTimelineEvent(ctx, b, dec, false); err != nil {
				return err
			}
			if err := s.release(ctx, evt.ID, true); err != nil {
				return err
			}
			s.acct.Log().Info("decrypted an event with its room key from the key backup", "room_id", evt.RoomID, "event_id", evt.ID,
				"e2ee", crypto.Stats())
		}
	}
	return nil
}

// deliverHeld hands over the held events whose key arrived, and those whose wait is over as
// undecryptable. It runs after each sync batch.
func (s *decryptor) deliverHeld(ctx context.Context, b *batch) error {
	crypto := s.device.Machine()
	if crypto == nil {
		return nil
	}
	due, err := crypto.Due(ctx, time.Now())
	if err != nil {
		s.acct.Log().Warn("failed to read held events", "error", err)
		return nil
	}
	for _, h := range due {
		evt := syncapi.ParseEvent(s.acct.Log(), h.Raw, h.RoomID)
		if evt == nil {
			if err := s.release(ctx, h.EventID, false); err != nil {
				return err
			}
			continue
		}
		dec, err := crypto.Decrypt(ctx, evt)
		switch {
		case err == nil:
			if err := s.events.handleTimelineEvent(ctx, b, dec, false); err != nil {
				return err
			}
			if err := s.release(ctx, h.EventID, true); err != nil {
				return err
			}
			s.acct.Log().Info("decrypted a held event", "room_id", h.RoomID, "event_id", h.EventID,
				"held_for", time.Since(h.Since).Round(time.Millisecond), "e2ee", crypto.Stats())
		case h.Expired || !errors.Is(e2ee.Classify(err), e2ee.ErrKeyMissing):
			reason := crypto.UndecryptableReason(ctx, evt, err)
			if err := s.publishUndecryptable(ctx, b, evt, reason); err != nil {
				return err
			}
			if err := s.release(ctx, h.EventID, false); err != nil {
				return err
			}
			s.acct.Log().Warn("delivered an event as undecryptable", "room_id", h.RoomID, "event_id", h.EventID, "reason", reason,
				"error", err, "e2ee", crypto.Stats())
		}
	}
	return nil
}

// release deletes a held event that was handed over (or dropped). A database failure is
// returned, so that the batch is retried (the event, already handed over in it, is not handed
// over again) instead of leaving the row to hand the event over again in a later batch.
func (s *decryptor) release(ctx context.Context, eventID id.EventID, decrypted bool) error {
	err := s.device.Machine().Release(ctx, eventID, decrypted)
	if err != nil && storage.IsDBError(err) {
		return err
	}
	if err != nil {
		s.acct.Log().Warn("failed to release a held event", "event_id", eventID, "error", err)
	}
	return nil
}

// publishUndecryptable hands over a message saying that evt could not be decrypted.
func (s *decryptor) publishUndecryptable(ctx context.Context, b *batch, evt *event.Event, reason string) error {
	text := "[encrypted message that the bot could not decrypt: " + reason + "]"
	msg := &model.Message{
		EventID: evt.ID, RoomID: evt.RoomID, Sender: evt.Sender, SenderName: s.state.MemberName(ctx, evt.RoomID, evt.Sender),
		Direct: s.direct.IsDirect(evt.RoomID), MsgType: MsgTypeUndecryptable, Segments: []model.Segment{model.Text{Text: text}}, Plain: text,
	}
	return s.pub.publish(b, &model.Event{ID: string(evt.ID), Time: time.UnixMilli(evt.Timestamp), Self: s.acct.UserID(), Kind: model.KindMessage, Message: msg})
}
