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
	"github.com/matrix-onebot/gateway/internal/storage"
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
	m, err := s.newCrypto(ctx)
	var lostDevice id.DeviceID // set when the store was lost and the bot moved to a new device
	var lost error             // why: ErrStoreLost or ErrPickleKey
	if (errors.Is(err, e2ee.ErrStoreLost) || errors.Is(err, e2ee.ErrPickleKey)) && s.canRecoverLostStore() {
		lostDevice, lost = s.client.DeviceID, err
		m, err = s.recoverLostStore(ctx, err)
	}
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
	s.cryptoStats.Store(m.Stats())
	s.cryptoShown.Store(m)
	s.client.Crypto = m
	if lostDevice != "" {
		adopted, err := m.AdoptHeld(ctx, lostDevice)
		if err != nil {
			s.log.Warn("the events that the lost device held stay undelivered", "lost_device_id", lostDevice, "error", err)
		}
		n := m.Stats().BackupImported.Load()
		what, advice := "crypto store lost", "the lost device "+string(lostDevice)+" can no longer decrypt; remove it in a Matrix client's session list"
		if errors.Is(lost, e2ee.ErrPickleKey) {
			what = "crypto store unreadable with this pickle key"
			advice = "back up the pickle key together with the database (" + s.pickleKeyWhere() + "): without it the database's encryption keys cannot be read; " + advice
		}
		s.log.Warn(fmt.Sprintf("%s: logged in as new device %s and restored %d keys from the backup", what, s.client.DeviceID, n),
			"device_id", s.client.DeviceID, "lost_device_id", lostDevice, "restored_keys", n, "held_events_taken_over", adopted, "advice", advice)
	}
	s.log.Info("end-to-end encryption ready", "device_id", s.client.DeviceID)
	return nil
}

func (s *Session) newCrypto(ctx context.Context) (*e2ee.Machine, error) {
	b := s.opts.Bot
	return e2ee.New(ctx, e2ee.Options{
		Client: s.client, DB: s.opts.DB.DBUtil(), StateStore: s.opts.StateStore, PickleKey: s.opts.PickleKey,
		RecoveryKey: b.RecoveryKey(), SecretStoragePassphrase: b.SecretStoragePassphrase,
		SharingStrategy: b.EncryptionSharingStrategy, BackupDownloadStrategy: b.BackupDownloadStrategy,
		UndecryptableWait: s.opts.UndecryptableWait, Logger: s.log,
	})
}

// canRecoverLostStore tells whether the bot can get over a lost crypto store (or one that its
// pickle key no longer decrypts) by itself: it can log in on a new device (password or OAuth)
// and unlock the key backup (recovery key or passphrase) to get the old room keys back.
func (s *Session) canRecoverLostStore() bool {
	b := s.opts.Bot
	login := b.LoginUser != "" && b.LoginPassword != "" || b.OAuthEnabled
	return login && (b.RecoveryKey() != "" || b.SecretStoragePassphrase != "")
}

// pickleKeyWhere says where the pickle key comes from, for the operator to back it up.
func (s *Session) pickleKeyWhere() string {
	where := "GATEWAY_PICKLE_KEY if set"
	if s.opts.DB != nil && s.opts.DB.Path() != "" { // a PostgreSQL database needs GATEWAY_PICKLE_KEY
		where += ", otherwise the file " + e2ee.PickleKeyFile(s.opts.DB.Path())
	}
	return where
}

// recoverLostStore moves the bot to a new device after its crypto store was lost or became
// unreadable with the pickle key (lost says which): a new login, whose session is stored, and a
// new crypto machine for it. The caller unlocks the key backup with the recovery key, which also
// verifies the new device.
func (s *Session) recoverLostStore(ctx context.Context, lost error) (*e2ee.Machine, error) {
	if errors.Is(lost, e2ee.ErrPickleKey) {
		s.log.Warn("the crypto store of this device cannot be decrypted with the current pickle key (it was changed or lost); "+
			"logging in as a new device and restoring keys from the backup", "device_id", s.client.DeviceID, "pickle_key", s.pickleKeyWhere())
	} else {
		s.log.Warn("the crypto store of this device is lost; logging in as a new device and restoring keys from the backup",
			"device_id", s.client.DeviceID, "reason", lost)
	}
	t, err := s.auth.LoginNewDevice(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to log in as a new device after the crypto store was lost: %w", err)
	}
	s.client.DeviceID = t.DeviceID
	return s.newCrypto(ctx)
}

// capSyncTimeout shortens the /sync long poll while events wait for their key, so that they are
// delivered when their wait ends (or their key reaches the key backup), not when /sync returns.
func (s *Session) capSyncTimeout(ctx context.Context, timeout time.Duration) time.Duration {
	if s.crypto == nil {
		return timeout
	}
	if d, ok := s.crypto.NextWake(ctx, time.Now()); ok && d < timeout {
		return d
	}
	return timeout
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
		return s.publishUndecryptable(ctx, b, evt, s.crypto.UndecryptableReason(ctx, evt, err))
	}
	retry, err := s.crypto.Hold(ctx, evt, raw)
	if err != nil && storage.IsDBError(err) {
		// The database cannot take it now (disk full, …): the batch is tried again, the
		// position does not move past this event.
		return fmt.Errorf("failed to hold an undecryptable event: %w", err)
	}
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
			if err := s.release(ctx, evt.ID, true); err != nil {
				return err
			}
			s.log.Info("decrypted an event with its room key from the key backup", "room_id", evt.RoomID, "event_id", evt.ID,
				"e2ee", s.crypto.Stats())
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
			if err := s.release(ctx, h.EventID, false); err != nil {
				return err
			}
			continue
		}
		dec, err := s.crypto.Decrypt(ctx, evt)
		switch {
		case err == nil:
			if err := s.handleTimelineEvent(ctx, b, dec); err != nil {
				return err
			}
			if err := s.release(ctx, h.EventID, true); err != nil {
				return err
			}
			s.log.Info("decrypted a held event", "room_id", h.RoomID, "event_id", h.EventID,
				"held_for", time.Since(h.Since).Round(time.Millisecond), "e2ee", s.crypto.Stats())
		case h.Expired || !errors.Is(e2ee.Classify(err), e2ee.ErrKeyMissing):
			reason := s.crypto.UndecryptableReason(ctx, evt, err)
			if err := s.publishUndecryptable(ctx, b, evt, reason); err != nil {
				return err
			}
			if err := s.release(ctx, h.EventID, false); err != nil {
				return err
			}
			s.log.Warn("delivered an event as undecryptable", "room_id", h.RoomID, "event_id", h.EventID, "reason", reason,
				"error", err, "e2ee", s.crypto.Stats())
		}
	}
	return nil
}

// release deletes a held event that was handed over (or dropped). A database failure is
// returned, so that the batch is retried (the event, already handed over in it, is not handed
// over again) instead of leaving the row to hand the event over again in a later batch.
func (s *Session) release(ctx context.Context, eventID id.EventID, decrypted bool) error {
	err := s.crypto.Release(ctx, eventID, decrypted)
	if err != nil && storage.IsDBError(err) {
		return err
	}
	if err != nil {
		s.log.Warn("failed to release a held event", "event_id", eventID, "error", err)
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

// sendNow sends one room event at once (the send queue calls it for each attempt): encrypted
// when the room is encrypted (encryption.go decides, asking the homeserver when the state store
// does not know), except reactions unless encryptReaction. m.relates_to stays outside the
// ciphertext, as the spec requires, so relations still work. Redactions are not encrypted (the
// spec has no encrypted redaction): use client.RedactEvent.
func (s *Session) sendNow(ctx context.Context, room id.RoomID, evtType event.Type, content any, encryptReaction bool, req mautrix.ReqSendEvent) (*mautrix.RespSendEvent, error) {
	encrypt, err := s.mustEncrypt(ctx, room, evtType, encryptReaction)
	if err != nil {
		return nil, err
	}
	req.DontEncrypt = true // decided above; mautrix must not decide again from its own view
	if !encrypt {
		return s.client.SendMessageEvent(ctx, room, evtType, content, req)
	}
	encrypted, err := s.encrypt(ctx, room, evtType, content)
	if err != nil {
		return nil, err
	}
	return s.client.SendMessageEvent(ctx, room, event.EventEncrypted, encrypted, req)
}

// E2EE returns the bot's encryption machine, nil when the bot does not encrypt.
func (s *Session) E2EE() *e2ee.Machine { return s.crypto }

// E2EEStatus is the bot's encryption status for the admin page; ok is false while the bot has
// no encryption machine. Any goroutine may call it.
func (s *Session) E2EEStatus(ctx context.Context) (st e2ee.Status, ok bool) {
	m := s.cryptoShown.Load()
	if m == nil {
		return st, false
	}
	return m.Status(ctx), true
}
