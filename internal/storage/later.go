package storage

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// laterPutTimeout bounds one background write of PutMessageLater.
const laterPutTimeout = 30 * time.Second

// laterPuts are the messages PutMessageLater is writing in the background, so that a read of one
// of them waits for its write instead of missing it (read-your-writes for the sender).
type laterPuts struct {
	mu      sync.Mutex
	pending map[messageKey]chan struct{}
	wg      sync.WaitGroup // Close waits for the writes
	closed  bool           // Close has begun: no write starts any more
	// hook, when set (tests), runs in the background write before it starts.
	hook func()
}

type messageKey struct{ bot, event string }

// PutMessageLater stores m as PutMessage does, in the background: the caller (the send path, which
// has just had the event ID from the homeserver) answers its client without waiting for the
// commit, which could wait behind the sync loop's commit of the same message's echo. Until the
// write is done, GetMessage and MarkRedacted of that message wait for it; DB.Close waits for every
// such write. A failed write is handed to failed (it may be nil); the sync echo indexes the
// message again.
func (s MessageStore) PutMessageLater(m Message, failed func(error)) {
	content, err := s.messageContent(m)
	if err != nil {
		if failed != nil {
			failed(err)
		}
		return
	}
	l := &s.db.later
	key := messageKey{m.BotUserID, m.EventID}
	done := make(chan struct{})
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		if failed != nil {
			failed(fmt.Errorf("failed to store message %s: the database is closed", m.EventID))
		}
		return
	}
	if l.pending == nil {
		l.pending = make(map[messageKey]chan struct{})
	}
	l.pending[key] = done
	l.wg.Add(1)
	hook := l.hook
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		defer func() {
			l.mu.Lock()
			if l.pending[key] == done {
				delete(l.pending, key)
			}
			l.mu.Unlock()
			close(done)
		}()
		if hook != nil {
			hook()
		}
		ctx, cancel := context.WithTimeout(context.Background(), laterPutTimeout)
		defer cancel()
		if err := s.putMessage(ctx, m, content, s.db.now().UnixMilli()); err != nil && failed != nil {
			failed(err)
		}
	}()
}

// awaitLater waits for a background write of the message, if one is under way.
func (s MessageStore) awaitLater(ctx context.Context, botUserID, eventID string) error {
	l := &s.db.later
	l.mu.Lock()
	done := l.pending[messageKey{botUserID, eventID}]
	l.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failed to get message %s: waiting for its write: %w", eventID, ctx.Err())
	}
}

// close stops new background writes and waits for those under way.
func (l *laterPuts) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wg.Wait()
}
