package e2ee

import (
	"context"
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/backup"
	"maunium.net/go/mautrix/crypto/ssss"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// ErrRecovery wraps failures to use the configured recovery key or passphrase.
var ErrRecovery = errors.New("failed to unlock secret storage")

// Recover unlocks Secret Storage with the recovery key (or the passphrase), imports the
// cross-signing keys and signs the bot's device with them (other users then see it verified),
// and unlocks the key backup: it is downloaded per backup_download_strategy, and new room keys
// are uploaded to it from now on. Without a recovery key or passphrase it does nothing.
func (m *Machine) Recover(ctx context.Context) error {
	if m.opts.RecoveryKey == "" && m.opts.SecretStoragePassphrase == "" {
		return nil
	}
	key, err := unlockSSSS(ctx, m.mach, m.opts.RecoveryKey, m.opts.SecretStoragePassphrase)
	if err != nil {
		return err
	}
	m.device.crossSign(ctx, key)
	return m.backup.open(ctx, key)
}

// keyBackup is the server-side key backup: unlocked with the key from Secret Storage, it is
// downloaded per backup_download_strategy, looked up for the sessions of held events, and new
// trusted room keys are uploaded to it.
type keyBackup struct {
	mach        *crypto.OlmMachine
	cli         *mautrix.Client
	store       *crypto.SQLCryptoStore
	keys        *keysStore   // the backup state (version, etag) and the verdicts on backed-up keys
	trust       *trustPolicy // only trusted keys are uploaded
	strategy    string       // backup_download_strategy
	log         *slog.Logger
	stats       *Stats
	keysArrived *atomic.Bool // set when a session is imported: the held events are tried again

	mu      sync.Mutex
	key     *backup.MegolmBackupKey // nil until unlocked
	version id.KeyBackupVersion

	pollMu   sync.Mutex
	nextPoll time.Time // the key backup is looked at again for held events after this
	etag     string    // the backup's etag when it was last looked at for held events
}

// open unlocks the key backup with the backup key in Secret Storage, downloads it per the
// strategy and uploads the room keys it lacks.
func (b *keyBackup) open(ctx context.Context, key *ssss.Key) error {
	secret, err := b.mach.SSSS.GetDecryptedAccountData(ctx, event.AccountDataMegolmBackupKey, key)
	if err != nil {
		b.log.Warn("secret storage has no key backup key; no backup download or upload", "error", err)
		return nil
	}
	backupKey, err := backup.MegolmBackupKeyFromBytes(secret)
	if err != nil {
		return fmt.Errorf("%w: the key backup key in secret storage is malformed: %v", ErrRecovery, err)
	}
	info, err := b.mach.GetAndVerifyLatestKeyBackupVersion(ctx, backupKey)
	if err != nil {
		return fmt.Errorf("failed to find the key backup: %w", err)
	}
	if info == nil {
		b.log.Warn("there is no key backup on the server")
		return nil
	}
	b.mu.Lock()
	b.key, b.version = backupKey, info.Version
	b.mu.Unlock()
	if err := b.mach.SetKeyBackupVersion(ctx, info.Version); err != nil {
		b.log.Warn("failed to remember the key backup version", "error", err)
	}
	switch b.strategy {
	case BackupDownloadDefault, BackupOneShot:
		if err := b.download(ctx, info, backupKey); err != nil {
			b.log.Warn("failed to download the key backup", "error", err)
		}
	}
	b.upload(ctx)
	return nil
}

// current returns the backup key (nil while locked) and version.
func (b *keyBackup) current() (*backup.MegolmBackupKey, id.KeyBackupVersion) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.key, b.version
}

// unlockSSSS returns the default Secret Storage key, from the recovery key or the passphrase.
func unlockSSSS(ctx context.Context, mach *crypto.OlmMachine, recoveryKey, passphrase string) (*ssss.Key, error) {
	keyID, keyData, err := mach.SSSS.GetDefaultKeyData(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: the account has no secret storage (set it up in Element: Settings → Security → Recovery): %v", ErrRecovery, err)
	}
	if recoveryKey != "" {
		key, err := keyData.VerifyRecoveryKey(keyID, strings.TrimSpace(recoveryKey))
		if err != nil && !errors.Is(err, ssss.ErrUnverifiableKey) {
			return nil, fmt.Errorf("%w: recovery_key does not unlock secret storage (check it, or set secret_storage_passphrase): %v", ErrRecovery, err)
		}
		return key, nil
	}
	if keyData.Passphrase == nil {
		return nil, fmt.Errorf("%w: secret storage has no passphrase; set recovery_key instead of secret_storage_passphrase", ErrRecovery)
	}
	key, err := keyData.VerifyPassphrase(keyID, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%w: secret_storage_passphrase does not unlock secret storage: %v", ErrRecovery, err)
	}
	return key, nil
}

// download imports the room keys of the backup that the store does not have yet. A backup
// whose etag did not change since the last full import is not downloaded at all.
func (b *keyBackup) download(ctx context.Context, info *mautrix.RespRoomKeysVersion[backup.MegolmAuthData], key *backup.MegolmBackupKey) error {
	lastVersion, lastETag, err := b.keys.backupState(ctx)
	if err != nil {
		b.log.Warn("failed to read the key backup state; downloading the whole backup", "error", err)
	}
	if info.ETag != "" && lastVersion == info.Version && lastETag == info.ETag {
		b.log.Info("restored room keys from the key backup", "version", info.Version, "imported", 0, "unchanged", true)
		return nil
	}
	keys, err := b.cli.GetKeyBackup(ctx, info.Version)
	if err != nil {
		return err
	}
	var n importCounts
	for roomID, room := range keys.Rooms {
		for sessionID, data := range room.Sessions {
			n.add(b.importEntry(ctx, info.Version, key, roomID, sessionID, &data))
		}
	}
	b.log.Info("restored room keys from the key backup", "version", info.Version, "imported", n[imported],
		"already_had", n[alreadyHad], "untrusted", n[refused], "failed", n[failed], "unchanged", false)
	if n[failed] == 0 {
		if err := b.keys.setBackupState(ctx, info.Version, info.ETag); err != nil {
			b.log.Warn("failed to remember the key backup state", "error", err)
		}
	}
	return nil
}

// importOutcome is what became of one key backup entry.
type importOutcome int

const (
	imported   importOutcome = iota // a new room key
	alreadyHad                      // the store has it, from the same or an earlier message index
	refused                         // marked forwarded: not trusted, not imported
	failed                          // could not be decrypted or stored
)

type importCounts [4]int

func (c *importCounts) add(o importOutcome) { c[o]++ }

// importEntry imports one key backup entry, unless the store already has the session from
// the same or an earlier message index, or the entry is not trusted (judgeBackupEntry).
func (b *keyBackup) importEntry(ctx context.Context, version id.KeyBackupVersion, key *backup.MegolmBackupKey, roomID id.RoomID,
	sessionID id.SessionID, entry *mautrix.RespKeyBackupData[backup.EncryptedSessionData[backup.MegolmSessionData]]) importOutcome {
	if have, err := b.store.GetGroupSession(ctx, roomID, sessionID); err == nil && have != nil &&
		int64(have.Internal.FirstKnownIndex()) <= int64(entry.FirstMessageIndex) {
		return alreadyHad
	}
	data, err := entry.SessionData.Decrypt(key)
	if err != nil {
		b.log.Debug("failed to decrypt a backed-up room key", "room_id", roomID, "session_id", sessionID, "error", err)
		return failed
	}
	if v := judgeBackupEntry(entry.ForwardedCount, data.ForwardingKeyChain); !v.Trusted {
		if old, _ := b.keys.get(ctx, sessionID); old != nil && !old.Trusted && old.Source == id.KeySourceBackup {
			return refused // decided before
		}
		if err := b.keys.put(ctx, roomID, sessionID, v); err != nil {
			b.log.Warn("failed to remember a decision about a backed-up room key", "session_id", sessionID, "error", err)
		}
		b.stats.KeysRefused.Add(1)
		b.log.Debug("did not import a room key that the key backup marks as forwarded", "room_id", roomID, "session_id", sessionID,
			"forwarded_count", entry.ForwardedCount, "is_verified", entry.IsVerified)
		return refused
	}
	if _, err := b.mach.ImportRoomKeyFromBackup(ctx, version, roomID, sessionID, data); err != nil {
		b.log.Debug("failed to import a backed-up room key", "room_id", roomID, "session_id", sessionID, "error", err)
		return failed
	}
	b.stats.BackupImported.Add(1)
	b.keysArrived.Store(true)
	return imported
}

// fetch looks one session up in the key backup (after a decryption failure), when the
// backup is unlocked and the strategy allows it. It reports whether the session was imported.
func (b *keyBackup) fetch(ctx context.Context, roomID id.RoomID, sessionID id.SessionID) bool {
	key, version := b.current()
	if key == nil || b.strategy == BackupManual || b.strategy == BackupOneShot {
		return false
	}
	resp, err := b.cli.GetKeyBackupForRoomAndSession(ctx, version, roomID, sessionID)
	if err != nil {
		if !errors.Is(err, mautrix.MNotFound) {
			b.log.Debug("failed to look a room key up in the backup", "session_id", sessionID, "error", err)
		}
		return false
	}
	return b.importEntry(ctx, version, key, roomID, sessionID, resp) == imported
}

// upload uploads the inbound Megolm sessions that are not in the current backup yet.
func (b *keyBackup) upload(ctx context.Context) {
	key, version := b.current()
	if key == nil {
		return
	}
	sessions, err := b.store.GetGroupSessionsWithoutKeyBackupVersion(ctx, version).AsList()
	if err != nil {
		b.log.Warn("failed to list room keys to back up", "error", err)
		return
	}
	if len(sessions) == 0 {
		return
	}
	pub := key.PublicKey()
	req := &mautrix.ReqKeyBackup{Rooms: map[id.RoomID]mautrix.ReqRoomKeyBackup{}}
	var uploaded []id.SessionID
	for _, sess := range sessions {
		// Never back up a key the bot would not trust: after a lost store it would come back from
		// the backup as if it were good.
		if v := b.trust.sessionTrust(ctx, sess); !v.Trusted {
			continue
		}
		// forwarded_count says whether the key came straight from the sender's device (0) or not
		// (as Element writes it); a key never gains trust by going through the backup.
		forwarded := len(sess.ForwardingChains)
		if sess.KeySource != id.KeySourceDirect {
			forwarded = max(forwarded, 1)
		}
		data, err := backupData(pub, sess.Internal.FirstKnownIndex(), func(i uint32) ([]byte, error) { return sess.Internal.Export(i) },
			sess.SenderKey, sess.SigningKey, sess.ForwardingChains, sess.SharedHistory, forwarded, sess.KeySource == id.KeySourceDirect)
		if err != nil {
			b.log.Warn("failed to prepare a room key for the backup", "session_id", sess.ID(), "error", err)
			continue
		}
		room := req.Rooms[sess.RoomID]
		if room.Sessions == nil {
			room.Sessions = map[id.SessionID]mautrix.ReqKeyBackupData{}
		}
		room.Sessions[sess.ID()] = *data
		req.Rooms[sess.RoomID] = room
		uploaded = append(uploaded, sess.ID())
	}
	if len(uploaded) == 0 {
		return
	}
	if _, err := b.cli.PutKeysInBackup(ctx, version, req); err != nil {
		b.log.Warn("failed to upload room keys to the backup", "count", len(uploaded), "error", err)
		return
	}
	for _, sid := range uploaded {
		if err := b.store.SetGroupSessionKeyBackupVersion(ctx, sid, version); err != nil {
			b.log.Warn("failed to mark a room key as backed up", "session_id", sid, "error", err)
		}
	}
	b.stats.BackupUploaded.Add(int64(len(uploaded)))
	b.log.Debug("uploaded room keys to the backup", "count", len(uploaded), "version", version)
}

// backupData encrypts one session for the backup (m.megolm_backup.v1.curve25519-aes-sha2).
func backupData(pub *ecdh.PublicKey, firstIndex uint32, export func(uint32) ([]byte, error), senderKey id.SenderKey,
	signingKey id.Ed25519, chains []string, sharedHistory *bool, forwardedCount int, verified bool) (*mautrix.ReqKeyBackupData, error) {
	sessionKey, err := export(firstIndex)
	if err != nil {
		return nil, fmt.Errorf("failed to export the session: %w", err)
	}
	if chains == nil {
		chains = []string{}
	}
	enc, err := backup.EncryptSessionDataWithPubkey(pub, backup.MegolmSessionData{
		Algorithm: id.AlgorithmMegolmV1, ForwardingKeyChain: chains,
		SenderClaimedKeys: backup.SenderClaimedKeys{Ed25519: signingKey}, SenderKey: senderKey,
		SessionKey: string(sessionKey), SharedHistory: sharedHistory,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to encrypt the session: %w", err)
	}
	raw, err := json.Marshal(enc)
	if err != nil {
		return nil, err
	}
	return &mautrix.ReqKeyBackupData{
		FirstMessageIndex: int(firstIndex), ForwardedCount: forwardedCount, IsVerified: verified, SessionData: raw,
	}, nil
}
