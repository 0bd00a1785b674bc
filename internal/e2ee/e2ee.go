// Package e2ee gives a bot end-to-end encryption: mautrix-go's OlmMachine (pure-Go goolm) with its
// crypto store in the gateway's SQLite file, fed from the gateway's own /sync loop.
//
// What it adds to the OlmMachine: a fallback key is published and replaced when used, new inbound
// Megolm sessions are uploaded to the server-side key backup, the backup is unlocked with the
// recovery key (or the Secret Storage passphrase) which also cross-signs the bot's device, a room
// key sharing policy (encryption_sharing_strategy), forwarded keys are only trusted from the bot's
// own verified devices and only for sessions it asked for, and backed-up keys only when the backup
// marks them as not forwarded; untrusted keys are neither used nor backed up (see trust.go), and
// events that cannot be decrypted yet are kept in the database until their key arrives (held.go).
package e2ee

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Options configure a Machine.
type Options struct {
	// Client is the bot's logged-in client: UserID and DeviceID are set.
	Client *mautrix.Client
	// DB is the gateway's database; the crypto tables live in it (crypto_version).
	DB *dbutil.Database
	// StateStore tracks room encryption and members (the gateway's sqlstatestore).
	StateStore crypto.StateStore
	// PickleKey encrypts the Olm and Megolm state at rest.
	PickleKey []byte

	RecoveryKey             string // recovery_key / recovery_code
	SecretStoragePassphrase string // secret_storage_passphrase
	SharingStrategy         string // encryption_sharing_strategy
	BackupDownloadStrategy  string // backup_download_strategy

	// UndecryptableWait is how long an event waits for its key before it is delivered as
	// undecryptable (default DefaultUndecryptableWait).
	UndecryptableWait time.Duration

	Logger *slog.Logger
}

// DefaultUndecryptableWait is how long an undecryptable event waits for its key by default.
const DefaultUndecryptableWait = 60 * time.Second

// Sharing strategies (encryption_sharing_strategy): which devices receive the bot's room keys.
// Excluded devices get an m.room_key.withheld (code m.unverified) instead.
const (
	ShareAllDevices       = "all_devices"              // every device of every member (the default)
	ShareCrossSignedOnly  = "cross_signed_only"        // devices their owner cross-signed
	ShareVerifiedOnly     = "verified_only"            // devices cross-signed by an identity the bot verified
	BackupDownloadDefault = ""                         // with a recovery key: what is new in the backup at start, then per failure
	BackupOneShot         = "one_shot"                 // the whole backup once at start
	BackupOnFailure       = "after_decryption_failure" // only the session an event needs, when it needs it
	BackupManual          = "manual"                   // never download automatically
)

// SharingStrategies and BackupDownloadStrategies list the accepted values, for config checks.
var (
	SharingStrategies        = []string{ShareAllDevices, ShareCrossSignedOnly, ShareVerifiedOnly}
	BackupDownloadStrategies = []string{BackupDownloadDefault, BackupOneShot, BackupOnFailure, BackupManual}
)

var (
	// ErrDeviceTaken means the token's device already has encryption keys that this gateway
	// does not hold: the token was copied from another client.
	ErrDeviceTaken = errors.New("the device of this access token already has end-to-end encryption keys from another client")
	// ErrStoreLost means this gateway created the device's keys, but its crypto store no longer
	// has them (the database was replaced or reset).
	ErrStoreLost = errors.New("the crypto store of this device is lost")
	// ErrPickleKey means the crypto store cannot be read with the configured pickle key: it was
	// written with another one (the key was changed or lost). Like ErrStoreLost, it is recovered
	// on a new device when the bot can log in again and unlock the key backup.
	ErrPickleKey = errors.New("the crypto store cannot be decrypted with this pickle key")
)

// deviceDisplayName marks devices whose keys this gateway created, so that a lost store can be
// told apart from a token copied from another client.
const deviceDisplayName = "Matrix OneBot gateway"

// Machine is one bot's end-to-end encryption. It implements mautrix.CryptoHelper, so that the
// client encrypts whatever it sends into an encrypted room.
//
// The Machine feeds the OlmMachine and hands the rest to its collaborators, each a type of its
// own: the held events (heldStore), the key backup (keyBackup), the room key trust policy
// (trustPolicy), the room key sharing policy (keySharing) and the device's own keys
// (deviceKeys).
type Machine struct {
	opts  Options
	log   *slog.Logger
	cli   *mautrix.Client
	mach  *crypto.OlmMachine
	store *crypto.SQLCryptoStore
	held  *heldStore

	backup  *keyBackup
	trust   *trustPolicy
	sharing *keySharing
	device  *deviceKeys

	keysArrived atomic.Bool // a Megolm session arrived since the held events were last tried

	stats Stats
}

// Stats are counters since the process started.
type Stats struct {
	Decrypted      atomic.Int64 // events decrypted at once
	Held           atomic.Int64 // events held because their key was missing
	Recovered      atomic.Int64 // held events decrypted after their key arrived
	Undecryptable  atomic.Int64 // events delivered as undecryptable
	BackupImported atomic.Int64 // sessions imported from the key backup
	BackupUploaded atomic.Int64 // sessions uploaded to the key backup
	KeysRefused    atomic.Int64 // room keys refused as untrusted (forwarded by others, or marked forwarded in the backup)
	// OTKCount is the device's signed_curve25519 one-time keys on the server at the last
	// /sync (-1 before the first).
	OTKCount atomic.Int64
}

var _ mautrix.CryptoHelper = (*Machine)(nil)

// New opens the bot's crypto store and makes sure the device's keys are on the server. It fails
// with ErrDeviceTaken, ErrStoreLost or ErrPickleKey (wrapped, with what to do) when the device
// cannot be used.
func New(ctx context.Context, opts Options) (*Machine, error) {
	if opts.Client == nil || opts.Client.UserID == "" || opts.Client.DeviceID == "" {
		return nil, errors.New("end-to-end encryption needs a logged-in client with a device ID")
	}
	if len(opts.PickleKey) == 0 {
		return nil, errors.New("end-to-end encryption needs a pickle key")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.UndecryptableWait <= 0 {
		opts.UndecryptableWait = DefaultUndecryptableWait
	}
	cli := opts.Client
	m := &Machine{
		opts: opts,
		log:  opts.Logger.With("device_id", cli.DeviceID),
		cli:  cli,
	}
	m.stats.OTKCount.Store(-1)
	zl := newZerolog(m.log)
	// One account per bot device: a token for a new device starts a new Olm account and keeps the
	// old device's rows (its Megolm sessions stay readable for nobody but are not destroyed).
	accountID := cryptoAccountID(cli.UserID, cli.DeviceID)
	st, err := openStores(ctx, opts.DB, dbutil.ZeroLogger(zl), accountID, cli.DeviceID, opts.PickleKey)
	if err != nil {
		return nil, err
	}
	m.store, m.held = st.crypto, st.held
	m.mach = crypto.NewOlmMachine(cli, &zl, m.store, opts.StateStore)
	m.wire(st.keys)
	if err := m.mach.Load(ctx); err != nil {
		m.mach.Destroy()
		if errors.Is(err, olm.ErrBadMAC) {
			return nil, fmt.Errorf("%w: the keys of device %s were written with another pickle key (GATEWAY_PICKLE_KEY, or the key file next to GATEWAY_DATABASE, was changed or lost); "+
				"restore the pickle key the database was written with, or %s", ErrPickleKey, cli.DeviceID, lostAdvice)
		}
		return nil, fmt.Errorf("failed to load the crypto account of device %s: %w", cli.DeviceID, err)
	}
	if err := m.device.checkServerKeys(ctx); err != nil {
		m.mach.Destroy()
		return nil, err
	}
	if err := m.device.ensureFallbackKey(ctx, false); err != nil {
		m.log.Warn("failed to publish a fallback key", "error", err)
	}
	return m, nil
}

// wire makes the machine's collaborators, on its OlmMachine and stores, and hooks them into the
// OlmMachine (the sharing policy answers key requests, the trust policy judges arriving keys).
func (m *Machine) wire(keys *keysStore) {
	m.device = &deviceKeys{mach: m.mach, cli: m.cli, store: m.store, log: m.log}
	m.trust = &trustPolicy{
		mach: m.mach, cli: m.cli, store: m.store, keys: keys, held: m.held, log: m.log, stats: &m.stats,
		keysArrived: &m.keysArrived, requested: map[id.SessionID]time.Time{},
	}
	m.backup = &keyBackup{
		mach: m.mach, cli: m.cli, store: m.store, keys: keys, trust: m.trust, strategy: m.opts.BackupDownloadStrategy,
		log: m.log, stats: &m.stats, keysArrived: &m.keysArrived,
	}
	m.sharing = newKeySharing(m.mach, m.cli, m.store, m.opts.StateStore, m.opts.SharingStrategy, m.log)
	m.mach.SessionReceived = m.trust.sessionReceived
}

// Stats returns the machine's counters.
func (m *Machine) Stats() *Stats { return &m.stats }

// LogValue implements slog.LogValuer: the counters, for the log lines about held events.
func (s *Stats) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("decrypted", s.Decrypted.Load()), slog.Int64("held", s.Held.Load()),
		slog.Int64("recovered", s.Recovered.Load()), slog.Int64("undecryptable", s.Undecryptable.Load()),
		slog.Int64("backup_imported", s.BackupImported.Load()), slog.Int64("backup_uploaded", s.BackupUploaded.Load()),
		slog.Int64("keys_refused", s.KeysRefused.Load()),
	)
}

// OlmMachine returns the underlying mautrix machine (for tests).
func (m *Machine) OlmMachine() *crypto.OlmMachine { return m.mach }

// Init implements mautrix.CryptoHelper; New did the work.
func (m *Machine) Init(context.Context) error { return nil }

// Encrypt implements mautrix.CryptoHelper: it encrypts content for roomID, sharing a new Megolm
// session with the room's members first when needed.
func (m *Machine) Encrypt(ctx context.Context, roomID id.RoomID, evtType event.Type, content any) (*event.EncryptedEventContent, error) {
	encrypted, err := m.mach.EncryptMegolmEvent(ctx, roomID, evtType, content)
	if err == nil || !crypto.IsShareError(err) && !errors.Is(err, crypto.ErrSessionExpired) && !errors.Is(err, crypto.ErrSessionNotShared) {
		return encrypted, err
	}
	users, err := m.cli.StateStore.GetRoomJoinedOrInvitedMembers(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("failed to get the members of %s: %w", roomID, err)
	}
	if err := m.mach.ShareGroupSession(ctx, roomID, users); err != nil {
		return nil, fmt.Errorf("failed to share a room key in %s: %w", roomID, err)
	}
	return m.mach.EncryptMegolmEvent(ctx, roomID, evtType, content)
}

// Decrypt implements mautrix.CryptoHelper.
func (m *Machine) Decrypt(ctx context.Context, evt *event.Event) (*event.Event, error) {
	dec, err := m.mach.DecryptMegolmEvent(ctx, evt)
	if err != nil {
		return nil, err
	}
	if err := m.trust.checkTrust(ctx, evt); err != nil { // trust.go
		return nil, err
	}
	return dec, nil
}

// WaitForSession implements mautrix.CryptoHelper.
func (m *Machine) WaitForSession(ctx context.Context, roomID id.RoomID, senderKey id.SenderKey, sessionID id.SessionID, timeout time.Duration) bool {
	return m.mach.WaitForSession(ctx, roomID, senderKey, sessionID, timeout)
}

// RequestSession implements mautrix.CryptoHelper: it asks the sender's device and the bot's own
// devices for a Megolm session, and remembers that it asked.
func (m *Machine) RequestSession(ctx context.Context, roomID id.RoomID, senderKey id.SenderKey, sessionID id.SessionID, userID id.UserID, deviceID id.DeviceID) {
	if deviceID == "" {
		deviceID = "*"
	}
	m.trust.markRequested(sessionID)
	err := m.mach.SendRoomKeyRequest(ctx, roomID, senderKey, sessionID, "", map[id.UserID][]id.DeviceID{
		userID: {deviceID}, m.cli.UserID: {"*"},
	})
	if err != nil {
		m.log.Warn("failed to request a room key", "room_id", roomID, "session_id", sessionID, "error", err)
	}
}

// UndecryptableReason says, for the message handed over in place of evt, why evt could not be
// decrypted (err is the last decryption error).
func (m *Machine) UndecryptableReason(ctx context.Context, evt *event.Event, err error) string {
	key, _ := m.backup.current()
	return m.trust.undecryptableReason(ctx, evt, err, key != nil, m.opts.UndecryptableWait)
}

// Close stops the machine's background work.
func (m *Machine) Close() {
	m.mach.Destroy()
}

// stores are one bot account's tables in the shared database.
type stores struct {
	crypto *crypto.SQLCryptoStore
	held   *heldStore
	keys   *keysStore
}

// openStores opens one bot account's crypto store, held events and room key verdicts. Their
// tables are shared by every bot: Prepare creates them first, so that this only finds them up
// to date.
func openStores(ctx context.Context, db *dbutil.Database, log dbutil.DatabaseLogger, accountID string, deviceID id.DeviceID, pickleKey []byte) (*stores, error) {
	st := &stores{crypto: crypto.NewSQLCryptoStore(db, log, accountID, deviceID, pickleKey)}
	if err := st.crypto.DB.Upgrade(ctx); err != nil {
		return nil, fmt.Errorf("failed to prepare the crypto store: %w", err)
	}
	var err error
	if st.held, err = openHeld(ctx, db, accountID); err != nil {
		return nil, err
	}
	if st.keys, err = openKeys(ctx, db, accountID); err != nil {
		return nil, err
	}
	return st, nil
}

// Prepare creates or upgrades the tables of end-to-end encryption in db: mautrix's crypto store
// (crypto_version), the held events and the room key verdicts. Run it once per process before
// any bot starts: every bot shares these tables, and bots upgrading them at the same time race
// (the loser fails with "table … already exists"). New then finds them up to date.
func Prepare(ctx context.Context, db *dbutil.Database) error {
	_, err := openStores(ctx, db, dbutil.NoopLogger, "", "", nil)
	return err
}
