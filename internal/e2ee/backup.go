package e2ee

import (
	"context"
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"maunium.net/go/mautrix"
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
	key, err := m.unlockSSSS(ctx)
	if err != nil {
		return err
	}
	if err := m.mach.FetchCrossSigningKeysFromSSSS(ctx, key); err != nil {
		m.log.Warn("secret storage has no usable cross-signing keys; the device stays unverified", "error", err)
	} else if err := m.mach.SignOwnDevice(ctx, m.mach.OwnIdentity()); err != nil {
		m.log.Warn("failed to cross-sign the bot's device", "error", err)
	} else {
		if err := m.mach.SignOwnMasterKey(ctx); err != nil {
			m.log.Debug("failed to sign the master key with the device", "error", err)
		}
		m.log.Info("the bot's device is cross-signed (verified)")
	}
	secret, err := m.mach.SSSS.GetDecryptedAccountData(ctx, event.AccountDataMegolmBackupKey, key)
	if err != nil {
		m.log.Warn("secret storage has no key backup key; no backup download or upload", "error", err)
		return nil
	}
	backupKey, err := backup.MegolmBackupKeyFromBytes(secret)
	if err != nil {
		return fmt.Errorf("%w: the key backup key in secret storage is malformed: %v", ErrRecovery, err)
	}
	info, err := m.mach.GetAndVerifyLatestKeyBackupVersion(ctx, backupKey)
	if err != nil {
		return fmt.Errorf("failed to find the key backup: %w", err)
	}
	if info == nil {
		m.log.Warn("there is no key backup on the server")
		return nil
	}
	m.backupMu.Lock()
	m.backupKey, m.backupVersion = backupKey, info.Version
	m.backupMu.Unlock()
	if err := m.mach.SetKeyBackupVersion(ctx, info.Version); err != nil {
		m.log.Warn("failed to remember the key backup version", "error", err)
	}
	switch m.opts.BackupDownloadStrategy {
	case BackupDownloadDefault, BackupOneShot:
		if err := m.downloadBackup(ctx, info.Version, backupKey); err != nil {
			m.log.Warn("failed to download the key backup", "error", err)
		}
	}
	m.uploadBackup(ctx)
	return nil
}

// unlockSSSS returns the default Secret Storage key, from the recovery key or the passphrase.
func (m *Machine) unlockSSSS(ctx context.Context) (*ssss.Key, error) {
	keyID, keyData, err := m.mach.SSSS.GetDefaultKeyData(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: the account has no secret storage (set it up in Element: Settings → Security → Recovery): %v", ErrRecovery, err)
	}
	if m.opts.RecoveryKey != "" {
		key, err := keyData.VerifyRecoveryKey(keyID, strings.TrimSpace(m.opts.RecoveryKey))
		if err != nil && !errors.Is(err, ssss.ErrUnverifiableKey) {
			return nil, fmt.Errorf("%w: recovery_key does not unlock secret storage (check it, or set secret_storage_passphrase): %v", ErrRecovery, err)
		}
		return key, nil
	}
	if keyData.Passphrase == nil {
		return nil, fmt.Errorf("%w: secret storage has no passphrase; set recovery_key instead of secret_storage_passphrase", ErrRecovery)
	}
	key, err := keyData.VerifyPassphrase(keyID, m.opts.SecretStoragePassphrase)
	if err != nil {
		return nil, fmt.Errorf("%w: secret_storage_passphrase does not unlock secret storage: %v", ErrRecovery, err)
	}
	return key, nil
}

func (m *Machine) downloadBackup(ctx context.Context, version id.KeyBackupVersion, key *backup.MegolmBackupKey) error {
	keys, err := m.cli.GetKeyBackup(ctx, version)
	if err != nil {
		return err
	}
	var imported, failed int
	for roomID, room := range keys.Rooms {
		for sessionID, data := range room.Sessions {
			if m.importBackupSession(ctx, version, key, roomID, sessionID, &data.SessionData) {
				imported++
			} else {
				failed++
			}
		}
	}
	m.log.Info("restored room keys from the key backup", "version", version, "imported", imported, "failed", failed)
	return nil
}

func (m *Machine) importBackupSession(ctx context.Context, version id.KeyBackupVersion, key *backup.MegolmBackupKey, roomID id.RoomID, sessionID id.SessionID, enc *backup.EncryptedSessionData[backup.MegolmSessionData]) bool {
	data, err := enc.Decrypt(key)
	if err != nil {
		m.log.Debug("failed to decrypt a backed-up room key", "room_id", roomID, "session_id", sessionID, "error", err)
		return false
	}
	if _, err := m.mach.ImportRoomKeyFromBackup(ctx, version, roomID, sessionID, data); err != nil {
		m.log.Debug("failed to import a backed-up room key", "room_id", roomID, "session_id", sessionID, "error", err)
		return false
	}
	m.stats.BackupImported.Add(1)
	m.keysArrived.Store(true)
	return true
}

// fetchFromBackup looks one session up in the key backup (after a decryption failure), when the
// backup is unlocked and the strategy allows it. It reports whether the session was imported.
func (m *Machine) fetchFromBackup(ctx context.Context, roomID id.RoomID, sessionID id.SessionID) bool {
	m.backupMu.Lock()
	key, version := m.backupKey, m.backupVersion
	m.backupMu.Unlock()
	if key == nil || m.opts.BackupDownloadStrategy == BackupManual || m.opts.BackupDownloadStrategy == BackupOneShot {
		return false
	}
	resp, err := m.cli.GetKeyBackupForRoomAndSession(ctx, version, roomID, sessionID)
	if err != nil {
		if !errors.Is(err, mautrix.MNotFound) {
			m.log.Debug("failed to look a room key up in the backup", "session_id", sessionID, "error", err)
		}
		return false
	}
	return m.importBackupSession(ctx, version, key, roomID, sessionID, &resp.SessionData)
}

// uploadBackup uploads the inbound Megolm sessions that are not in the current backup yet.
func (m *Machine) uploadBackup(ctx context.Context) {
	m.backupMu.Lock()
	key, version := m.backupKey, m.backupVersion
	m.backupMu.Unlock()
	if key == nil {
		return
	}
	sessions, err := m.store.GetGroupSessionsWithoutKeyBackupVersion(ctx, version).AsList()
	if err != nil {
		m.log.Warn("failed to list room keys to back up", "error", err)
		return
	}
	if len(sessions) == 0 {
		return
	}
	pub := key.PublicKey()
	req := &mautrix.ReqKeyBackup{Rooms: map[id.RoomID]mautrix.ReqRoomKeyBackup{}}
	var uploaded []id.SessionID
	for _, sess := range sessions {
		data, err := backupData(pub, sess.Internal.FirstKnownIndex(), func(i uint32) ([]byte, error) { return sess.Internal.Export(i) },
			sess.SenderKey, sess.SigningKey, sess.ForwardingChains, sess.SharedHistory, sess.KeySource == id.KeySourceDirect)
		if err != nil {
			m.log.Warn("failed to prepare a room key for the backup", "session_id", sess.ID(), "error", err)
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
	if _, err := m.cli.PutKeysInBackup(ctx, version, req); err != nil {
		m.log.Warn("failed to upload room keys to the backup", "count", len(uploaded), "error", err)
		return
	}
	for _, sid := range uploaded {
		if err := m.store.SetGroupSessionKeyBackupVersion(ctx, sid, version); err != nil {
			m.log.Warn("failed to mark a room key as backed up", "session_id", sid, "error", err)
		}
	}
	m.stats.BackupUploaded.Add(int64(len(uploaded)))
	m.log.Debug("uploaded room keys to the backup", "count", len(uploaded), "version", version)
}

// backupData encrypts one session for the backup (m.megolm_backup.v1.curve25519-aes-sha2).
func backupData(pub *ecdh.PublicKey, firstIndex uint32, export func(uint32) ([]byte, error), senderKey id.SenderKey,
	signingKey id.Ed25519, chains []string, sharedHistory *bool, verified bool) (*mautrix.ReqKeyBackupData, error) {
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
		FirstMessageIndex: int(firstIndex), ForwardedCount: len(chains), IsVerified: verified, SessionData: raw,
	}, nil
}
