package e2ee

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Room key trust: a Megolm session is used for decryption (and uploaded to the key backup) only
// when it came straight from the sender's device, was forwarded by one of the bot's own verified
// devices after the bot asked for it, or came from the key backup marked as received from the
// sender's device (forwarded_count 0). Anything else is refused: a refused forwarded key is
// removed from the crypto store (so that it can neither decrypt nor reach the backup, and a
// trusted copy arriving later is stored), a refused backup entry is not imported, and the
// refusal is remembered with what happened, for the undecryptable message and the log.

const (
	upsertVerdict = `INSERT INTO e2ee_key_verdict (account_id, session_id, room_id, source, trusted, reason, decided_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (account_id, session_id) DO UPDATE SET room_id = excluded.room_id, source = excluded.source,
			trusted = excluded.trusted, reason = excluded.reason, decided_at = excluded.decided_at`
	selectVerdict = `SELECT source, trusted, reason FROM e2ee_key_verdict WHERE account_id = $1 AND session_id = $2`
	// deleteRefusedForward removes a refused forwarded session from mautrix's store; only while it
	// is still the forwarded copy (a direct copy stored meanwhile stays).
	deleteRefusedForward = `DELETE FROM crypto_megolm_inbound_session
		WHERE account_id = $1 AND room_id = $2 AND session_id = $3 AND key_source = $4`
	selectBackupState = `SELECT version, etag FROM e2ee_backup_state WHERE account_id = $1`
	upsertBackupState = `INSERT INTO e2ee_backup_state (account_id, version, etag) VALUES ($1, $2, $3)
		ON CONFLICT (account_id) DO UPDATE SET version = excluded.version, etag = excluded.etag`
)

type keysStore struct {
	db        *dbutil.Database
	accountID string
}

func openKeys(ctx context.Context, db *dbutil.Database, accountID string) (*keysStore, error) {
	child, err := upgradeTables(ctx, db)
	if err != nil {
		return nil, err
	}
	return &keysStore{db: child, accountID: accountID}, nil
}

// verdict is what the bot decided about a room key it got other than from the sender's device.
type verdict struct {
	Source  id.KeySource
	Trusted bool
	Reason  string // why it is not trusted
}

func (k *keysStore) put(ctx context.Context, roomID id.RoomID, sessionID id.SessionID, v verdict) error {
	_, err := k.db.Exec(ctx, upsertVerdict, k.accountID, sessionID, roomID, v.Source, v.Trusted, v.Reason, time.Now().UnixMilli())
	return err
}

func (k *keysStore) get(ctx context.Context, sessionID id.SessionID) (*verdict, error) {
	var v verdict
	err := k.db.QueryRow(ctx, selectVerdict, k.accountID, sessionID).Scan(&v.Source, &v.Trusted, &v.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &v, err
}

func (k *keysStore) backupState(ctx context.Context) (version id.KeyBackupVersion, etag string, err error) {
	err = k.db.QueryRow(ctx, selectBackupState, k.accountID).Scan(&version, &etag)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	return version, etag, err
}

func (k *keysStore) setBackupState(ctx context.Context, version id.KeyBackupVersion, etag string) error {
	_, err := k.db.Exec(ctx, upsertBackupState, k.accountID, version, etag)
	return err
}

// trustPolicy decides which room keys the bot uses (see the top of this file): it judges each
// forwarded key when it arrives, remembers the sessions the bot asked for, and says why an event
// could not be decrypted.
type trustPolicy struct {
	mach        *crypto.OlmMachine
	cli         *mautrix.Client
	store       *crypto.SQLCryptoStore
	keys        *keysStore
	held        *heldStore // an event waiting for a session means the bot asked for it
	log         *slog.Logger
	stats       *Stats
	keysArrived *atomic.Bool // set when a session arrives: the held events are tried again

	requestedMu sync.Mutex
	requested   map[id.SessionID]time.Time // sessions the bot asked other devices for
}

// markRequested remembers that the bot asked for sessionID.
func (p *trustPolicy) markRequested(sessionID id.SessionID) {
	p.requestedMu.Lock()
	p.requested[sessionID] = time.Now()
	p.requestedMu.Unlock()
}

// errUntrustedKey matches the refusals; Classify holds such events (a trusted copy may still come).
var errUntrustedKey = errors.New("untrusted room key")

// untrustedError is a refusal and what happened.
type untrustedError struct{ reason string }

func (e *untrustedError) Error() string        { return errUntrustedKey.Error() + ": " + e.reason }
func (e *untrustedError) Is(target error) bool { return target == errUntrustedKey }

// notFromSender starts every refusal: the one thing all of them have in common.
const notFromSender = "the room key never reached this device from the sender's device"

// sessionReceived is called by the machine after it stored a Megolm session (or kept a better
// one it had). A forwarded session is judged here, while the bot knows whether it asked for it.
func (p *trustPolicy) sessionReceived(ctx context.Context, roomID id.RoomID, sessionID id.SessionID, _ uint32) {
	p.keysArrived.Store(true)
	sess, err := p.store.GetGroupSession(ctx, roomID, sessionID)
	if err != nil || sess == nil || sess.KeySource != id.KeySourceForward {
		return
	}
	v := p.judgeForward(ctx, sess)
	if err := p.keys.put(ctx, roomID, sessionID, v); err != nil {
		p.log.Warn("failed to remember a decision about a forwarded room key", "session_id", sessionID, "error", err)
	}
	if v.Trusted {
		p.log.Debug("accepted a forwarded room key from one of the bot's own verified devices", "room_id", roomID, "session_id", sessionID)
		return
	}
	if _, err := p.store.DB.Exec(ctx, deleteRefusedForward, p.store.AccountID, roomID, sessionID, id.KeySourceForward); err != nil {
		p.log.Warn("failed to drop a refused forwarded room key", "session_id", sessionID, "error", err)
	}
	p.stats.KeysRefused.Add(1)
	p.log.Info("refused a forwarded room key", "room_id", roomID, "session_id", sessionID, "forwarded_by", sess.SourceUser, "reason", v.Reason)
}

// judgeForward decides whether a forwarded session can be trusted: only when the bot asked for
// it and it came from one of the bot's own verified devices.
func (p *trustPolicy) judgeForward(ctx context.Context, sess *crypto.InboundGroupSession) verdict {
	v := verdict{Source: id.KeySourceForward}
	forwarder := "an unknown device"
	var device *id.Device
	if n := len(sess.ForwardingChains); n > 0 {
		key := id.IdentityKey(sess.ForwardingChains[n-1])
		if sess.SourceUser == p.cli.UserID {
			device, _ = p.mach.GetOrFetchDeviceByKey(ctx, sess.SourceUser, key)
		} else {
			device, _ = p.store.FindDeviceByKey(ctx, sess.SourceUser, key)
		}
		if device != nil {
			forwarder = "device " + string(device.DeviceID)
		}
	}
	asked := p.asked(ctx, sess.ID())
	switch {
	case sess.SourceUser != p.cli.UserID:
		v.Reason = fmt.Sprintf("%s; the only copy was forwarded by another user, %s (%s), and only the bot's own verified devices may forward room keys to it",
			notFromSender, sess.SourceUser, forwarder)
		if !asked {
			v.Reason += " (it was not even asked for)"
		}
	case device == nil:
		v.Reason = notFromSender + "; the only copy was forwarded by a device of the bot that the bot does not know"
	case !p.mach.IsDeviceTrusted(ctx, device):
		v.Reason = fmt.Sprintf("%s; the only copy was forwarded by the bot's device %s, which is not verified (cross-signed)", notFromSender, device.DeviceID)
	case !asked:
		v.Reason = fmt.Sprintf("%s; the bot's device %s forwarded a copy without being asked for it", notFromSender, device.DeviceID)
	default:
		v.Trusted = true
	}
	return v
}

// asked reports whether the bot asked for a session: since this process started, or before
// (an event waiting for it is held).
func (p *trustPolicy) asked(ctx context.Context, sessionID id.SessionID) bool {
	p.requestedMu.Lock()
	_, ok := p.requested[sessionID]
	p.requestedMu.Unlock()
	return ok || p.held.hasSession(ctx, sessionID)
}

// judgeBackupEntry decides whether a key backup entry can be trusted: only when it says that
// the device that backed it up got it from the sender's device (forwarded_count 0, no
// forwarding chain). is_verified is not used: Element (the Rust crypto) always writes false.
func judgeBackupEntry(forwardedCount int, chain []string) verdict {
	v := verdict{Source: id.KeySourceBackup, Trusted: forwardedCount == 0 && len(chain) == 0}
	if !v.Trusted {
		v.Reason = notFromSender + "; the key backup has a copy, but marked as forwarded (the device that backed it up did not get it from the sender's device either), so it is not trusted"
	}
	return v
}

// checkTrust refuses a session that decrypted evt but is not trusted (see the top of this file).
// New refused keys never reach the store; this catches those stored by older versions.
func (p *trustPolicy) checkTrust(ctx context.Context, evt *event.Event) error {
	content, ok := evt.Content.Parsed.(*event.EncryptedEventContent)
	if !ok {
		return nil
	}
	sess, err := p.store.GetGroupSession(ctx, evt.RoomID, content.SessionID)
	if err != nil || sess == nil {
		return nil
	}
	if v := p.sessionTrust(ctx, sess); !v.Trusted {
		return &untrustedError{reason: v.Reason}
	}
	return nil
}

// sessionTrust judges a stored session.
func (p *trustPolicy) sessionTrust(ctx context.Context, sess *crypto.InboundGroupSession) verdict {
	switch sess.KeySource {
	case id.KeySourceDirect:
		return verdict{Source: sess.KeySource, Trusted: true}
	case id.KeySourceForward:
		if v, err := p.keys.get(ctx, sess.ID()); err == nil && v != nil && v.Source == id.KeySourceForward {
			return *v
		}
		// Stored by an older version: judge it once.
		v := p.judgeForward(ctx, sess)
		_ = p.keys.put(ctx, sess.RoomID, sess.ID(), v)
		return v
	case id.KeySourceBackup:
		return judgeBackupEntry(0, sess.ForwardingChains)
	default:
		return verdict{Source: sess.KeySource, Reason: notFromSender + "; it was imported from a file"}
	}
}

// undecryptableReason says, for the message handed over in place of evt, why evt could not be
// decrypted (err is the last decryption error; backupUnlocked says whether the key backup could
// have had the key, wait is how long the event waited for it).
func (p *trustPolicy) undecryptableReason(ctx context.Context, evt *event.Event, err error, backupUnlocked bool, wait time.Duration) string {
	content, ok := evt.Content.Parsed.(*event.EncryptedEventContent)
	if ok && (errors.Is(err, crypto.ErrNoSessionFound) || errors.Is(err, errUntrustedKey)) {
		if v, _ := p.keys.get(ctx, content.SessionID); v != nil && !v.Trusted {
			return v.Reason
		}
	}
	var untrusted *untrustedError
	var withheld *event.RoomKeyWithheldEventContent
	switch {
	case errors.As(err, &untrusted):
		return untrusted.reason
	case errors.Is(err, crypto.ErrNoSessionFound):
		where := "the bot's other devices did not forward it and the key backup does not have it"
		if !backupUnlocked {
			where = "the bot's other devices did not forward it (the key backup is not unlocked: set recovery_key)"
		}
		return fmt.Sprintf("%s within %s: the sender's device did not share it with this device, %s", notFromSender, wait, where)
	case errors.As(err, &withheld):
		return fmt.Sprintf("the sender's device withheld the room key from this device (%s: %s)", withheld.Code, withheld.Reason)
	}
	return err.Error()
}
