package e2ee

import (
	"context"

	"maunium.net/go/mautrix/id"
)

// Status is what the admin page shows of a bot's encryption.
type Status struct {
	CrossSigned   bool   // the device is signed by the account's self-signing key
	BackupVersion string // the key backup in use; "" = none
	Held          int    // events waiting for their keys
}

// Status returns the machine's status. It reads the crypto store only (no homeserver request,
// and none of the OlmMachine's caches, which the sync loop writes), so any goroutine may call it.
func (m *Machine) Status(ctx context.Context) Status {
	var st Status
	user := m.cli.UserID
	if keys, err := m.store.GetCrossSigningKeys(ctx, user); err == nil {
		if ssk, ok := keys[id.XSUsageSelfSigning]; ok {
			if own := m.mach.OwnIdentity(); own != nil {
				st.CrossSigned, _ = m.store.IsKeySignedBy(ctx, user, own.SigningKey, user, ssk.Key)
			}
		}
	}
	_, version := m.backup.current()
	st.BackupVersion = string(version)
	if n, err := m.HeldCount(ctx); err == nil {
		st.Held = n
	}
	return st
}
