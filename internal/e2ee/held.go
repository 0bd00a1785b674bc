package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Held events: an encrypted event whose room key has not arrived is kept in the database (so a
// restart does not lose it) until the key arrives or its wait is over. The sync position moves
// on meanwhile; the event is handed over later, decrypted or marked undecryptable, never dropped.

// The gateway's own E2EE tables (beside mautrix's crypto store) have one upgrade table: v1 held
// events, v2 room key verdicts and the key backup state (trust.go).
const gatewayVersionTable = "e2ee_gateway_version"

var gatewayUpgrades = dbutil.BuildUpgradeTable().
	WithRaw(0, 1, 0, "held undecryptable events", dbutil.TxnModeOn, func(ctx context.Context, db *dbutil.Database) error {
		_, err := db.Exec(ctx, `CREATE TABLE e2ee_held (
			seq         INTEGER PRIMARY KEY AUTOINCREMENT,
			account_id  TEXT    NOT NULL,
			event_id    TEXT    NOT NULL,
			room_id     TEXT    NOT NULL,
			session_id  TEXT    NOT NULL,
			raw         TEXT    NOT NULL,
			held_at     INTEGER NOT NULL,
			UNIQUE (account_id, event_id)
		)`)
		return err
	}).
	WithRaw(1, 2, 1, "room key verdicts and key backup state", dbutil.TxnModeOn, func(ctx context.Context, db *dbutil.Database) error {
		_, err := db.Exec(ctx, `CREATE TABLE e2ee_key_verdict (
			account_id  TEXT    NOT NULL,
			session_id  TEXT    NOT NULL,
			room_id     TEXT    NOT NULL,
			source      TEXT    NOT NULL,
			trusted     BOOLEAN NOT NULL,
			reason      TEXT    NOT NULL,
			decided_at  INTEGER NOT NULL,
			PRIMARY KEY (account_id, session_id)
		)`)
		if err != nil {
			return err
		}
		_, err = db.Exec(ctx, `CREATE TABLE e2ee_backup_state (
			account_id  TEXT NOT NULL PRIMARY KEY,
			version     TEXT NOT NULL,
			etag        TEXT NOT NULL
		)`)
		return err
	}).Finish()

const (
	insertHeld = `INSERT INTO e2ee_held (account_id, event_id, room_id, session_id, raw, held_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, event_id) DO NOTHING`
	selectHeld = `SELECT event_id, room_id, session_id, raw, held_at FROM e2ee_held WHERE account_id = $1 ORDER BY seq`
	deleteHeld = `DELETE FROM e2ee_held WHERE account_id = $1 AND event_id = $2`
	countHeld  = `SELECT COUNT(*) FROM e2ee_held WHERE account_id = $1`
	oldestHeld = `SELECT COALESCE(MIN(held_at), 0) FROM e2ee_held WHERE account_id = $1`
	heldWith   = `SELECT EXISTS (SELECT 1 FROM e2ee_held WHERE account_id = $1 AND session_id = $2)`
)

type heldStore struct {
	db        *dbutil.Database
	accountID string
}

// upgradeTables brings the gateway's own E2EE tables up to date and returns the database for them.
func upgradeTables(ctx context.Context, db *dbutil.Database) (*dbutil.Database, error) {
	child := db.Child(gatewayVersionTable, gatewayUpgrades, db.Log)
	if err := child.Upgrade(ctx); err != nil {
		return nil, fmt.Errorf("failed to prepare the gateway's E2EE tables (held events, room key verdicts): %w", err)
	}
	return child, nil
}

func openHeld(ctx context.Context, db *dbutil.Database, accountID string) (*heldStore, error) {
	child, err := upgradeTables(ctx, db)
	if err != nil {
		return nil, err
	}
	return &heldStore{db: child, accountID: accountID}, nil
}

// hasSession reports whether an event waiting for sessionID is held (the bot asked for its key).
func (h *heldStore) hasSession(ctx context.Context, sessionID id.SessionID) bool {
	var ok bool
	return h.db.QueryRow(ctx, heldWith, h.accountID, sessionID).Scan(&ok) == nil && ok
}

// Held is an encrypted event waiting for its room key.
type Held struct {
	EventID   id.EventID
	RoomID    id.RoomID
	SessionID id.SessionID
	Raw       json.RawMessage // the event as /sync gave it
	Since     time.Time       // when it was held
	Expired   bool            // its wait is over: deliver it as undecryptable if it still fails
}

// ErrKeyMissing wraps decryption failures that a key arriving later can fix; such events are
// held. Any other failure is final.
var ErrKeyMissing = errors.New("the room key has not arrived")

// Classify tells whether a decryption error may be fixed by a key arriving later.
func Classify(err error) error {
	if errors.Is(err, crypto.ErrNoSessionFound) || errors.Is(err, errUntrustedKey) {
		return fmt.Errorf("%w: %w", ErrKeyMissing, err)
	}
	return err
}

// Hold keeps evt (raw as received) until its key arrives, asks the sender's and the bot's own
// devices for the key, and fetches it from the key backup when the strategy allows. It reports
// whether the backup had the key: decrypt again at once, and Release the event when that works.
func (m *Machine) Hold(ctx context.Context, evt *event.Event, raw json.RawMessage) (retry bool, err error) {
	content, ok := evt.Content.Parsed.(*event.EncryptedEventContent)
	if !ok {
		return false, errors.New("not an encrypted event")
	}
	_, err = m.held.db.Exec(ctx, insertHeld, m.held.accountID, evt.ID, evt.RoomID, content.SessionID, string(raw), time.Now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("failed to hold an undecryptable event: %w", err)
	}
	m.stats.Held.Add(1)
	if m.fetchFromBackup(ctx, evt.RoomID, content.SessionID) {
		return true, nil
	}
	m.log.Info("holding an event until its room key arrives", "room_id", evt.RoomID, "event_id", evt.ID,
		"session_id", content.SessionID, "wait", m.opts.UndecryptableWait, "e2ee", &m.stats)
	//lint:ignore SA1019 the deprecated device_id is all there is to address the sender's device
	m.RequestSession(ctx, evt.RoomID, content.SenderKey, content.SessionID, evt.Sender, content.DeviceID)
	return false, nil
}

// Due returns the held events to try again now, oldest first: all of them when a room key
// arrived since the last call, else only those whose wait is over.
//
// While events are held and the key backup is unlocked, the backup is looked at again every
// backupPollInterval: when it changed (another device of the bot uploaded keys), the held
// events' sessions are fetched from it.
func (m *Machine) Due(ctx context.Context, now time.Time) ([]Held, error) {
	held, err := m.allHeld(ctx)
	if err != nil {
		return nil, err
	}
	if len(held) > 0 {
		m.pollBackup(ctx, now, held)
	}
	all := m.keysArrived.Swap(false)
	var out []Held
	for _, h := range held {
		h.Expired = now.Sub(h.Since) >= m.opts.UndecryptableWait
		if all || h.Expired {
			out = append(out, h)
		}
	}
	return out, nil
}

func (m *Machine) allHeld(ctx context.Context) ([]Held, error) {
	rows, err := m.held.db.Query(ctx, selectHeld, m.held.accountID)
	if err != nil {
		return nil, fmt.Errorf("failed to read held events: %w", err)
	}
	defer rows.Close()
	var out []Held
	for rows.Next() {
		var h Held
		var raw string
		var at int64
		if err := rows.Scan(&h.EventID, &h.RoomID, &h.SessionID, &raw, &at); err != nil {
			return nil, fmt.Errorf("failed to read held events: %w", err)
		}
		h.Raw, h.Since = json.RawMessage(raw), time.UnixMilli(at)
		out = append(out, h)
	}
	return out, rows.Err()
}

// backupPollInterval is how often the key backup is looked at while events wait for their key.
const backupPollInterval = 2 * time.Second

// backupPolled reports whether held events make the key backup be looked at again.
func (m *Machine) backupPolled() bool {
	m.backupMu.Lock()
	unlocked := m.backupKey != nil
	m.backupMu.Unlock()
	s := m.opts.BackupDownloadStrategy
	return unlocked && (s == BackupDownloadDefault || s == BackupOnFailure)
}

// pollBackup fetches the sessions of held events from the key backup when it changed since the
// last look (its etag), at most every backupPollInterval.
func (m *Machine) pollBackup(ctx context.Context, now time.Time, held []Held) {
	if !m.backupPolled() {
		return
	}
	m.pollMu.Lock()
	defer m.pollMu.Unlock()
	if now.Before(m.nextPoll) {
		return
	}
	m.nextPoll = now.Add(backupPollInterval)
	info, err := m.cli.GetKeyBackupLatestVersion(ctx)
	if err != nil {
		m.log.Debug("failed to look at the key backup", "error", err)
		return
	}
	if info.ETag != "" && info.ETag == m.backupETag {
		return
	}
	m.backupETag = info.ETag
	seen := map[id.SessionID]bool{}
	for _, h := range held {
		if seen[h.SessionID] {
			continue
		}
		seen[h.SessionID] = true
		if m.fetchFromBackup(ctx, h.RoomID, h.SessionID) {
			m.log.Info("a held event's room key arrived in the key backup", "room_id", h.RoomID, "session_id", h.SessionID)
		}
	}
}

// NextWake returns how soon the held events need a look (a wait ends, or the key backup is due
// to be looked at again); ok is false when no event is held. The sync loop waits no longer.
func (m *Machine) NextWake(ctx context.Context, now time.Time) (d time.Duration, ok bool) {
	var oldest int64
	err := m.held.db.QueryRow(ctx, oldestHeld, m.held.accountID).Scan(&oldest)
	if err != nil || oldest == 0 {
		return 0, false
	}
	d = max(time.UnixMilli(oldest).Add(m.opts.UndecryptableWait).Sub(now), 0)
	if m.backupPolled() {
		d = min(d, backupPollInterval)
	}
	return d, true
}

// Release forgets a held event once it was handed over.
func (m *Machine) Release(ctx context.Context, eventID id.EventID, decrypted bool) error {
	if _, err := m.held.db.Exec(ctx, deleteHeld, m.held.accountID, eventID); err != nil {
		return fmt.Errorf("failed to release a held event: %w", err)
	}
	if decrypted {
		m.stats.Recovered.Add(1)
	} else {
		m.stats.Undecryptable.Add(1)
	}
	return nil
}

// HeldCount returns how many events wait for their key.
func (m *Machine) HeldCount(ctx context.Context) (int, error) {
	var n int
	err := m.held.db.QueryRow(ctx, countHeld, m.held.accountID).Scan(&n)
	return n, err
}

// CountDecrypted and CountUndecryptable record events that were handed over at once.
func (m *Machine) CountDecrypted()     { m.stats.Decrypted.Add(1) }
func (m *Machine) CountUndecryptable() { m.stats.Undecryptable.Add(1) }
