package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"

	"github.com/matrix-onebot/gateway/internal/storage/massinsert"
)

// Message is one Matrix event as a bot saw it, for get_msg, replies and recall.
type Message struct {
	BotUserID string
	RoomID    string
	EventID   string
	Sender    string
	Time      time.Time       // origin_server_ts, ms precision
	Content   json.RawMessage // the (decrypted) Matrix event content as received or sent; nil when BodyExpired
	Redacted  bool
	// Encrypted tells that the message came from or went to an encrypted room: its content is
	// kept only for Retention.EncryptedBodyAge.
	Encrypted bool

	// Stored is when the gateway stored the message (set by GetMessage); the retention counts
	// from it. HoldMessages sets it to when the message was held, which the write keeps.
	Stored      time.Time
	BodyExpired bool // the content was dropped (an encrypted room's body past its retention, or a redaction)
}

const (
	// A redaction is final in Matrix, so putting a message again (e.g. the sync echo of a
	// message the bot sent) never clears the flag nor brings the content back; nor does it
	// move stored_ms, so the echo does not extend the retention.
	upsertMessage     = insertMessageHead + `VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)` + onConflictMessage
	insertMessageHead = `
INSERT INTO gateway_message (bot_user_id, event_id, room_id, sender, ts, content, redacted, encrypted, stored_ms)
`
	onConflictMessage = `
ON CONFLICT (bot_user_id, event_id) DO UPDATE SET
	room_id   = excluded.room_id,
	sender    = excluded.sender,
	ts        = excluded.ts,
	content   = CASE WHEN gateway_message.redacted OR excluded.redacted THEN '' ELSE excluded.content END,
	redacted  = gateway_message.redacted OR excluded.redacted,
	encrypted = gateway_message.encrypted OR excluded.encrypted`
	selectMessage = `
SELECT room_id, sender, ts, content, redacted, encrypted, stored_ms FROM gateway_message
WHERE bot_user_id = $1 AND event_id = $2`
	// The content of a redacted message is never shown again (GetMessage answers "gone"), so
	// it is dropped at once.
	updateRedacted = `UPDATE gateway_message SET redacted = TRUE, content = '' WHERE bot_user_id = $1 AND event_id = $2`

	deleteAgedMessages = `DELETE FROM gateway_message WHERE stored_ms < $1`
	// The newest count messages of each bot and room stay (by stored_ms, then insertion order:
	// SQLite's rowid, a column of that name on PostgreSQL).
	deleteCountedMessages = `
DELETE FROM gateway_message WHERE rowid IN (
	SELECT rowid FROM (
		SELECT rowid, ROW_NUMBER() OVER (
			PARTITION BY bot_user_id, room_id ORDER BY stored_ms DESC, rowid DESC) AS n
		FROM gateway_message) AS ranked
	WHERE n > $1)`
	dropEncryptedBodies = `
UPDATE gateway_message SET content = ''
WHERE stored_ms < $1 AND encrypted = TRUE AND content <> ''`
)

// ErrExpired is returned (wrapped) for a row that is past its retention but not pruned yet.
// errors.Is(err, ErrNotFound) holds for it too.
var ErrExpired = fmt.Errorf("expired, %w", ErrNotFound)

// PutMessage inserts m, or replaces the message with the same bot and event
// id. Empty Content is stored as {}; other Content must be valid JSON.
func (s MessageStore) PutMessage(ctx context.Context, m Message) error {
	content, err := s.messageContent(m)
	if err != nil {
		return err
	}
	return s.putMessage(ctx, m, content, s.storedAt(m))
}

// storedAt is when m counts as stored: m.Stored if set (HoldMessages), else now.
func (s MessageStore) storedAt(m Message) int64 {
	if m.Stored.IsZero() {
		return s.db.now().UnixMilli()
	}
	return m.Stored.UnixMilli()
}

// PutMessages stores ms as PutMessage does, all in one transaction with one statement per
// putMessagesRows messages: the sync loop indexes a batch's messages with one commit instead of
// one per message. When one of them is not valid, none is stored. Of messages with the same bot
// and event ID, the last counts.
func (s MessageStore) PutMessages(ctx context.Context, ms []Message) error {
	type key struct{ bot, evt string }
	last := make(map[key]int, len(ms))
	for i, m := range ms {
		last[key{m.BotUserID, m.EventID}] = i
	}
	rows := make([]messageRow, 0, len(ms))
	for i, m := range ms {
		c, err := s.messageContent(m)
		if err != nil {
			return err
		}
		if last[key{m.BotUserID, m.EventID}] != i {
			continue // a multi-row upsert may not touch a row twice (PostgreSQL refuses)
		}
		rows = append(rows, messageRow{m.BotUserID, m.EventID, m.RoomID, m.Sender, m.Time.UnixMilli(), string(c), m.Redacted, m.Encrypted, s.storedAt(m)})
	}
	if len(rows) == 0 {
		return nil
	}
	err := inTx(ctx, s.db, func(ctx context.Context) error {
		return upsertMessages.Exec(ctx, s.db.util, rows, putMessagesRows)
	})
	if err != nil {
		return fmt.Errorf("failed to store %d messages: %w", len(ms), err)
	}
	return nil
}

// putMessagesRows is the rows per statement of PutMessages (SQLite allows 32766 parameters).
const putMessagesRows = 100

// messageRow is the values of upsertMessage for one message.
type messageRow [9]any

func (r messageRow) GetMassInsertValues() [9]any { return r }

// upsertMessages is upsertMessage for several messages (go.mau.fi/util's builder; one query per row count).
var upsertMessages = massinsert.New(dbutil.NewMassInsertBuilder[messageRow, [0]any](upsertMessage, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)"))

// messageContent checks m and returns the content to store (nil: none).
func (s MessageStore) messageContent(m Message) (json.RawMessage, error) {
	if m.BotUserID == "" || m.EventID == "" {
		return nil, errors.New("failed to store message: bot user id and event id are required")
	}
	content := m.Content
	if len(content) == 0 {
		content = json.RawMessage("{}")
	} else if !json.Valid(content) {
		return nil, fmt.Errorf("failed to store message %s: content is not valid JSON", m.EventID)
	}
	if m.Redacted || (m.Encrypted && s.db.Retention().NoEncryptedBodies) {
		content = nil
	}
	return content, nil
}

func (s MessageStore) putMessage(ctx context.Context, m Message, content json.RawMessage, stored int64) error {
	_, err := s.db.util.Exec(ctx, upsertMessage,
		m.BotUserID, m.EventID, m.RoomID, m.Sender, m.Time.UnixMilli(), string(content), m.Redacted, m.Encrypted, stored)
	if err != nil {
		return fmt.Errorf("failed to store message %s: %w", m.EventID, err)
	}
	return nil
}

// GetMessage returns the message a bot stored under eventID, or ErrNotFound; ErrExpired when
// it is past Retention.MessageAge. The content of an encrypted room's message past
// Retention.EncryptedBodyAge (or with NoEncryptedBodies) is not returned (BodyExpired), even
// before the pruner drops it.
func (s MessageStore) GetMessage(ctx context.Context, botUserID, eventID string) (Message, error) {
	m, held := s.heldOf(botUserID).Get(eventID) // HoldMessages: as it will be stored
	var content string
	if held {
		c, err := s.messageContent(m)
		held, content = err == nil, string(c)
	}
	if !held {
		m = Message{BotUserID: botUserID, EventID: eventID}
		var ts, stored int64
		err := s.db.util.QueryRow(ctx, selectMessage, botUserID, eventID).
			Scan(&m.RoomID, &m.Sender, &ts, &content, &m.Redacted, &m.Encrypted, &stored)
		if errors.Is(err, sql.ErrNoRows) {
			return Message{}, fmt.Errorf("failed to get message %s: %w", eventID, ErrNotFound)
		} else if err != nil {
			return Message{}, fmt.Errorf("failed to get message %s: %w", eventID, err)
		}
		m.Time, m.Stored = time.UnixMilli(ts), time.UnixMilli(stored)
	}
	r, now := s.db.Retention(), s.db.now()
	if r.MessageAge > 0 && m.Stored.Before(now.Add(-r.MessageAge)) {
		return Message{}, fmt.Errorf("failed to get message %s: %w", eventID, ErrExpired)
	}
	m.Content = nil // a held message has its own; what counts is content
	switch {
	case content == "":
		m.BodyExpired = true
	case m.Encrypted && r.bodyExpired(m.Stored.UnixMilli(), now):
		m.BodyExpired = true
	default:
		m.Content = json.RawMessage(content)
	}
	return m, nil
}

// MarkRedacted flags a stored message as redacted and drops its content, or returns
// ErrNotFound. Room and sender stay (the deletion event names the sender).
func (s MessageStore) MarkRedacted(ctx context.Context, botUserID, eventID string) error {
	if s.heldOf(botUserID).Update(eventID, func(m *Message) { m.Redacted, m.Content = true, nil }) {
		return nil
	}
	res, err := s.db.util.Exec(ctx, updateRedacted, botUserID, eventID)
	if err != nil {
		return fmt.Errorf("failed to mark message %s redacted: %w", eventID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("failed to mark message %s redacted: %w", eventID, err)
	}
	if n == 0 {
		return fmt.Errorf("failed to mark message %s redacted: %w", eventID, ErrNotFound)
	}
	return nil
}

// MessagePrune counts what one PruneMessages removed.
type MessagePrune struct {
	Aged    int64 // rows past Retention.MessageAge
	Counted int64 // rows past Retention.MessageCount in their bot and room
	Bodies  int64 // encrypted rooms' bodies past Retention.EncryptedBodyAge
	// Outbox is the outbox frames of encrypted rooms' events past Retention.EncryptedBodyAge
	// (delivered or not), plus those deleted at delivery since the last pass (OutboxDelivered,
	// with NoEncryptedBodies): the WAL may still hold their bytes.
	Outbox int64
}

// Total is the number of rows deleted or changed.
func (p MessagePrune) Total() int64 { return p.Aged + p.Counted + p.Bodies + p.Outbox }

// PruneMessages applies the retention (SetRetention) to the message index at now: it deletes
// the messages past the age or count bound and drops the bodies of encrypted rooms' messages
// past theirs, and deletes the outbox frames of encrypted rooms' events past that bound too. Their
// v11 message ids stay mapped. With secure_delete on, the deleted bytes are
// overwritten in the file; they leave the WAL at the next Checkpoint.
func (s MessageStore) PruneMessages(ctx context.Context, now time.Time) (MessagePrune, error) {
	r := s.db.Retention()
	var p MessagePrune
	err := inTx(ctx, s.db, func(ctx context.Context) error {
		var err error
		if r.MessageAge > 0 {
			if p.Aged, err = execCount(ctx, s.db, deleteAgedMessages, now.Add(-r.MessageAge).UnixMilli()); err != nil {
				return err
			}
		}
		if r.MessageCount > 0 {
			if p.Counted, err = execCount(ctx, s.db, deleteCountedMessages, r.MessageCount); err != nil {
				return err
			}
		}
		if cutoff, ok := r.encryptedBodyCutoff(now); ok {
			if p.Bodies, err = execCount(ctx, s.db, dropEncryptedBodies, cutoff); err != nil {
				return err
			}
		}
		if r.EncryptedBodyAge > 0 {
			if p.Outbox, err = execCount(ctx, s.db, pruneEncryptedOutbox, now.Add(-r.EncryptedBodyAge).UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return MessagePrune{}, fmt.Errorf("failed to prune messages: %w", err)
	}
	p.Outbox += s.db.droppedAtDelivery.Swap(0)
	return p, nil
}

func execCount(ctx context.Context, db *DB, query string, args ...any) (int64, error) {
	res, err := db.util.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
