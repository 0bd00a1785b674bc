package storage

import (
	"context"
	"fmt"

	"github.com/matrix-onebot/gateway/internal/storage/later"
)

// PutMessageLater keeps m as HoldMessages does: the send path answers its client without waiting
// for a commit, which could wait behind the sync loop's, and the bot's sync loop stores it with
// its next batch (WriteHeld; the message's own echo brings one at once), or DB.Close does. Until
// then GetMessage and MarkRedacted use the held copy. m is checked now: one that cannot be stored
// is handed to failed (it may be nil) and not kept.
func (s MessageStore) PutMessageLater(m Message, failed func(error)) {
	_, err := s.messageContent(m)
	if err == nil && s.db.closed.Load() {
		err = fmt.Errorf("failed to store message %s: the database is closed", m.EventID)
	}
	if err == nil {
		s.HoldMessages([]Message{m})
	} else if failed != nil {
		failed(err)
	}
}

// HoldMessages keeps ms in memory until WriteHeld stores them: the sync loop hands a batch's
// messages to the clients first and stores them after, off the path of each event. Meanwhile
// GetMessage answers from memory and MarkRedacted marks the held copy, so no reader waits.
func (s MessageStore) HoldMessages(ms []Message) {
	now := s.db.now()
	for _, m := range ms {
		if m.Stored.IsZero() {
			m.Stored = now
		}
		s.heldOf(m.BotUserID).Put(m.EventID, m)
	}
}

// heldOf is what is held for bot: one each, so that a bot's WriteHeld holds up none of the others.
func (s MessageStore) heldOf(bot string) *later.Held[string, Message] {
	h, _ := s.db.held.LoadOrStore(bot, new(later.Held[string, Message]))
	return h.(*later.Held[string, Message])
}

// WriteHeld stores the messages held for bot (PutMessages; when that fails, one by one, each
// failure handed to failed) and forgets them.
func (s MessageStore) WriteHeld(ctx context.Context, bot string, failed func(Message, error)) {
	_ = s.heldOf(bot).Write(func(ms []Message) error {
		if err := s.PutMessages(ctx, ms); err != nil {
			for _, m := range ms {
				if err := s.PutMessage(ctx, m); err != nil {
					failed(m, err)
				}
			}
		}
		return nil
	})
}
