package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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
		bigint, serial := columnTypes(db)
		_, err := db.Exec(ctx, `CREATE TABLE e2ee_held (
			seq         `+serial+`,
			account_id  TEXT    NOT NULL,
			event_id    TEXT    NOT NULL,
			room_id     TEXT    NOT NULL,
			session_id  TEXT    NOT NULL,
			raw         TEXT    NOT NULL,
			held_at     `+bigint+` NOT NULL,
			UNIQUE (account_id, event_id)
		)`)
		return err
	}).
	WithRaw(1, 2, 1, "room key verdicts and key backup state", dbutil.TxnModeOn, func(ctx context.Context, db *dbutil.Database) error {
		bigint, _ := columnTypes(db)
		_, err := db.Exec(ctx, `CREATE TABLE e2ee_key_verdict (
			account_id  TEXT    NOT NULL,
			session_id  TEXT    NOT NULL,
			room_id     TEXT    NOT NULL,
			source      TEXT    NOT NULL,
			trusted     BOOLEAN NOT NULL,
			reason      TEXT    NOT NULL,
			decided_at  `+bigint+` NOT NULL,
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

// columnTypes returns the column types of a 64-bit number (Unix milliseconds) and of an
// increasing key in db's dialect: SQLite's INTEGER is 64 bits, PostgreSQL's 32, and PostgreSQL
// has identity columns where SQLite has AUTOINCREMENT. On SQLite the tables are as they were.
func columnTypes(db *dbutil.Database) (bigint, serial string) {
	if db.Dialect == dbutil.Postgres {
		return "BIGINT ", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	return "INTEGER", "INTEGER PRIMARY KEY AUTOINCREMENT"
}

const (
	insertHeld = `INSERT INTO e2ee_held (account_id, event_id, room_id, session_id, raw, held_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, event_id) DO NOTHING`
	selectHeld = `SELECT event_id, room_id, session_id, raw, held_at FROM e2ee_held WHERE account_id = $1 ORDER BY seq`
	deleteHeld = `DELETE FROM e2ee_held WHERE account_id = $1 AND event_id = $2`
	countHeld  = `SELECT COUNT(*) FROM e2ee_held WHERE account_id = $1`
	oldestHeld = `SELECT COALESCE(MIN(held_at), 0) FROM e2ee_held WHERE account_id = $1`
	heldWith   = `SELECT EXISTS (SELECT 1 FROM e2ee_held WHERE account_id = $1 AND session_id = $2)`
)

// heldStore is one bot account's held events in the e2ee_held table.
type heldStore struct {
	db        *dbutil.Database
	accountID string

	// none remembers that the table held no event of the account when oldest or list last asked,
	// so that the sync loop (NextWake, twice per /sync answer, and Due once) does not ask again
	// while nothing is held, which is nearly always. Writes that add events (put, adopt) bump gen
	// after they are done and clear it; oldest and list set it only when no such write finished
	// while they asked.
	mu   sync.Mutex
	gen  uint64
	none bool
}

// added records that events may have been added (after the write, whether it succeeded or not).
func (h *heldStore) added() {
	h.mu.Lock()
	h.gen++
	h.none = false
	h.mu.Unlock()
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

// put holds evt (raw as received), waiting for sessionID.
func (h *heldStore) put(ctx context.Context, evt *event.Event, sessionID id.SessionID, raw json.RawMessage) error {
	_, err := h.db.Exec(ctx, insertHeld, h.accountID, evt.ID, evt.RoomID, sessionID, string(raw), time.Now().UnixMilli())
	h.added()
	if err != nil {
		return fmt.Errorf("failed to hold an undecryptable event: %w", err)
	}
	return nil
}

// knownNone reports whether nothing is held (as last asked, with no event added since), and the
// generation of writes to pass to sawNone after asking.
func (h *heldStore) knownNone() (none bool, gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.none, h.gen
}

// sawNone records that the table held no event when asked at generation gen.
func (h *heldStore) sawNone(gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == gen {
		h.none = true
	}
}

// oldest returns when the oldest held event was held; ok is false when none is.
func (h *heldStore) oldest(ctx context.Context) (at time.Time, ok bool) {
	none, gen := h.knownNone()
	if none {
		return time.Time{}, false
	}
	var ms int64
	if err := h.db.QueryRow(ctx, oldestHeld, h.accountID).Scan(&ms); err != nil {
		return time.Time{}, false
	}
	if ms == 0 {
		h.sawNone(gen)
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// remove forgets a held event.
func (h *heldStore) remove(ctx context.Context, eventID id.EventID) error {
	if _, err := h.db.Exec(ctx, deleteHeld, h.accountID, eventID); err != nil {
		return fmt.Errorf("failed to release a held event: %w", err)
	}
	return nil
}

// count returns how many events are held.
func (h *heldStore) count(ctx context.Context) (int, error) {
	var n int
	err := h.db.QueryRow(ctx, countHeld, h.accountID).Scan(&n)
	return n, err
}

// adopt moves the held events of account from to this one (see Machine.AdoptHeld).
func (h *heldStore) adopt(ctx context.Context, from string) (int64, error) {
	res, err := h.db.Exec(ctx, adoptHeld, h.accountID, from)
	h.added()
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
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
	if err := m.held.put(ctx, evt, content.SessionID, raw); err != nil {
		return false, err
	}
	m.stats.Held.Add(1)
	if m.backup.fetch(ctx, evt.RoomID, content.SessionID) {
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
	held, err := m.held.list(ctx)
	if err != nil {
		return nil, err
	}
	if len(held) > 0 {
		m.backup.poll(ctx, now, held)
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

// list returns the held events, oldest first.
func (h *heldStore) list(ctx context.Context) ([]Held, error) {
	none, gen := h.knownNone()
	if none {
		return nil, nil
	}
	out, err := h.query(ctx)
	if err == nil && len(out) == 0 {
		h.sawNone(gen)
	}
	return out, err
}

func (h *heldStore) query(ctx context.Context) ([]Held, error) {
	rows, err := h.db.Query(ctx, selectHeld, h.accountID)
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

// polled reports whether held events make the key backup be looked at again.
func (b *keyBackup) polled() bool {
	key, _ := b.current()
	return key != nil && (b.strategy == BackupDownloadDefault || b.strategy == BackupOnFailure)
}

// poll fetches the sessions of held events from the key backup when it changed since the
// last look (its etag), at most every backupPollInterval.
func (b *keyBackup) poll(ctx context.Context, now time.Time, held []Held) {
	if !b.polled() {
		return
	}
	b.pollMu.Lock()
	defer b.pollMu.Unlock()
	if now.Before(b.nextPoll) {
		return
	}
	b.nextPoll = now.Add(backupPollInterval)
	info, err := b.cli.GetKeyBackupLatestVersion(ctx)
	if err != nil {
		b.log.Debug("failed to look at the key backup", "error", err)
		return
	}
	if info.ETag != "" && info.ETag == b.etag {
		return
	}
	b.etag = info.ETag
	seen := map[id.SessionID]bool{}
	for _, h := range held {
		if seen[h.SessionID] {
			continue
		}
		seen[h.SessionID] = true
		if b.fetch(ctx, h.RoomID, h.SessionID) {
			b.log.Info("a held event's room key arrived in the key backup", "room_id", h.RoomID, "session_id", h.SessionID)
		}
	}
}

// NextWake returns how soon the held events need a look (a wait ends, or the key backup is due
// to be looked at again); ok is false when no event is held. The sync loop waits no longer.
func (m *Machine) NextWake(ctx context.Context, now time.Time) (d time.Duration, ok bool) {
	oldest, ok := m.held.oldest(ctx)
	if !ok {
		return 0, false
	}
	d = max(oldest.Add(m.opts.UndecryptableWait).Sub(now), 0)
	if m.backup.polled() {
		d = min(d, backupPollInterval)
	}
	return d, true
}

// Release forgets a held event once it was handed over.
func (m *Machine) Release(ctx context.Context, eventID id.EventID, decrypted bool) error {
	if err := m.held.remove(ctx, eventID); err != nil {
		return err
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
	return m.held.count(ctx)
}

// CountDecrypted and CountUndecryptable record events that were handed over at once.
func (m *Machine) CountDecrypted()     { m.stats.Decrypted.Add(1) }
func (m *Machine) CountUndecryptable() { m.stats.Undecryptable.Add(1) }
