package actions

import (
	"context"
	"errors"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/crypt"
	"github.com/matrix-onebot/gateway/internal/matrix/send"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Messages serves a bot's actions on messages: redactions, reactions, typing, read receipts.
type Messages struct {
	acct             *account.Account
	sender           *send.Sender
	keys             *send.Keys
	device           *crypt.Device // decrypts the encrypted reactions Reactions reads
	encryptReactions bool          // GATEWAY_ENCRYPT_REACTIONS
}

// NewMessages returns the message actions of acct's bot; device is its end-to-end encryption
// (it decrypts encrypted reactions), encryptReactions is GATEWAY_ENCRYPT_REACTIONS.
func NewMessages(acct *account.Account, sender *send.Sender, keys *send.Keys, device *crypt.Device, encryptReactions bool) *Messages {
	return &Messages{acct: acct, sender: sender, keys: keys, device: device, encryptReactions: encryptReactions}
}

// roomOf returns room, or the room of an indexed message when room is "".
func (s *Messages) roomOf(ctx context.Context, room id.RoomID, msg id.EventID) (id.RoomID, error) {
	if room != "" {
		return room, nil
	}
	m, err := s.acct.DB.Messages().GetMessage(ctx, string(s.acct.UserID()), string(msg))
	if errors.Is(err, storage.ErrNotFound) {
		return "", model.Errorf(model.ErrNotFound, "message %s is unknown to the gateway: give its room (group_id) too", msg)
	} else if err != nil {
		return "", err
	}
	return id.RoomID(m.RoomID), nil
}

// DeleteMessage implements model.RoomActions: it redacts the message.
func (s *Messages) DeleteMessage(ctx context.Context, room id.RoomID, msg id.EventID, reason string) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	room, err := s.roomOf(ctx, room, msg)
	if err != nil {
		return err
	}
	if err := s.sender.Redact(ctx, room, msg, reason); err != nil {
		return account.ActionError("failed to delete message", err)
	}
	if err := s.acct.DB.Messages().MarkRedacted(ctx, string(s.acct.UserID()), string(msg)); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.acct.Log().Warn("failed to mark message redacted", "event_id", msg, "error", err)
	}
	return nil
}

// React implements model.RoomActions: an m.reaction annotation, sent through the send queue;
// unencrypted (as Element sends them) unless opts or GATEWAY_ENCRYPT_REACTIONS ask otherwise.
func (s *Messages) React(ctx context.Context, room id.RoomID, msg id.EventID, key string, opts model.ReactOptions) (model.Sent, error) {
	txnID := s.sender.TxnID()
	if idem := opts.Idempotency; idem != nil { // idempotency.go
		unlock := s.keys.Lock(idem.Key)
		defer unlock()
		rec, err := s.keys.Claim(ctx, *idem)
		if err != nil {
			return model.Sent{}, err
		}
		if rec.Done() {
			return send.SentOf(rec), nil
		}
		txnID = rec.TxnID
	}
	if err := s.acct.Online(); err != nil {
		return model.Sent{}, err
	}
	room, err := s.roomOf(ctx, room, msg)
	if err != nil {
		return model.Sent{}, err
	}
	content := &event.ReactionEventContent{RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: msg, Key: key}}
	encrypt := s.encryptReactions
	if opts.Encrypted != nil {
		encrypt = *opts.Encrypted
	}
	evtID, err := s.sender.SendTxn(ctx, room, event.EventReaction, content, encrypt, txnID)
	if err != nil {
		return model.Sent{}, account.ActionError("failed to react", err)
	}
	sent := model.Sent{EventID: evtID, RoomID: room, Time: time.Now()}
	if opts.Idempotency != nil {
		s.keys.Finish(ctx, *opts.Idempotency, sent)
	}
	return sent, nil
}

// SetTyping implements model.RoomActions.
func (s *Messages) SetTyping(ctx context.Context, room id.RoomID, typing bool, timeout time.Duration) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	if _, err := s.acct.Client().UserTyping(ctx, room, typing, timeout); err != nil {
		return account.ActionError("failed to set typing", err)
	}
	return nil
}

// MarkRead implements model.RoomActions: a public read receipt and the fully-read marker.
func (s *Messages) MarkRead(ctx context.Context, room id.RoomID, msg id.EventID) error {
	if err := s.acct.Online(); err != nil {
		return err
	}
	if err := s.acct.Client().MarkRead(ctx, room, msg); err != nil {
		return account.ActionError("failed to mark read", err)
	}
	return nil
}
