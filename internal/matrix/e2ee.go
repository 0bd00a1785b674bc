package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/e2ee"
	"github.com/matrix-onebot/gateway/internal/model"
)

// MsgTypeUndecryptable is the matrix.msgtype of a message the bot could not decrypt: its key did
// not arrive within GATEWAY_UNDECRYPTABLE_WAIT, or the sender withheld it. The message has one
// text segment saying so; clients can tell it from a real message by this msgtype.
const MsgTypeUndecryptable = "m.bad.encrypted"

// e2eeEnabled tells whether this bot does end-to-end encryption: on for every bot with a device
// ID unless e2ee is false.
func (s *Session) e2eeEnabled() bool {
	return s.opts.Bot.E2EE && len(s.opts.PickleKey) > 0 && s.client.DeviceID != ""
}

// initCrypto sets up end-to-end encryption after login. Its errors are fatal for the bot: they
// say what the operator must change.
func (s *Session) initCrypto(ctx context.Context) error {
	if s.crypto != nil || !s.e2eeEnabled() {
		if s.opts.Bot.E2EE && s.client.DeviceID == "" {
			s.log.Warn("end-to-end encryption is off: the homeserver gave no device ID for this token")
		}
		return nil
	}
	b := s.opts.Bot
	m, err := e2ee.New(ctx, e2ee.Options{
		Client: s.client, DB: s.opts.DB.DBUtil(), StateStore: s.opts.StateStore, PickleKey: s.opts.PickleKey,
		RecoveryKey: b.RecoveryKey(), SecretStoragePassphrase: b.SecretStoragePassphrase,
		SharingStrategy: b.EncryptionSharingStrategy, BackupDownloadStrategy: b.BackupDownloadStrategy,
		UndecryptableWait: s.opts.UndecryptableWait, Logger: s.log,
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, e2ee.ErrDeviceTaken) || errors.Is(err, e2ee.ErrStoreLost) || errors.Is(err, e2ee.ErrPickleKey) {
			err = fmt.Errorf("%w: %w", ErrFatal, err)
			s.setStatus(model.StateStopped, err.Error())
			return err
		}
		return fmt.Errorf("failed to set up end-to-end encryption: %w", err)
	}
	if err := m.Recover(ctx); err != nil {
		if errors.Is(err, e2ee.ErrRecovery) {
			err = fmt.Errorf("%w: %w", ErrFatal, err)
			s.setStatus(model.StateStopped, err.Error())
			m.Close()
			return err
		}
		s.log.Warn("key backup recovery failed; going on without it", "error", err)
	}
	s.crypto = m
	s.client.Crypto = m
	s.log.Info("end-to-end encryption ready", "device_id", s.client.DeviceID)
	return nil
}

// handleEncrypted decrypts an m.room.encrypted timeline event and hands the result to the normal
// path. An event whose key has not arrived is held (in the database) and handed over later.
func (s *Session) handleEncrypted(ctx context.Context, b *batch, evt *event.Event, raw json.RawMessage) error {
	if evt.Sender == s.UserID() && !s.opts.HandleSelfMessage {
		return nil
	}
	if b.first && !s.opts.HandleOldEvents && time.UnixMilli(evt.Timestamp).Before(s.started) {
		return nil
	}
	if s.crypto == nil {
		return s.publishUndecryptable(ctx, b, evt, "end-to-end encryption is off for this bot")
	}
	dec, err := s.crypto.Decrypt(ctx, evt)
	if err == nil {
		s.crypto.CountDecrypted()
		return s.handleTimelineEvent(ctx, b, dec)
	}
	if !errors.Is(e2ee.Classify(err), e2ee.ErrKeyMissing) {
		s.log.Warn("cannot decrypt an event", "room_id", evt.RoomID, "event_id", evt.ID, "error", err)
		s.crypto.CountUndecryptable()
		return s.publishUndecryptable(ctx, b, evt, err.Error())
	}
	retry, err := s.crypto.Hold(ctx, evt, raw)
	if err != nil {
		s.log.Error("failed to hold an undecryptable event; delivering it as undecryptable", "event_id", evt.ID, "error", err)
		s.crypto.CountUndecryptable()
		return s.publishUndecryptable(ctx, b, evt, "the room key has not arrived")
	}
	if retry { // the key backup had it
		if dec, err := s.crypto.Decrypt(ctx, evt); err == nil {
			if err := s.handleTimelineEvent(ctx, b, dec); err != nil {
				return err
			}
			_ = s.crypto.Release(ctx, evt.ID, true)
		}
	}
	return nil
}

// deliverHeld hands over the held events whose key arrived, and those whose wait is over as
// undecryptable. It runs after each sync batch.
func (s *Session) deliverHeld(ctx context.Context, b *batch) error {
	if s.crypto == nil {
		return nil
	}
	due, err := s.crypto.Due(ctx, time.Now())
	if err != nil {
		s.log.Warn("failed to read held events", "error", err)
		return nil
	}
	for _, h := range due {
		evt := s.parseEvent(h.Raw, h.RoomID)
		if evt == nil {
			_ = s.crypto.Release(ctx, h.EventID, false)
			continue
		}
		dec, err := s.crypto.Decrypt(ctx, evt)
		switch {
		case err == nil:
			s.log.Info("decrypted a held event", "room_id", h.RoomID, "event_id", h.EventID, "held_for", time.Since(h.Since).Round(time.Millisecond))
			if err := s.handleTimelineEvent(ctx, b, dec); err != nil {
				return err
			}
			_ = s.crypto.Release(ctx, h.EventID, true)
		case h.Expired || !errors.Is(e2ee.Classify(err), e2ee.ErrKeyMissing):
			s.log.Warn("delivering an event as undecryptable", "room_id", h.RoomID, "event_id", h.EventID, "error", err)
			if err := s.publishUndecryptable(ctx, b, evt, err.Error()); err != nil {
				return err
			}
			_ = s.crypto.Release(ctx, h.EventID, false)
		}
	}
	return nil
}

// publishUndecryptable hands over a message saying that evt could not be decrypted.
func (s *Session) publishUndecryptable(ctx context.Context, b *batch, evt *event.Event, reason string) error {
	text := "[encrypted message that the bot could not decrypt: " + reason + "]"
	msg := &model.Message{
		EventID: evt.ID, RoomID: evt.RoomID, Sender: evt.Sender, SenderName: s.memberName(ctx, evt.RoomID, evt.Sender),
		Direct: s.isDirect(evt.RoomID), MsgType: MsgTypeUndecryptable, Segments: []model.Segment{model.Text(text)}, Plain: text,
	}
	return s.publish(b, &model.Event{ID: string(evt.ID), Time: time.UnixMilli(evt.Timestamp), Self: s.UserID(), Kind: model.KindMessage, Message: msg})
}

// SendEvent sends any room event, encrypted when the room is encrypted and the bot encrypts.
// Use it instead of client.SendMessageEvent / SendReaction: mautrix sends reactions in plaintext.
// m.relates_to stays outside the ciphertext, as the spec requires, so relations still work.
// Redactions are not encrypted (the spec has no encrypted redaction): use client.RedactEvent.
func (s *Session) SendEvent(ctx context.Context, room id.RoomID, evtType event.Type, content any, extra ...mautrix.ReqSendEvent) (*mautrix.RespSendEvent, error) {
	if evtType == event.EventReaction && s.crypto != nil && s.opts.StateStore != nil {
		if enc, err := s.opts.StateStore.IsEncrypted(ctx, room); err != nil {
			return nil, fmt.Errorf("failed to check if the room is encrypted: %w", err)
		} else if enc {
			encrypted, err := s.crypto.Encrypt(ctx, room, evtType, content)
			if err != nil {
				return nil, fmt.Errorf("failed to encrypt the event: %w", err)
			}
			return s.client.SendMessageEvent(ctx, room, event.EventEncrypted, encrypted, extra...)
		}
	}
	return s.client.SendMessageEvent(ctx, room, evtType, content, extra...)
}

// E2EE returns the bot's encryption machine, nil when the bot does not encrypt.
func (s *Session) E2EE() *e2ee.Machine { return s.crypto }
