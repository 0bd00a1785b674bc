package e2ee

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix/id"
)

// adoptHeld moves the held events of another account to this one. An event held by both stays
// where it is (moving it would break the unique key); this account's copy is the one delivered.
// (Not SQLite's UPDATE OR IGNORE, which PostgreSQL lacks.)
const adoptHeld = `UPDATE e2ee_held SET account_id = $1 WHERE account_id = $2
	AND event_id NOT IN (SELECT event_id FROM e2ee_held WHERE account_id = $1)`

// AdoptHeld takes over the events that the bot's lost device (from) still held when its crypto
// store was lost or became unreadable: they wait here for their keys (the key backup restored on
// this device has most of them) and are handed over, decrypted or marked undecryptable when their
// wait is over, instead of staying in the database for a device that will never run again.
func (m *Machine) AdoptHeld(ctx context.Context, from id.DeviceID) (int64, error) {
	if from == "" || from == m.cli.DeviceID {
		return 0, nil
	}
	n, err := m.held.adopt(ctx, cryptoAccountID(m.cli.UserID, from))
	if err != nil {
		return 0, fmt.Errorf("failed to take over the held events of device %s: %w", from, err)
	}
	if n > 0 {
		m.keysArrived.Store(true) // try them at the next batch: the backup was just restored
	}
	return n, nil
}

// cryptoAccountID names one bot device's rows in the crypto store and the gateway's e2ee tables.
func cryptoAccountID(user id.UserID, device id.DeviceID) string {
	return string(user) + "|" + string(device)
}
