package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Message is one Matrix event as a bot saw it, for get_msg, replies and recall.
type Message struct {
	BotUserID string
	RoomID    string
	EventID   string
	Sender    string
	Time      time.Time       // origin_server_ts, ms precision
	Content   json.RawMessage // the (decrypted) Matrix event content as received or sent
	Redacted  bool
}

const (
	// A redaction is final in Matrix, so putting a message again (e.g. the
	// sync echo of a message the bot sent) never clears the flag.
	upsertMessage = `
INSERT INTO gateway_message (bot_user_id, event_id, room_id, sender, ts, content, redacted)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (bot_user_id, event_id) DO UPDATE SET
	room_id  = excluded.room_id,
	sender   = excluded.sender,
	ts       = excluded.ts,
	content  = excluded.content,
	redacted = gateway_message.redacted OR excluded.redacted`
	selectMessage = `
SELECT room_id, sender, ts, content, redacted FROM gateway_message
WHERE bot_user_id = ? AND event_id = ?`
	updateRedacted = `UPDATE gateway_message SET redacted = 1 WHERE bot_user_id = ? AND event_id = ?`
	deleteMessages = `DELETE FROM gateway_message WHERE ts < ?`
)

// PutMessage inserts m, or replaces the message with the same bot and event
// id. Empty Content is stored as {}; other Content must be valid JSON.
func (db *DB) PutMessage(ctx context.Context, m Message) error {
	if m.BotUserID == "" || m.EventID == "" {
		return errors.New("failed to store message: bot user id and event id are required")
	}
	content := m.Content
	if len(content) == 0 {
		content = json.RawMessage("{}")
	} else if !json.Valid(content) {
		return fmt.Errorf("failed to store message %s: content is not valid JSON", m.EventID)
	}
	_, err := db.sql.ExecContext(ctx, upsertMessage,
		m.BotUserID, m.EventID, m.RoomID, m.Sender, m.Time.UnixMilli(), string(content), m.Redacted)
	if err != nil {
		return fmt.Errorf("failed to store message %s: %w", m.EventID, err)
	}
	return nil
}

// GetMessage returns the message a bot stored under eventID, or ErrNotFound.
func (db *DB) GetMessage(ctx context.Context, botUserID, eventID string) (Message, error) {
	m := Message{BotUserID: botUserID, EventID: eventID}
	var (
		ts      int64
		content string
	)
	err := db.sql.QueryRowContext(ctx, selectMessage, botUserID, eventID).
		Scan(&m.RoomID, &m.Sender, &ts, &content, &m.Redacted)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("failed to get message %s: %w", eventID, ErrNotFound)
	} else if err != nil {
		return Message{}, fmt.Errorf("failed to get message %s: %w", eventID, err)
	}
	m.Time = time.UnixMilli(ts)
	m.Content = json.RawMessage(content)
	return m, nil
}

// MarkRedacted flags a stored message as redacted, or returns ErrNotFound.
// The content is kept.
func (db *DB) MarkRedacted(ctx context.Context, botUserID, eventID string) error {
	res, err := db.sql.ExecContext(ctx, updateRedacted, botUserID, eventID)
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

// PruneMessages deletes messages older than before (by origin_server_ts) and
// returns how many went. Their v11 message ids stay mapped.
func (db *DB) PruneMessages(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.sql.ExecContext(ctx, deleteMessages, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("failed to prune messages: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("failed to prune messages: %w", err)
	}
	return n, nil
}
