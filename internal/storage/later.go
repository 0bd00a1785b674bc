package storage

import (
	"context"
	"fmt"
	"time"
)

// laterPutTimeout bounds one background write of PutMessageLater.
const laterPutTimeout = 30 * time.Second

type messageKey struct{ bot, event string }

// PutMessageLater stores m as PutMessage does, in the background: the caller (the send path, which
// has just had the event ID from the homeserver) answers its client without waiting for the
// commit, which could wait behind the sync loop's commit of the same message's echo. Until the
// write is done, GetMessage and MarkRedacted of that message wait for it; DB.Close waits for every
// such write. A failed write is handed to failed (it may be nil); the sync echo indexes the
// message again.
func (s MessageStore) PutMessageLater(m Message, failed func(error)) {
	content, err := s.messageContent(m)
	if err == nil && !s.db.later.Start(messageKey{m.BotUserID, m.EventID}, func() {
		ctx, cancel := context.WithTimeout(context.Background(), laterPutTimeout)
		defer cancel()
		if err := s.putMessage(ctx, m, content, s.db.now().UnixMilli()); err != nil && failed != nil {
			failed(err)
		}
	}) {
		err = fmt.Errorf("failed to store message %s: the database is closed", m.EventID)
	}
	if err != nil && failed != nil {
		failed(err)
	}
}

// awaitLater waits for a background write of the message, if one is under way.
func (s MessageStore) awaitLater(ctx context.Context, botUserID, eventID string) error {
	if err := s.db.later.Await(ctx, messageKey{botUserID, eventID}); err != nil {
		return fmt.Errorf("failed to get message %s: waiting for its write: %w", eventID, err)
	}
	return nil
}

// HoldMessages keeps ms in memory until WriteHeld stores them: the sync loop hands a batch's
// messages to the clients first and stores them after, off the path of each event. Meanwhile
// GetMessage answers from memory and MarkRedacted marks the held copy, so no reader waits.
func (s MessageStore) HoldMessages(ms []Message) {
	for _, m := range ms {
		s.db.held.Put(messageKey{m.BotUserID, m.EventID}, m)
	}
}

// WriteHeld stores the messages held for bot (PutMessages; when that fails, one by one, each
// failure handed to failed) and forgets them.
func (s MessageStore) WriteHeld(ctx context.Context, bot string, failed func(Message, error)) {
	_ = s.db.held.Write(func(k messageKey) bool { return k.bot == bot }, func(ms []Message) error {
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
