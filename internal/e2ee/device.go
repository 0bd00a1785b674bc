package e2ee

import (
	"context"
	"fmt"
	"log/slog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/ssss"
	"maunium.net/go/mautrix/id"
)

// deviceKeys is the bot device's own keys on the server: the identity keys checked (or uploaded)
// at start, the fallback key (fallback.go), and the cross-signature of the device.
type deviceKeys struct {
	mach  *crypto.OlmMachine
	cli   *mautrix.Client
	store *crypto.SQLCryptoStore
	log   *slog.Logger
}

// checkServerKeys uploads the device keys of a new account, and checks that the server's keys
// for the device are ours.
func (d *deviceKeys) checkServerKeys(ctx context.Context) error {
	resp, err := d.cli.QueryKeys(ctx, &mautrix.ReqQueryKeys{
		DeviceKeys: map[id.UserID]mautrix.DeviceIDList{d.cli.UserID: {d.cli.DeviceID}},
	})
	if err != nil {
		return fmt.Errorf("failed to query the device's keys: %w", err)
	}
	own := d.mach.OwnIdentity()
	shared := d.mach.GetAccount().Shared
	device, onServer := resp.DeviceKeys[d.cli.UserID][d.cli.DeviceID]
	onServer = onServer && len(device.Keys) > 0
	switch {
	case !onServer && shared:
		return fmt.Errorf("%w: the homeserver lost the keys of device %s (the device was deleted?): %s", ErrStoreLost, d.cli.DeviceID, lostAdvice)
	case !onServer:
		d.log.Info("new device: uploading its encryption keys")
		if err := d.mach.ShareKeys(ctx, -1); err != nil {
			return fmt.Errorf("failed to upload the device's keys: %w", err)
		}
		d.mark(ctx)
		return nil
	case !shared:
		if d.isOurs(ctx) {
			return fmt.Errorf("%w: device %s has keys this gateway created, but the database no longer has them (was it replaced or reset?); %s",
				ErrStoreLost, d.cli.DeviceID, lostAdvice)
		}
		return fmt.Errorf("%w: device %s was set up by another client (an access token copied from Element?); "+
			"give the gateway a device of its own: set login_user and login_password, or create a new access token for a new device, or set \"e2ee\": false", ErrDeviceTaken, d.cli.DeviceID)
	case device.Keys.GetEd25519(d.cli.DeviceID) != own.SigningKey:
		return fmt.Errorf("%w: the server's keys for device %s differ from the gateway's; give the bot a new device (a new access token, or login_user and login_password)", ErrDeviceTaken, d.cli.DeviceID)
	}
	return nil
}

// lostAdvice says what to do about a lost crypto store.
const lostAdvice = "set recovery_key (or secret_storage_passphrase) together with login_user and login_password (or oauth_enabled), " +
	"and the gateway moves the bot to a new device and restores the room keys from the key backup by itself; " +
	"or give the bot a new access token for a new device"

// mark names the device, so that a lost store is recognised later.
func (d *deviceKeys) mark(ctx context.Context) {
	err := d.cli.SetDeviceInfo(ctx, d.cli.DeviceID, &mautrix.ReqDeviceInfo{DisplayName: deviceDisplayName})
	if err != nil {
		d.log.Debug("failed to name the device", "error", err)
	}
}

func (d *deviceKeys) isOurs(ctx context.Context) bool {
	info, err := d.cli.GetDeviceInfo(ctx, d.cli.DeviceID)
	return err == nil && info.DisplayName == deviceDisplayName
}

// crossSign imports the cross-signing keys from Secret Storage (unlocked with key) and signs the
// bot's device with them, so that other users see it verified. Failures leave it unverified.
func (d *deviceKeys) crossSign(ctx context.Context, key *ssss.Key) {
	if err := d.mach.FetchCrossSigningKeysFromSSSS(ctx, key); err != nil {
		d.log.Warn("secret storage has no usable cross-signing keys; the device stays unverified", "error", err)
	} else if err := d.mach.SignOwnDevice(ctx, d.mach.OwnIdentity()); err != nil {
		d.log.Warn("failed to cross-sign the bot's device", "error", err)
	} else {
		if err := d.mach.SignOwnMasterKey(ctx); err != nil {
			d.log.Debug("failed to sign the master key with the device", "error", err)
		}
		d.log.Info("the bot's device is cross-signed (verified)")
	}
}
