package crypt

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/e2ee"
	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Device is a bot's end-to-end encryption device: the e2ee machine, set up after login (Init).
type Device struct {
	acct      *account.Account
	pickleKey []byte        // nil turns end-to-end encryption off
	wait      time.Duration // GATEWAY_UNDECRYPTABLE_WAIT

	machine *e2ee.Machine // nil when the bot does not encrypt; set by Init before the first sync
	// stats are the machine's counters, for /metrics (read from other goroutines).
	stats atomic.Pointer[e2ee.Stats]
	// shown is the machine for other goroutines (the admin page: Status).
	shown atomic.Pointer[e2ee.Machine]

	// plaintextDropped counts the unencrypted messages dropped in encrypted rooms
	// (e2ee_plaintext_dropped_total; see matrix.plaintextGuard).
	plaintextDropped atomic.Int64

	removeSource func() // takes the counters out of /metrics (Close)
}

// CountPlaintextDropped counts an unencrypted message dropped in an encrypted room.
func (d *Device) CountPlaintextDropped() { d.plaintextDropped.Add(1) }

// NewDevice returns the encryption device of acct's bot; pickleKey encrypts the crypto store
// (nil: no encryption), undecryptableWait is how long an event waits for its key. Its counters
// are on /metrics.
func NewDevice(acct *account.Account, pickleKey []byte, undecryptableWait time.Duration) *Device {
	d := &Device{acct: acct, pickleKey: pickleKey, wait: undecryptableWait}
	d.removeSource = acct.Metrics.AddSource(d.metricSamples)
	return d
}

// Close takes the device's counters out of /metrics (a bot removed while the gateway runs).
func (d *Device) Close() { d.removeSource() }

// Enabled tells whether this bot does end-to-end encryption: on for every bot with a device
// ID unless e2ee is false.
func (d *Device) Enabled() bool {
	return d.acct.Config.E2EE && len(d.pickleKey) > 0 && d.acct.Client().DeviceID != ""
}

// EncryptsNewRooms tells whether rooms the bot creates are encrypted by default: when the bot
// does end-to-end encryption (or will, once it is set up).
func (d *Device) EncryptsNewRooms() bool { return d.machine != nil || d.Enabled() }

// Machine returns the bot's encryption machine, nil when the bot does not encrypt. Only the
// sync loop and the sends it allows may call it; other goroutines use Status.
func (d *Device) Machine() *e2ee.Machine { return d.machine }

// Status is the bot's encryption status for the admin page; ok is false while the bot has no
// encryption machine. Any goroutine may call it.
func (d *Device) Status(ctx context.Context) (st e2ee.Status, ok bool) {
	m := d.shown.Load()
	if m == nil {
		return st, false
	}
	return m.Status(ctx), true
}

// Init sets up end-to-end encryption after login. Its errors are fatal for the bot: they say
// what the operator must change.
func (d *Device) Init(ctx context.Context) error {
	client, log := d.acct.Client(), d.acct.Log()
	if d.machine != nil || !d.Enabled() {
		if d.acct.Config.E2EE && client.DeviceID == "" {
			log.Warn("end-to-end encryption is off: the homeserver gave no device ID for this token")
		}
		return nil
	}
	m, err := d.newMachine(ctx)
	var lostDevice id.DeviceID // set when the store was lost and the bot moved to a new device
	var lost error             // why: ErrStoreLost or ErrPickleKey
	if (errors.Is(err, e2ee.ErrStoreLost) || errors.Is(err, e2ee.ErrPickleKey)) && d.canRecoverLostStore() {
		lostDevice, lost = client.DeviceID, err
		m, err = d.recoverLostStore(ctx, err)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, e2ee.ErrDeviceTaken) || errors.Is(err, e2ee.ErrStoreLost) || errors.Is(err, e2ee.ErrPickleKey) {
			err = fmt.Errorf("%w: %w", account.ErrFatal, err)
			d.acct.SetStatus(model.StateStopped, err.Error())
			return err
		}
		return fmt.Errorf("failed to set up end-to-end encryption: %w", err)
	}
	if err := m.Recover(ctx); err != nil {
		if errors.Is(err, e2ee.ErrRecovery) {
			err = fmt.Errorf("%w: %w", account.ErrFatal, err)
			d.acct.SetStatus(model.StateStopped, err.Error())
			m.Close()
			return err
		}
		log.Warn("key backup recovery failed; going on without it", "error", err)
	}
	d.machine = m
	d.stats.Store(m.Stats())
	d.shown.Store(m)
	client.Crypto = m
	if lostDevice != "" {
		adopted, err := m.AdoptHeld(ctx, lostDevice)
		if err != nil {
			log.Warn("the events that the lost device held stay undelivered", "lost_device_id", lostDevice, "error", err)
		}
		n := m.Stats().BackupImported.Load()
		what, advice := "crypto store lost", "the lost device "+string(lostDevice)+" can no longer decrypt; remove it in a Matrix client's session list"
		if errors.Is(lost, e2ee.ErrPickleKey) {
			what = "crypto store unreadable with this pickle key"
			advice = "back up the pickle key together with the database (" + d.pickleKeyWhere() + "): without it the database's encryption keys cannot be read; " + advice
		}
		log.Warn(fmt.Sprintf("%s: logged in as new device %s and restored %d keys from the backup", what, client.DeviceID, n),
			"device_id", client.DeviceID, "lost_device_id", lostDevice, "restored_keys", n, "held_events_taken_over", adopted, "advice", advice)
	}
	log.Info("end-to-end encryption ready", "device_id", client.DeviceID)
	return nil
}

func (d *Device) newMachine(ctx context.Context) (*e2ee.Machine, error) {
	b := d.acct.Config
	return e2ee.New(ctx, e2ee.Options{
		Client: d.acct.Client(), DB: d.acct.DB.DBUtil(), StateStore: d.acct.StateStore, PickleKey: d.pickleKey,
		RecoveryKey: b.RecoveryKey(), SecretStoragePassphrase: b.SecretStoragePassphrase,
		SharingStrategy: b.EncryptionSharingStrategy, BackupDownloadStrategy: b.BackupDownloadStrategy,
		UndecryptableWait: d.wait, Logger: d.acct.Log(),
	})
}

// canRecoverLostStore tells whether the bot can get over a lost crypto store (or one that its
// pickle key no longer decrypts) by itself: it can log in on a new device (password or OAuth)
// and unlock the key backup (recovery key or passphrase) to get the old room keys back.
func (d *Device) canRecoverLostStore() bool {
	b := d.acct.Config
	login := b.LoginUser != "" && b.LoginPassword != "" || b.OAuthEnabled
	return login && (b.RecoveryKey() != "" || b.SecretStoragePassphrase != "")
}

// pickleKeyWhere says where the pickle key comes from, for the operator to back it up.
func (d *Device) pickleKeyWhere() string {
	where := "GATEWAY_PICKLE_KEY if set"
	if d.acct.DB != nil && d.acct.DB.Path() != "" { // a PostgreSQL database needs GATEWAY_PICKLE_KEY
		where += ", otherwise the file " + e2ee.PickleKeyFile(d.acct.DB.Path())
	}
	return where
}

// recoverLostStore moves the bot to a new device after its crypto store was lost or became
// unreadable with the pickle key (lost says which): a new login, whose session is stored, and a
// new crypto machine for it. The caller unlocks the key backup with the recovery key, which also
// verifies the new device.
func (d *Device) recoverLostStore(ctx context.Context, lost error) (*e2ee.Machine, error) {
	client, log := d.acct.Client(), d.acct.Log()
	if errors.Is(lost, e2ee.ErrPickleKey) {
		log.Warn("the crypto store of this device cannot be decrypted with the current pickle key (it was changed or lost); "+
			"logging in as a new device and restoring keys from the backup", "device_id", client.DeviceID, "pickle_key", d.pickleKeyWhere())
	} else {
		log.Warn("the crypto store of this device is lost; logging in as a new device and restoring keys from the backup",
			"device_id", client.DeviceID, "reason", lost)
	}
	t, err := d.acct.Auth().LoginNewDevice(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to log in as a new device after the crypto store was lost: %w", err)
	}
	client.DeviceID = t.DeviceID
	return d.newMachine(ctx)
}

// CapSyncTimeout shortens the /sync long poll while events wait for their key, so that they are
// delivered when their wait ends (or their key reaches the key backup), not when /sync returns.
func (d *Device) CapSyncTimeout(ctx context.Context, timeout time.Duration) time.Duration {
	if d.machine == nil {
		return timeout
	}
	if w, ok := d.machine.NextWake(ctx, time.Now()); ok && w < timeout {
		return w
	}
	return timeout
}

// metricSamples are the bot's E2EE counters (e2ee.Stats, their one source), read at each scrape.
func (d *Device) metricSamples() []metrics.Sample {
	st := d.stats.Load()
	if st == nil {
		return nil
	}
	bot := d.acct.MetricsLabel()
	ev := func(kind string, v int64) metrics.Sample {
		return metrics.Sample{Name: "e2ee_events_total", Labels: map[string]string{"bot": bot, "kind": kind}, Value: float64(v),
			Help: "Encrypted events: decrypted at once, held (room key missing), recovered (held, then decrypted), undecryptable (delivered as such)."}
	}
	out := []metrics.Sample{
		ev("decrypted", st.Decrypted.Load()), ev("held", st.Held.Load()), ev("recovered", st.Recovered.Load()),
		ev("undecryptable", st.Undecryptable.Load()),
		{Name: "e2ee_backup_sessions_total", Labels: map[string]string{"bot": bot, "direction": "imported"}, Value: float64(st.BackupImported.Load()),
			Help: "Megolm sessions imported from or uploaded to the key backup."},
		{Name: "e2ee_backup_sessions_total", Labels: map[string]string{"bot": bot, "direction": "uploaded"}, Value: float64(st.BackupUploaded.Load()),
			Help: "Megolm sessions imported from or uploaded to the key backup."},
		{Name: "e2ee_plaintext_dropped_total", Labels: map[string]string{"bot": bot}, Value: float64(d.plaintextDropped.Load()),
			Help: "Unencrypted messages dropped in encrypted rooms (GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS delivers them)."},
		{Name: "e2ee_keys_refused_total", Labels: map[string]string{"bot": bot}, Value: float64(st.KeysRefused.Load()),
			Help: "Room keys refused as untrusted."},
	}
	if n := st.OTKCount.Load(); n >= 0 {
		out = append(out, metrics.Sample{Name: "e2ee_one_time_keys", Gauge: true, Labels: map[string]string{"bot": bot}, Value: float64(n),
			Help: "The device's signed_curve25519 one-time keys on the homeserver at the last /sync."})
	}
	return out
}
